"""Training examples: prompt formatting, tokenization with loss on response tokens only, packing.

Each record becomes a prompt (instruction and input, or a chat up to its last assistant turn)
and a response (the output). The tokenizer's chat template formats them where it has one;
otherwise a plain template does. Labels are -100 on every prompt token, so the loss is on the
response alone. An example longer than ``max_seq_len`` is truncated at the end and counted;
one whose prompt alone fills the row is dropped and counted.

Packing puts several examples into one row. Each keeps its own position ids (restarting at 0)
and a segment id; :func:`block_causal_mask` turns the segment ids into a 4D mask in which a
token sees only earlier tokens of its own example, so packed examples never attend to each
other (flash-attention kernels get the same effect from the position-id restarts alone).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from provena.records import Record

IGNORE = -100  # label value the cross-entropy loss skips

PLAIN_TEMPLATE = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
PLAIN_TEMPLATE_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


@dataclass
class TokenStats:
    examples_in: int = 0
    examples_kept: int = 0
    truncated: int = 0  # cut at max_seq_len (the end of the response is lost)
    dropped_prompt_too_long: int = 0  # no response token would fit
    tokens: int = 0
    target_tokens: int = 0  # tokens the loss is computed on

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Row:
    """One training row: one example, or several packed."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    segment_ids: list[int] = field(default_factory=list)

    def add(self, ex: Example) -> None:
        seg = (self.segment_ids[-1] + 1) if self.segment_ids else 0
        self.input_ids += ex.input_ids
        self.labels += ex.labels
        self.position_ids += list(range(len(ex.input_ids)))
        self.segment_ids += [seg] * len(ex.input_ids)

    def __len__(self) -> int:
        return len(self.input_ids)


def _user_text(rec: Record) -> str:
    return f"{rec['instruction']}\n\n{rec['input']}" if rec.get("input") else rec["instruction"]


def format_example(rec: Record, tokenizer: Any, use_chat_template: bool) -> tuple[str, str, bool]:
    """(prompt, response, uses_chat_template) for one record."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        messages = rec.get("messages")
        if messages and messages[-1]["role"] == "assistant":
            chat = [{"role": m["role"], "content": m["content"]} for m in messages]
        else:
            chat = [
                {"role": "user", "content": _user_text(rec)},
                {"role": "assistant", "content": rec["output"]},
            ]
        prompt = tokenizer.apply_chat_template(
            chat[:-1], tokenize=False, add_generation_prompt=True
        )
        full = tokenizer.apply_chat_template(chat, tokenize=False)
        if full.startswith(prompt):
            return prompt, full[len(prompt) :], True
        # a template that rewrites earlier turns: fall back to the prompt plus the answer
        return prompt, chat[-1]["content"] + (tokenizer.eos_token or ""), True
    template = PLAIN_TEMPLATE if rec.get("input") else PLAIN_TEMPLATE_NO_INPUT
    prompt = (tokenizer.bos_token or "") + template.format(
        instruction=rec["instruction"], input=rec.get("input", "")
    )
    return prompt, rec["output"] + (tokenizer.eos_token or ""), False


def tokenize_example(
    prompt: str, response: str, tokenizer: Any, max_seq_len: int
) -> Example | None:
    """Token ids with labels -100 on the prompt; None when the prompt alone fills the row."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(response, add_special_tokens=False)["input_ids"]
    if len(p) >= max_seq_len or not r:
        return None
    ids = p + r
    labels = [IGNORE] * len(p) + r
    truncated = len(ids) > max_seq_len
    return Example(ids[:max_seq_len], labels[:max_seq_len], truncated)


def tokenize_records(
    records: list[Record], tokenizer: Any, max_seq_len: int, use_chat_template: bool
) -> tuple[list[Example], TokenStats]:
    stats = TokenStats()
    out = []
    for rec in records:
        stats.examples_in += 1
        prompt, response, _ = format_example(rec, tokenizer, use_chat_template)
        ex = tokenize_example(prompt, response, tokenizer, max_seq_len)
        if ex is None:
            stats.dropped_prompt_too_long += 1
            continue
        stats.examples_kept += 1
        stats.truncated += ex.truncated
        stats.tokens += len(ex.input_ids)
        stats.target_tokens += sum(1 for t in ex.labels if t != IGNORE)
        out.append(ex)
    return out, stats


def pack(examples: list[Example], max_seq_len: int, packing: bool = True) -> list[Row]:
    """Greedy packing in the given order: an example starts a new row when it does not fit."""
    rows: list[Row] = []
    current = Row()
    for ex in examples:
        if len(current) and (not packing or len(current) + len(ex.input_ids) > max_seq_len):
            rows.append(current)
            current = Row()
        current.add(ex)
    if len(current):
        rows.append(current)
    return rows


def collate(rows: list[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad rows to the longest; padding is a segment of its own with no loss."""
    width = max(len(r) for r in rows)
    ids, labels, pos, seg, real = [], [], [], [], []
    for r in rows:
        n = width - len(r)
        real.append([True] * len(r) + [False] * n)
        ids.append(r.input_ids + [pad_id] * n)
        labels.append(r.labels + [IGNORE] * n)
        pos.append(r.position_ids + list(range(n)))
        seg.append(r.segment_ids + [(r.segment_ids[-1] + 1 if r.segment_ids else 0)] * n)
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "position_ids": torch.tensor(pos),
        "segment_ids": torch.tensor(seg),
        "is_real": torch.tensor(real),  # False on padding
    }


def block_causal_mask(segment_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4D mask (batch, 1, L, L): 0 where token i may see token j (j <= i, same
    segment), the dtype's minimum elsewhere. Works with eager and SDPA attention."""
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = (segment_ids[:, :, None] == segment_ids[:, None, :]) & causal
    mask = torch.zeros(allowed.shape, dtype=dtype, device=segment_ids.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


def epoch_batches(
    examples: list[Example],
    *,
    epoch: int,
    seed: int,
    batch_size: int,
    max_seq_len: int,
    packing: bool,
) -> list[list[Row]]:
    """One epoch's micro-batches: examples shuffled by (seed, epoch), then packed."""
    order = list(range(len(examples)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    rows = pack([examples[i] for i in order], max_seq_len, packing)
    return [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]


def micro_batches(
    examples: list[Example],
    *,
    seed: int,
    batch_size: int,
    max_seq_len: int,
    packing: bool,
    start: int = 0,
) -> Iterator[tuple[int, list[Row]]]:
    """(epoch, rows) for every micro-batch, epoch after epoch, from the ``start``-th on: the
    order is a function of the seed alone, so a resumed run sees the same batches."""
    epoch, index = 0, 0
    while True:
        batches = epoch_batches(
            examples,
            epoch=epoch,
            seed=seed,
            batch_size=batch_size,
            max_seq_len=max_seq_len,
            packing=packing,
        )
        for b in batches[max(0, start - index) :]:
            yield epoch, b
        index += len(batches)
        epoch += 1
