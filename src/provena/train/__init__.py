"""train: a LoRA adapter on the curated split, behind the gate, with its lineage.

The recipe, in order: the gate (:mod:`.gate`) refuses to start unless the reports that
cleared the data pass or are waived; the precision is chosen (QLoRA on CUDA with
bitsandbytes, plain LoRA otherwise, said in the log and the manifest); the base model is
built (the tiny default: its tokenizer trained and its weights pretrained on the train split's
text, :mod:`.pretrain`) or checked (a local folder: never pretrained) and loaded
(:mod:`.model`); examples are
formatted, tokenized with loss on response tokens only, and packed (:mod:`.data`); the loop
trains, logs to dvclive, checkpoints and resumes (:mod:`.loop`); the adapter is saved with its
resolved config and lineage manifest (:mod:`.manifest`).

Launched by ``torchrun`` or ``accelerate launch`` with several processes, it trains data
parallel (:mod:`.distributed`): every rank runs the gate, loads the base and trains on its share
of each step's micro-batches; rank 0 alone builds and pretrains the tiny base and writes
checkpoints, dvclive logs, the adapter, the manifest and the metrics, while the others wait at a
barrier.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from provena import manifest
from provena.config import AuditDataConfig, TrainConfig
from provena.errors import UserError
from provena.io import atomic_dir, read_records, write_json
from provena.modeling import data, model
from provena.records import Record, StageResult, stage_metrics
from provena.train import distributed, gate, loop, pretrain

STAGE = "train"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainPaths:
    """Every file the stage reads or writes (from dvc.yaml)."""

    train: Path
    validation: Path
    reports: gate.GateReports
    base_dir: Path  # the tiny base is built here; a local base's identity is written here
    adapter_dir: Path
    checkpoint_dir: Path
    live_dir: Path
    metrics: Path | None = None
    params_file: Path | None = None


def _read(path: Path) -> list[Record]:
    if not path.is_file():
        raise UserError(f"{path}: no such split file (run the split stage first)")
    return [rec for batch in read_records(path) for rec in batch]


def _fingerprint(
    cfg_dump: dict[str, Any], split: dict[str, Any], base_sha: str, world_size: int = 1
) -> str:
    """Everything that shapes the weights; a checkpoint resumes only under the same one.
    The number of processes shapes each step's batch: a data-parallel run's checkpoints resume
    only with as many processes (a single process's fingerprint is as it always was)."""
    keep = {k: v for k, v in cfg_dump.items() if k not in ("waivers", "log_every")}
    shape: dict[str, Any] = {
        "train": keep,
        "split": {k: v["sha256"] for k, v in split.items()},
        "base": base_sha,
    }
    if world_size > 1:
        shape["world_size"] = world_size
    payload = json.dumps(shape, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _tokenizer_texts(records: list[Record], n: int) -> list[str]:
    return [
        "\n".join(r[f] for f in ("instruction", "input", "output") if r[f]) for r in records[:n]
    ]


PRETRAINING_FILE = "pretraining.json"
PRETRAINING_CORPUS = {
    "fields": "the train split: every text field of every record (instruction, input, output, "
    "each chat message) a document of its own; no prompt is paired with its answer",
    "records": "the train split: each record one plain-text document (instruction, input, "
    "output or each chat message, one per line), prompt and answer together",
}


def _build_tiny(
    records: list[Record],
    train_file: dict[str, Any],
    cfg: TrainConfig,
    device: str,
    out: Path,
    compute_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """The tiny base in ``out``: its tokenizer trained on the train split, its weights
    pretrained on the train split's text (:mod:`.pretrain`); returns what ``pretraining.json``
    (saved beside the weights) records: the corpus, its file and hash, the settings and the
    loss curve. Its time goes to the metrics, not the folder (same data, same bytes)."""
    tokenizer = model.tiny_tokenizer(
        _tokenizer_texts(records, cfg.tiny.tokenizer_examples), cfg.tiny
    )
    lm = model.tiny_model(tokenizer, cfg.tiny, cfg.max_seq_len)
    if cfg.tiny.pretrain_steps == 0:
        log.warning(
            "train.tiny.pretrain_steps = 0: the tiny base keeps random weights and the adapter "
            "has nothing to adapt (every answer will read the same)"
        )
    texts = pretrain.documents(records, cfg.tiny.pretrain_corpus)
    outcome = pretrain.pretrain(
        lm,
        tokenizer,
        texts,
        cfg.tiny,
        max_seq_len=cfg.max_seq_len,
        device=device,
        seed=cfg.tiny.seed,
        compute_dtype=compute_dtype,
    )
    model.save_base(lm.to("cpu"), tokenizer, out)
    record = {
        "corpus": cfg.tiny.pretrain_corpus,
        "corpus_note": PRETRAINING_CORPUS[cfg.tiny.pretrain_corpus],
        "train_split": train_file,
        "steps": outcome.steps,
        "batch_size": cfg.tiny.pretrain_batch_size,
        "learning_rate": cfg.tiny.pretrain_learning_rate,
        "max_seq_len": cfg.max_seq_len,
        **{k: v for k, v in outcome.as_dict().items() if k not in ("steps", "seconds")},
    }
    write_json(out / PRETRAINING_FILE, record)
    if outcome.steps:
        log.info(
            "tiny base pretrained: %d steps on %d documents of the train split (%.2f epochs), "
            "loss %.3f -> %.3f, %.0f s",
            outcome.steps,
            outcome.documents,
            outcome.epochs,
            outcome.first_loss,
            outcome.final_loss,
            outcome.seconds,
        )
    return {**record, "seconds": outcome.seconds}


def _pretraining_summary(pretraining: dict[str, Any]) -> dict[str, Any]:
    """The manifest's account of the tiny base's pretraining (the curve stays in its file)."""
    out = {k: v for k, v in pretraining.items() if k not in ("history", "seconds")}
    return {**out, "file": PRETRAINING_FILE}


def _pretraining_metrics(pretraining: dict[str, Any] | None) -> dict[str, Any]:
    if pretraining is None:
        return {}
    return {
        "pretrain_steps": pretraining["steps"],
        "pretrain_tokens": pretraining["tokens"],
        "pretrain_first_loss": pretraining["first_loss"],
        "pretrain_final_loss": pretraining["final_loss"],
        "pretrain_seconds": pretraining["seconds"],
    }


def run(
    cfg: TrainConfig,
    paths: TrainPaths,
    *,
    audit_data: AuditDataConfig,
    root: Path,
    stop_after: int | None = None,
) -> StageResult:
    """Run the stage; returns its ``metrics`` and, once the adapter is written, its lineage
    manifest as the ``report`` (training keeps no records: the books are empty).

    ``audit_data`` is borrowed from that stage: whether the gate requires a sign-off of the
    audit, and the settings the manifest records beside training's. ``stop_after`` stops after
    that many steps (as an interruption would, after a checkpoint at that step if one falls
    due). Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the process group and trains data
    parallel."""
    with distributed.process_group() as dist:
        return _run(cfg, paths, audit_data=audit_data, root=root, stop_after=stop_after, dist=dist)


def _run(
    cfg: TrainConfig,
    paths: TrainPaths,
    *,
    audit_data: AuditDataConfig,
    root: Path,
    stop_after: int | None,
    dist: distributed.DistContext,
) -> StageResult:
    started = time.perf_counter()

    # 1. the gate, before anything costly (on every rank: it only reads small reports)
    result = gate.check(
        paths.reports,
        cfg.waivers,
        require_signoff=audit_data.require_signoff,
        root=root,
        allow_not_judged=cfg.allow_not_judged_audit,
        allow_inconclusive=cfg.allow_inconclusive_audit,
    )

    # 2. precision: QLoRA where it can run, and say so where it cannot
    precision = model.resolve_precision(cfg.quantization, cfg.autocast)
    compute_dtype = precision.autocast
    (log.info if precision.mode == "qlora-nf4" else log.warning)("train mode: %s", precision.note)

    # 3. data and base model
    train_records, val_records = _read(paths.train), _read(paths.validation)
    if not train_records:
        raise UserError(f"{paths.train}: the training split is empty")
    split_files = {
        "train": {**manifest.file_entry(paths.train, root), "records": len(train_records)},
        "validation": {
            **manifest.file_entry(paths.validation, root),
            "records": len(val_records),
        },
    }
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    pretraining: dict[str, Any] | None = None
    if cfg.base_model == model.TINY:
        if dist.is_main:  # the others load what rank 0 built
            # built aside and moved into place whole: a kill mid-build leaves no partial base
            with atomic_dir(paths.base_dir) as building:
                pretraining = _build_tiny(
                    train_records,
                    split_files["train"],
                    cfg,
                    precision.device,
                    building,
                    compute_dtype,
                )
        pretraining = dist.broadcast(pretraining)
        base_path = paths.base_dir
    else:
        if dist.is_main:
            shutil.rmtree(paths.base_dir, ignore_errors=True)
        base_path = Path(cfg.base_model)
        base_path = base_path if base_path.is_absolute() else root / base_path
        model.check_model_folder(base_path, cfg.base_model)
    dist.barrier()
    base, tokenizer = model.load_base(base_path, precision)
    # hashing a large base once is enough: rank 0 hashes, the others take its result
    identity = dist.broadcast(
        model.identity(base_path, cfg.base_model, base) if dist.is_main else None
    )
    if cfg.base_model != model.TINY and dist.is_main:
        write_json(paths.base_dir / "base_model.json", identity)
    if pretraining is not None:  # the manifest says what the base learned from
        identity = {**identity, "pretraining": _pretraining_summary(pretraining)}

    train_ex, train_stats = data.tokenize_records(
        train_records, tokenizer, cfg.max_seq_len, cfg.use_chat_template
    )
    val_ex, val_stats = data.tokenize_records(
        val_records, tokenizer, cfg.max_seq_len, cfg.use_chat_template
    )
    if not train_ex:
        raise UserError(
            f"no training example fits train.max_seq_len = {cfg.max_seq_len} "
            f"({train_stats.dropped_prompt_too_long} prompts alone are longer)"
        )
    chat = bool(cfg.use_chat_template and getattr(tokenizer, "chat_template", None))
    rows = data.pack(train_ex, cfg.max_seq_len, cfg.packing)
    packing_efficiency = train_stats.tokens / (len(rows) * cfg.max_seq_len)
    log.info(
        "train: %d examples (%d truncated at %d tokens, %d dropped), %s template, %d rows "
        "(%.0f%% of row tokens used); validation: %d examples",
        train_stats.examples_kept,
        train_stats.truncated,
        cfg.max_seq_len,
        train_stats.dropped_prompt_too_long,
        "chat" if chat else "plain",
        len(rows),
        100 * packing_efficiency,
        val_stats.examples_kept,
    )

    # 4. adapter and loop
    cfg_dump = cfg.model_dump(mode="json")
    fingerprint = _fingerprint(cfg_dump, split_files, identity["sha256"], dist.world_size)
    # the rows one optimizer step trains on; the learning rate is used as set, not scaled
    effective_batch = cfg.batch_size * cfg.grad_accum * dist.world_size
    if dist.is_main:
        log.info(
            "effective batch: %d rows per step (micro-batch %d x grad_accum %d x %d processes); "
            "learning rate %g as set (not scaled by the number of processes)",
            effective_batch,
            cfg.batch_size,
            cfg.grad_accum,
            dist.world_size,
            cfg.learning_rate,
        )
    torch.manual_seed(cfg.seed)  # LoRA's initial weights
    peft_model = model.add_lora(base, cfg.lora, precision, cfg.gradient_checkpointing)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    torch.manual_seed(cfg.seed + dist.rank)  # dropout: each rank draws its own masks
    outcome = loop.train_loop(
        peft_model,
        train_ex,
        val_ex,
        cfg,
        pad_id=tokenizer.pad_token_id,
        device=distributed.device_for(precision.device, dist),
        quantized=precision.mode == "qlora-nf4",
        checkpoint_dir=paths.checkpoint_dir,
        live_dir=paths.live_dir,
        fingerprint=fingerprint,
        stop_after=stop_after,
        dist=dist,
        compute_dtype=compute_dtype,
    )
    data_stats = {
        "train": train_stats.as_dict(),
        "validation": val_stats.as_dict(),
        "rows": len(rows),
        "packing": cfg.packing,
        "packing_efficiency": round(packing_efficiency, 4),
        "template": "chat" if chat else "plain",
    }
    metrics = stage_metrics(
        STAGE,
        mode=precision.mode,
        note=precision.note,
        device=precision.device,
        **outcome.as_dict(),
        wall_seconds=round(time.perf_counter() - started, 2),
        truncated=train_stats.truncated,
        dropped_prompt_too_long=train_stats.dropped_prompt_too_long,
        train_examples=train_stats.examples_kept,
        trainable_parameters=trainable,
        total_parameters=total,
        waivers=len(result.as_dict()["waivers_applied"]),
        world_size=dist.world_size,
        effective_batch_size=effective_batch,
        **_pretraining_metrics(pretraining),
    )
    if outcome.interrupted:
        (log.warning if dist.is_main else log.debug)(
            "stopped after step %d: rerun to resume from the checkpoint", outcome.steps
        )
        return StageResult(metrics=metrics)

    # 5. adapter, resolved config and manifest, together: rank 0 writes, the others wait
    if not dist.is_main:
        dist.barrier()
        return StageResult(metrics=metrics)
    # written aside and moved into place whole: evaluate never reads a half-saved adapter
    with atomic_dir(paths.adapter_dir) as adapter_dir:
        peft_model.save_pretrained(adapter_dir, safe_serialization=True)
        tokenizer.save_pretrained(adapter_dir)
        resolved = {
            "train": cfg_dump,
            "resolved": {
                "mode": precision.mode,
                "note": precision.note,
                "device": precision.device,
                "compute_dtype": str(precision.compute_dtype).removeprefix("torch."),
                "autocast": str(compute_dtype).removeprefix("torch.") if compute_dtype else None,
                "base_model_path": base_path.as_posix(),
                "warmup_steps": int(-(-cfg.warmup_ratio * cfg.max_steps // 1)),
                "lr_schedule": "linear warm-up, cosine decay",
                "attention_mask": loop.ATTENTION_NOTES[loop.attention_plan(peft_model)],
                "template": data_stats["template"],
                "fingerprint": fingerprint,
            },
        }
        write_json(adapter_dir / "train_config.json", resolved)
        params_dump = {
            "train": cfg_dump,
            "audit_data": audit_data.model_dump(mode="json"),
        }
        lineage = manifest.build(
            split_files=split_files,
            gate=result.as_dict(),
            params=params_dump,
            params_file=(
                manifest.file_entry(paths.params_file, root)
                if paths.params_file and paths.params_file.is_file()
                else None
            ),
            base_model=identity,
            training={**metrics, "resolved": resolved["resolved"]},
            data=data_stats,
            root=root,
        )
        write_json(adapter_dir / "manifest.json", lineage)
        manifest.embed(adapter_dir / "adapter_model.safetensors", lineage)
    if paths.metrics:
        write_json(paths.metrics, metrics)
    dist.barrier()
    log.info(
        "adapter -> %s: %d steps, loss %.4f -> %.4f, eval loss %s, %.0f s",
        paths.adapter_dir,
        outcome.steps,
        outcome.first_loss or float("nan"),
        outcome.final_loss or float("nan"),
        f"{outcome.eval_loss:.4f}" if outcome.eval_loss is not None else "n/a",
        metrics["wall_seconds"],
    )
    return StageResult(metrics=metrics, report=lineage)
