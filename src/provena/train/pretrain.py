"""Pretraining of the built-in tiny base: a full-parameter causal language model on the train
split's own text, before the adapter is trained on it.

A base with random weights gives LoRA nothing to adapt: every answer comes out the same bytes.
So the tiny base first learns the language of the domain, from one of two corpora
(``train.tiny.pretrain_corpus``), with the loss on every token:

- ``fields``: every text field of every train record (the instruction, the note or email, the
  answer; each message of a chat) is a document of its own. No document pairs a prompt with
  its answer: the base learns what notes, emails, replies and JSON answers look like, and the
  task (which answer goes with which prompt) is left to the adapter.
- ``records``: each record is one plain-text document, its fields one per line and no chat
  markers: the base sees prompts with their answers and learns the task as text; the adapter
  learns to answer in the chat format and sharpens the answers.

Only the train split is read: validation, test and gold text never reach the base. Documents
are tokenized (beginning and end markers around each, cut at ``max_seq_len``), packed like
training examples, and trained ``pretrain_steps`` optimizer steps with AdamW, linear warm-up
and cosine decay, attending one document at a time (:mod:`.loop`'s forward pass). The order is
a function of the seed: the same split and params give the same base.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from provena.config import TinyBaseConfig
from provena.modeling.attention import MASK, segment_attention_on
from provena.modeling.data import Example, collate, micro_batches
from provena.records import Record
from provena.train.loop import cosine_with_warmup, forward_loss

log = logging.getLogger(__name__)

WARMUP_RATIO = 0.05


@dataclass
class PretrainResult:
    steps: int = 0
    documents: int = 0
    truncated: int = 0  # documents cut at max_seq_len
    tokens_per_epoch: int = 0
    tokens: int = 0  # tokens trained on (epochs included)
    epochs: float = 0.0
    first_loss: float | None = None
    final_loss: float | None = None  # mean over the last log window
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fields(rec: Record) -> list[str]:
    if rec.get("messages"):  # a chat's instruction and output are repeated in its messages
        texts = [m["content"] for m in rec["messages"]]
    else:
        texts = [rec.get("instruction") or "", rec.get("input") or "", rec.get("output") or ""]
    return [t for t in texts if t.strip()]


def documents(records: list[Record], corpus: str = "fields") -> list[str]:
    """The pretraining documents. ``fields``: every non-empty text field of every record a
    document of its own (instruction, input and output, or each message of a chat), so no
    document pairs a prompt with its answer. ``records``: each record one document, its fields
    in order, one per line, as plain text (no chat markers): the base sees prompts with their
    answers."""
    if corpus == "records":
        return ["\n".join(f) for f in map(_fields, records) if f]
    if corpus != "fields":
        raise ValueError(f"unknown pretraining corpus {corpus!r}: fields or records")
    return [t for rec in records for t in _fields(rec)]


def tokenize_documents(
    texts: list[str], tokenizer: Any, max_seq_len: int
) -> tuple[list[Example], int]:
    """(examples with the loss on every token, how many were cut at ``max_seq_len``)."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    out, truncated = [], 0
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids = bos + ids + eos
        if len(ids) > max_seq_len:
            truncated += 1
            ids = ids[:max_seq_len]
        if len(ids) > 1:
            out.append(Example(ids, list(ids), len(ids) == max_seq_len))
    return out, truncated


def pretrain(
    lm: Any,
    tokenizer: Any,
    texts: list[str],
    cfg: TinyBaseConfig,
    *,
    max_seq_len: int,
    device: str = "cpu",
    seed: int = 0,
    compute_dtype: torch.dtype | None = None,
) -> PretrainResult:
    """Train every weight of ``lm`` as a causal language model on ``texts`` for
    ``cfg.pretrain_steps`` steps of ``cfg.pretrain_batch_size`` packed rows; ``lm`` is left in
    eval mode on ``device``. ``compute_dtype``: autocast's dtype (None: fp32 throughout)."""
    result = PretrainResult(documents=len(texts))
    steps = cfg.pretrain_steps
    if steps == 0:
        return result
    examples, result.truncated = tokenize_documents(texts, tokenizer, max_seq_len)
    if not examples:
        raise ValueError("no document to pretrain the tiny base on")
    result.tokens_per_epoch = sum(len(e.input_ids) for e in examples)
    lm.to(device)
    lm.train()
    lm.config.use_cache = False
    params = [p for p in lm.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=cfg.pretrain_learning_rate, betas=(0.9, 0.95), weight_decay=0.1
    )
    warmup = math.ceil(WARMUP_RATIO * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: cosine_with_warmup(s, total=steps, warmup=warmup, floor=0.1)
    )
    started = time.perf_counter()
    window, window_n = 0.0, 0
    log_every = max(1, steps // 20)
    with segment_attention_on(lm) as plan:
        batches = micro_batches(
            examples,
            seed=seed,
            batch_size=cfg.pretrain_batch_size,
            max_seq_len=max_seq_len,
            packing=True,
        )
        for step in range(1, steps + 1):
            epoch, rows = next(batches)
            batch = {
                k: v.to(device)
                for k, v in collate(rows, tokenizer.pad_token_id, plan != MASK).items()
            }
            loss_sum, n = forward_loss(lm, batch, plan, compute_dtype)
            loss = loss_sum / max(n, 1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            result.tokens += int(batch["is_real"].sum())
            value = loss.item()
            if result.first_loss is None:
                result.first_loss = value
            window, window_n = window + value, window_n + 1
            if step % log_every == 0 or step == steps:
                result.final_loss = window / window_n
                result.history.append({"step": step, "loss": round(result.final_loss, 4)})
                log.info(
                    "pretrain step %d/%d  loss %.4f  epoch %d  %.0f tokens/s",
                    step,
                    steps,
                    result.final_loss,
                    epoch,
                    result.tokens / (time.perf_counter() - started),
                )
                window, window_n = 0.0, 0
    result.steps = steps
    result.epochs = round(result.tokens / result.tokens_per_epoch, 3)
    result.seconds = round(time.perf_counter() - started, 2)
    lm.eval()
    return result
