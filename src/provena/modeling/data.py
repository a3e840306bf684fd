"""Training examples: prompt formatting, tokenization with loss on response tokens only, packing.

Each record becomes a prompt (instruction and input, or a chat up to its last assistant turn)
and a response (the output). The tokenizer's chat template formats them where it has one;
otherwise a plain template does. Labels are -100 on every prompt token, so the loss is on the
response alone. An example longer than ``max_seq_len`` is truncated at the end and counted;
one whose prompt alone fills the row is dropped and counted.

Packing puts several examples into one row of at most ``max_seq_len`` tokens, best-fit
decreasing (each example, longest first, goes into the fullest row it fits), so rows are nearly
full; the rows are then shuffled. Each example keeps its own position ids (restarting at 0) and
a segment id. The loop trains on a micro-batch flattened into one padding-free sequence
(:func:`collate` with ``flatten``) whose example boundaries (``cu_seq_lens``) drive attention
one example at a time (:mod:`.attention`, or flash-attention's varlen kernels), so packed
examples never attend to each other and no padding or mask is computed. Where a model cannot
take that path, :func:`block_causal_mask` turns the segment ids of padded rows into a 4D mask
in which a token sees only earlier tokens of its own example.
"""

from __future__ import annotations

import bisect
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
    sources: list[int] = field(default_factory=list)  # index of each example in pack()'s input

    def add(self, ex: Example, source: int = -1) -> None:
        seg = (self.segment_ids[-1] + 1) if self.segment_ids else 0
        self.sources.append(source)
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
    """Rows of at most ``max_seq_len`` tokens holding every example exactly once.

    With packing, best-fit decreasing: examples go longest first (ties in the given order) into
    the row with the least room left that still fits them, else into a new row; rows come out
    in the order they were opened. Without packing, one example per row in the given order.
    """
    if not packing:
        rows = []
        for i, ex in enumerate(examples):
            rows.append(Row())
            rows[-1].add(ex, i)
        return rows
    rows = []
    room: dict[int, list[int]] = {}  # tokens left -> the rows with that much room
    sizes: list[int] = []  # the distinct values of ``room``, sorted
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    for i in order:
        need = len(examples[i].input_ids)
        k = bisect.bisect_left(sizes, need)
        if k < len(sizes):  # the fullest row this example fits in
            left = sizes[k]
            r = room[left].pop()
            if not room[left]:
                del room[left]
                sizes.pop(k)
        else:
            r, left = len(rows), max_seq_len
            rows.append(Row())
        rows[r].add(examples[i], i)
        left -= need
        if left > 0:
            if left not in room:
                room[left] = []
                bisect.insort(sizes, left)
            room[left].append(r)
    return rows


def collate(rows: list[Row], pad_id: int, flatten: bool = False) -> dict[str, torch.Tensor]:
    """Pad rows to the longest; padding is a segment of its own with no loss.

    With ``flatten``: the rows joined into one sequence without padding (batch size 1), with
    ``cu_seq_lens`` (the start of every example and the total length) for varlen attention."""
    if flatten:
        one, bounds = Row(), [0]
        for r in rows:
            starts = [j for j, s in enumerate(r.segment_ids) if j == 0 or s != r.segment_ids[j - 1]]
            for a, b in zip(starts, [*starts[1:], len(r)], strict=True):
                one.add(Example(r.input_ids[a:b], r.labels[a:b]))
                bounds.append(len(one))
        cu = torch.tensor(bounds, dtype=torch.int32)
        return {
            "input_ids": torch.tensor([one.input_ids]),
            "labels": torch.tensor([one.labels]),
            "position_ids": torch.tensor([one.position_ids]),
            "segment_ids": torch.tensor([one.segment_ids]),
            "is_real": torch.ones(1, len(one), dtype=torch.bool),
            "cu_seq_lens": cu,
        }
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
    """4D mask (batch, 1, L, L) letting token i see token j when j <= i in the same segment.
    ``torch.bool``: True where allowed (SDPA takes it as is). A float dtype: additive, 0 where
    allowed and the dtype's minimum elsewhere (eager attention needs this one)."""
    length = segment_ids.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=segment_ids.device).tril()
    allowed = (segment_ids[:, :, None] == segment_ids[:, None, :]) & causal
    if dtype == torch.bool:
        return allowed[:, None]
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
    """One epoch's micro-batches: examples shuffled by (seed, epoch), packed, rows shuffled."""
    order = list(range(len(examples)))
    rng = random.Random(f"{seed}:{epoch}")
    rng.shuffle(order)
    rows = pack([examples[i] for i in order], max_seq_len, packing)
    for r in rows:  # sources name the examples as given, not their shuffled places
        r.sources = [order[i] for i in r.sources]
    if packing:
        rng.shuffle(rows)  # best-fit decreasing opens rows longest first
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
