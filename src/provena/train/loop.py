"""The training loop: a plain torch loop, top to bottom.

Why not Hugging Face's ``Trainer``: a micro-batch of packed rows is trained as one padding-free
sequence whose example boundaries drive attention (:mod:`.attention`), logits are computed only
where a response token is predicted, the loss must be averaged over response tokens across
accumulated micro-batches (not over micro-batches), a resumed run must see exactly the batches
it would have seen (the order is a function of the seed and the step, not of a sampler's
state), and the whole of it fits on one screen. ``bench/bench_train.py`` runs ``Trainer`` +
peft on the same model and data beside it.

Under ``torchrun`` or ``accelerate launch`` (:mod:`.distributed`) every optimizer step takes
``grad_accum x world_size`` consecutive micro-batches of that same order and each rank trains on
every ``world_size``-th of them (nothing is padded or dropped: the order runs on across epochs,
so every rank takes exactly ``grad_accum`` per step); the loss is scaled so that the gradients
``DistributedDataParallel`` averages equal one process's over all of the step's micro-batches.

Every ``save_every`` steps a checkpoint (adapter weights, optimizer, scheduler, RNG state, step)
goes to the checkpoint folder, tagged with a fingerprint of everything that shapes training; a
rerun with the same fingerprint resumes from the latest one and continues the dvclive logs.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from provena.config import TrainConfig
from provena.io import atomic_open, atomic_path
from provena.modeling.attention import (
    MASK,
    SEGMENTS,
    VARLEN,
    attention_plan,
    segment_attention_on,
)
from provena.modeling.data import IGNORE, Example, Row, block_causal_mask, collate, micro_batches
from provena.train.distributed import SINGLE, DistContext, rank_share, unwrap, wrap

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    steps: int = 0
    resumed_from: int | None = None
    first_loss: float | None = None
    final_loss: float | None = None  # mean over the last log window
    eval_loss: float | None = None
    tokens: int = 0  # non-padding tokens seen in this run (not counting before a resume)
    seconds: float = 0.0
    tokens_per_s: float = 0.0
    peak_memory_mb: float = 0.0
    peak_memory_kind: str = ""
    epochs: float = 0.0
    interrupted: bool = False
    history: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d.pop("history")
        return d


def cosine_with_warmup(step: int, *, total: int, warmup: int, floor: float) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def peak_memory_mb(device: str) -> tuple[float, str]:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"


def next_token_targets(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The label each position predicts (the next token's), -100 across example boundaries."""
    seg = batch["segment_ids"]
    return batch["labels"][:, 1:].masked_fill(seg[:, 1:] != seg[:, :-1], IGNORE)


def autocast(device: str, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``'s kind, or nothing when ``dtype`` is None."""
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def forward_loss(
    model: Any,
    batch: dict[str, torch.Tensor],
    plan: str,
    compute_dtype: torch.dtype | None = None,
) -> tuple:
    """(sum of token losses, number of target tokens) for one micro-batch.

    ``compute_dtype`` (say bf16) runs the model under ``torch.autocast``; the loss is fp32.

    Logits are computed only where a target follows (``logits_to_keep``): the vocabulary
    projection of prompt tokens, whose predictions carry no loss, is skipped. A position never
    predicts the first token of the next example (that label is a prompt token, -100, and the
    segment boundary is checked as well)."""
    targets = next_token_targets(batch)
    keep = targets != IGNORE
    seg = batch["segment_ids"]
    kwargs: dict[str, Any] = {
        "input_ids": batch["input_ids"],
        "position_ids": batch["position_ids"],
    }
    if plan == MASK:
        inner = unwrap(model)  # a DistributedDataParallel wrapper has no config
        dtype = next(p for p in inner.parameters() if p.is_floating_point()).dtype
        dtype = dtype if dtype in (torch.float32, torch.float16, torch.bfloat16) else torch.bfloat16
        impl = getattr(inner.config, "_attn_implementation", None) or "sdpa"
        kwargs["attention_mask"] = block_causal_mask(seg, torch.bool if impl == "sdpa" else dtype)
        with autocast(str(batch["input_ids"].device), compute_dtype):
            logits = model(**kwargs).logits[:, :-1][keep]
    else:  # one flattened sequence: the example boundaries drive attention
        cu = batch["cu_seq_lens"]
        longest = int((cu[1:] - cu[:-1]).max())
        kwargs.update(
            cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=longest, max_length_k=longest
        )
        kwargs["logits_to_keep"] = torch.nonzero(keep[0]).flatten()
        with autocast(str(batch["input_ids"].device), compute_dtype):
            logits = model(**kwargs).logits[0]
    loss = torch.nn.functional.cross_entropy(
        logits.float(), targets[keep], ignore_index=IGNORE, reduction="sum"
    )
    return loss, int(keep.sum())


ATTENTION_NOTES = {
    SEGMENTS: "per example (causal SDPA on each example of a padding-free micro-batch)",
    VARLEN: "per example (flash-attention varlen kernels on a padding-free micro-batch)",
    MASK: "block-diagonal 4D mask on padded rows",
}


def uses_4d_mask(model: Any) -> bool:
    """Whether packed examples are kept apart by a 4D mask (else by per-example attention)."""
    return attention_plan(model) == MASK


@torch.no_grad()
def evaluate(
    model: Any,
    examples: list[Example],
    cfg: TrainConfig,
    pad_id: int,
    device: str,
    compute_dtype: torch.dtype | None = None,
):
    """Mean loss per response token on (up to ``eval_max_examples``) validation examples."""
    if not examples:
        return None
    model.eval()
    total, n = 0.0, 0
    _, first = next(
        micro_batches(
            examples[: cfg.eval_max_examples],
            seed=0,
            batch_size=10**9,
            max_seq_len=cfg.max_seq_len,
            packing=cfg.packing,
        )
    )
    plan = attention_plan(model)
    for i in range(0, len(first), cfg.batch_size):
        rows = first[i : i + cfg.batch_size]
        batch = {k: v.to(device) for k, v in collate(rows, pad_id, plan != MASK).items()}
        loss, count = forward_loss(model, batch, plan, compute_dtype)
        total, n = total + loss.item(), n + count
    model.train()
    return total / max(n, 1)


# --------------------------------------------------------------------------- checkpoints


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(folder.glob("step-*"), key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(
    folder: Path, step: int, model, optimizer, scheduler, fingerprint, keep, extra=None
):
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    target = folder / f"step-{step:07d}"
    tmp = folder / f".tmp-step-{step:07d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    adapter = {
        k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()
    }
    save_file(adapter, tmp / "adapter.safetensors")
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    state.update(extra or {})
    torch.save(state, tmp / "state.pt")
    (tmp / "trainer_state.json").write_text(
        json.dumps({"step": step, "fingerprint": fingerprint}, indent=2), encoding="utf-8"
    )
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # a checkpoint is complete or absent, never half-written
    for old in _checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    log.info("checkpoint: step %d -> %s", step, target)


def latest_checkpoint(folder: Path, fingerprint: str, max_steps: int) -> Path | None:
    """The newest checkpoint of an unfinished run with this fingerprint. Checkpoints from
    another config, or of a run that finished (a forced rerun), are removed: train afresh."""
    found = _checkpoints(folder) if folder.is_dir() else []
    if not found:
        return None
    state = json.loads((found[-1] / "trainer_state.json").read_text(encoding="utf-8"))
    finished = state.get("step", 0) >= max_steps
    if state.get("fingerprint") != fingerprint or finished:
        why = "a finished run" if finished else "another config or data"
        log.info("checkpoints in %s are from %s: training afresh", folder, why)
        for f in found:
            shutil.rmtree(f, ignore_errors=True)
        return None
    return found[-1]


def rank_rng_state() -> dict[str, torch.Tensor]:
    """This rank's RNG state (dropout): saved per rank, so every rank resumes its own."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def load_checkpoint(
    path: Path, model, optimizer, scheduler, *, rank: int = 0, map_location: str | None = None
) -> int:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(path / "adapter.safetensors"))
    state = torch.load(path / "state.pt", weights_only=True, map_location=map_location)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_cpu"])
    if "rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    if "rng_by_rank" in state:  # a data-parallel run: each rank its own dropout stream
        own = state["rng_by_rank"][rank]
        torch.set_rng_state(own["cpu"].cpu())
        if "cuda" in own and torch.cuda.is_available():
            torch.cuda.set_rng_state(own["cuda"].cpu())
    return json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))["step"]


def _point_step(line: str, columns: int, col: int) -> int | None:
    """The step of a curve's line, None for a line torn by a kill mid-append."""
    fields = line.split("\t")
    try:
        return int(fields[col]) if len(fields) == columns and all(fields) else None
    except ValueError:
        return None


def trim_live_logs(live_dir: Path, step: int) -> None:
    """Drop dvclive points logged after ``step`` (by a run stopped before its next checkpoint),
    so the resumed curves continue without repeating steps; and what a kill left torn: a
    half-appended curve line, a truncated summary (dvclive reads it back on resume, and the
    next step rewrites it)."""
    for tsv in (live_dir / "plots" / "metrics").rglob("*.tsv"):
        lines = tsv.read_text(encoding="utf-8").splitlines()
        if not lines:
            continue
        header = lines[0].split("\t")
        col = header.index("step")
        steps = [(ln, _point_step(ln, len(header), col)) for ln in lines[1:]]
        kept = [lines[0]] + [ln for ln, s in steps if s is not None and s <= step]
        with atomic_open(tsv) as fh:
            fh.write("\n".join(kept) + "\n")
    summary = live_dir / "metrics.json"
    if summary.is_file():
        try:
            json.loads(summary.read_text(encoding="utf-8"))
        except ValueError:
            log.warning("%s was cut short by an interrupted run: dropped", summary)
            summary.unlink()


# ---------------------------------------------------------------------------------- loop


def live_logger(live_dir: Path, resume: bool) -> Any:
    """A dvclive ``Live`` that only writes its files under ``live_dir``."""
    from dvclive import Live

    class LiveFiles(Live):
        """dvclive writing its files only: dvc.yaml declares the plots, no experiment is saved,
        and its git probing (which fails in a repository without commits) is skipped."""

        def _init_dvc(self) -> None:
            self._dvc_file = None

        def make_summary(self) -> None:
            # dvclive writes the summary in place: a kill mid-write would leave it empty
            from dvclive.serialize import dump_json

            from dvclive.plots import NumpyEncoder

            if self._step is not None:
                self.summary["step"] = self.step
            with atomic_path(self.metrics_file) as tmp:
                dump_json(self.summary, str(tmp), cls=NumpyEncoder)

    return LiveFiles(str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=None)


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig, quantized: bool):
    if quantized:
        import bitsandbytes as bnb  # QLoRA's paged 8-bit AdamW: optimizer state can page out

        return bnb.optim.PagedAdamW8bit(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def train_loop(
    model: Any,
    train_examples: list[Example],
    eval_examples: list[Example],
    cfg: TrainConfig,
    *,
    pad_id: int,
    device: str,
    quantized: bool,
    checkpoint_dir: Path,
    live_dir: Path,
    fingerprint: str,
    stop_after: int | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    dist: DistContext = SINGLE,
    on_batch: Callable[[int, int, list[Row]], None] | None = None,
    compute_dtype: torch.dtype | None = None,
) -> LoopResult:
    """Train ``cfg.max_steps`` optimizer steps (resuming where a checkpoint allows).

    ``dist``: this rank's place in a data-parallel run (rank 0 alone logs and checkpoints).
    ``on_batch(step, epoch, rows)`` sees each micro-batch this rank trains on (for tests).
    ``compute_dtype``: the dtype of autocast's matrix products (None: the weights' own)."""
    result = LoopResult()
    world = dist.world_size
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(trainable, cfg, quantized)
    warmup = math.ceil(cfg.warmup_ratio * cfg.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: cosine_with_warmup(s, total=cfg.max_steps, warmup=warmup, floor=cfg.min_lr_ratio),
    )

    step = 0
    # rank 0 picks the checkpoint (and clears stale ones); every rank resumes from that one
    ckpt = latest_checkpoint(checkpoint_dir, fingerprint, cfg.max_steps) if dist.is_main else None
    ckpt = dist.broadcast(ckpt)
    if ckpt is not None:
        # on the CPU first: RNG states must stay there, optimizer state follows its parameters
        where = "cpu" if dist.enabled else None
        step = load_checkpoint(
            ckpt, model, optimizer, scheduler, rank=dist.rank, map_location=where
        )
        result.resumed_from = step
        if dist.is_main:
            trim_live_logs(live_dir, step)
            log.info("resuming from %s (step %d of %d)", ckpt, step, cfg.max_steps)
    live = live_logger(live_dir, resume=ckpt is not None) if dist.is_main else None
    trained = wrap(model, dist, device)  # DistributedDataParallel over the LoRA weights

    # packed examples attend one at a time (or through a 4D mask where the model needs one)
    with segment_attention_on(model) as plan:
        flat = plan != MASK
        batches = micro_batches(
            train_examples,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            max_seq_len=cfg.max_seq_len,
            packing=cfg.packing,
            start=step * cfg.grad_accum * world,
        )
        model.train()
        window_loss, window_n, window_tokens, window_start = 0.0, 0, 0, time.perf_counter()
        run_start = time.perf_counter()
        epoch = 0
        while step < cfg.max_steps:
            if stop_after is not None and step >= stop_after:
                result.interrupted = True
                break
            # gather the step's micro-batches first: the loss is a mean over all their targets
            micro = [next(batches) for _ in range(cfg.grad_accum * world)]
            epoch = micro[-1][0]
            mine = rank_share(micro, dist.rank, world)
            if on_batch:
                for e, rows in mine:
                    on_batch(step, e, rows)
            tensors = [
                {k: v.to(device) for k, v in collate(rows, pad_id, flat).items()}
                for _, rows in mine
            ]
            local_targets = sum(int((next_token_targets(t) != IGNORE).sum()) for t in tensors)
            n_targets = int(dist.all_reduce_sum([local_targets])[0])
            step_loss, step_tokens = 0.0, 0
            for i, t in enumerate(tensors):
                # gradients are averaged across ranks once, after the step's last micro-batch
                last = i == len(tensors) - 1
                with nullcontext() if last or not dist.enabled else trained.no_sync():
                    loss_sum, _ = forward_loss(trained, t, plan, compute_dtype)
                    # x world: DDP divides the summed gradients by the number of ranks
                    (loss_sum * world / max(n_targets, 1)).backward()
                step_loss += loss_sum.item()
                step_tokens += int(t["is_real"].sum())
            step_loss, step_tokens = dist.all_reduce_sum([step_loss, step_tokens])
            window_tokens += int(step_tokens)
            if cfg.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_value = step_loss / max(n_targets, 1)
            if result.first_loss is None:
                result.first_loss = loss_value
            window_loss += loss_value
            window_n += 1

            if step % cfg.log_every == 0 or step == cfg.max_steps:
                elapsed = time.perf_counter() - window_start
                mem, kind = peak_memory_mb(device)
                point = {
                    "train/loss": window_loss / window_n,
                    "learning_rate": scheduler.get_last_lr()[0],
                    "tokens_per_s": window_tokens / max(elapsed, 1e-9),
                    "peak_memory_mb": mem,
                    "epoch": float(epoch),
                }
                if live is not None:
                    live.step = step
                    for name, value in point.items():
                        live.log_metric(name, value)
                result.final_loss = point["train/loss"]
                result.history.append({"step": step, **point})
                (log.info if dist.is_main else log.debug)(
                    "step %d/%d  loss %.4f  lr %.2e  %.0f tokens/s  peak %.0f MB",
                    step,
                    cfg.max_steps,
                    point["train/loss"],
                    point["learning_rate"],
                    point["tokens_per_s"],
                    mem,
                )
                if on_log:
                    on_log({"step": step, **point})
                result.tokens += window_tokens
                window_loss, window_n, window_tokens = 0.0, 0, 0
                window_start = time.perf_counter()
                result.peak_memory_mb, result.peak_memory_kind = mem, kind
            paused = time.perf_counter()  # evaluation and saving are not training time
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                # on every rank (same weights, same loss): no rank idles waiting for rank 0
                result.eval_loss = evaluate(
                    model, eval_examples, cfg, pad_id, device, compute_dtype
                )
                if result.eval_loss is not None and live is not None:
                    live.step = step
                    live.log_metric("eval/loss", result.eval_loss)
                    log.info("step %d  eval loss %.4f", step, result.eval_loss)
            if step % cfg.save_every == 0 or step == cfg.max_steps:
                rngs = dist.gather(rank_rng_state()) if dist.enabled else None
                if dist.is_main:
                    save_checkpoint(
                        checkpoint_dir,
                        step,
                        model,
                        optimizer,
                        scheduler,
                        fingerprint,
                        cfg.keep_checkpoints,
                        extra={"rng_by_rank": rngs} if rngs else None,
                    )
                dist.barrier()  # the checkpoint is whole before any rank trains on
            if live is not None:
                live.make_summary()
            window_start += time.perf_counter() - paused
            run_start += time.perf_counter() - paused
    result.tokens += window_tokens
    result.steps = step
    result.seconds = time.perf_counter() - run_start
    result.tokens_per_s = result.tokens / max(result.seconds, 1e-9)
    result.epochs = float(epoch)
    result.peak_memory_mb, result.peak_memory_kind = peak_memory_mb(device)
    if live is not None:
        live.end()
    return result
