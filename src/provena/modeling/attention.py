"""Attention over packed examples, one example at a time (varlen attention in plain torch).

A micro-batch is one padding-free sequence of examples (see :func:`.data.collate`), and
``cu_seq_lens_q`` (the start of every example, then the total length) reaches the attention
function through the model's keyword arguments, as for flash-attention's varlen kernels. Where
those kernels are not installed (a CPU, or CUDA without flash-attn), :func:`segment_attention`
runs torch's scaled-dot-product attention causally on each example's slice: a token only ever
sees earlier tokens of its own example, attention costs the sum of the examples' squared lengths
instead of the row's, and no mask is built (``is_causal`` takes SDPA's fast path).

:func:`attention_plan` says which path a model takes; :func:`segment_attention_on` switches a
model to it for the length of a ``with`` block.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

NAME = "provena_segments"

SEGMENTS = "segments"  # flattened micro-batch, per-example causal SDPA (this module)
VARLEN = "varlen"  # flattened micro-batch, the model's own flash-attention varlen kernels
MASK = "mask"  # padded rows with a block-diagonal 4D mask


def segment_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """SDPA per example of a packed sequence; plain SDPA when no boundaries are given."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    extra = {k: v for k, v in kwargs.items() if k in ("position_bias", "softcap")}
    if cu_seq_lens_q is None or query.shape[0] != 1 or attention_mask is not None:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, is_causal, **extra
        )
    bounds = cu_seq_lens_q.tolist()
    if extra.get("position_bias") is not None:
        # a learned bias over the whole sequence: keep it, with a block-diagonal mask
        seg = torch.repeat_interleave(
            torch.arange(len(bounds) - 1, device=query.device),
            torch.diff(cu_seq_lens_q).to(query.device),
        )[None]
        length = seg.shape[1]
        mask = (seg[:, :, None] == seg[:, None, :]) & torch.ones(
            length, length, dtype=torch.bool, device=query.device
        ).tril()
        return sdpa_attention_forward(
            module, query, key, value, mask[:, None], dropout, scaling, False, **extra
        )
    parts = []
    for a, b in itertools.pairwise(bounds):
        out, _ = sdpa_attention_forward(
            module,
            query[:, :, a:b],
            key[:, :, a:b],
            value[:, :, a:b],
            None,
            dropout,
            scaling,
            True,
            **extra,
        )
        parts.append(out)  # (1, b - a, heads, head_dim)
    return torch.cat(parts, dim=1), None


def register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, segment_attention)


def _sliding(config: Any) -> bool:
    """Whether some layer attends within a sliding window (per-example slices would not)."""
    window = getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True)
    layers = set(getattr(config, "layer_types", None) or []) - {"full_attention"}
    return bool(window or layers)


def attention_plan(model: Any) -> str:
    """How a model trains on packed examples: :data:`SEGMENTS`, :data:`VARLEN` or :data:`MASK`.

    Flash-attention kernels take the example boundaries as they are; SDPA models go through
    :func:`segment_attention` unless a layer uses a sliding window; the others (eager
    attention, sliding windows) take padded rows and the block-diagonal 4D mask."""
    config = model.config
    impl = getattr(config, "_attn_implementation", None) or "sdpa"
    if impl.startswith("flash"):
        return VARLEN
    if impl in ("sdpa", NAME) and not _sliding(config):
        return SEGMENTS
    return MASK


@contextmanager
def segment_attention_on(model: Any) -> Iterator[str]:
    """Within the block, a model planned for :data:`SEGMENTS` attends per example; yields the
    plan. The model's own attention implementation is restored on the way out."""
    plan = attention_plan(model)
    if plan != SEGMENTS:
        yield plan
        return
    register()
    config = model.config
    before = config._attn_implementation
    try:
        config._attn_implementation = NAME
        yield plan
    finally:
        config._attn_implementation = before
