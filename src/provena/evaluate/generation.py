"""Model passes of evaluate: response NLL and batched generation."""

from __future__ import annotations

from typing import Any

import torch

from provena.modeling import data


@torch.no_grad()
def response_nll(
    lm: Any, examples: list[data.Example], pad_id: int, batch_size: int, device: str
) -> list[tuple[float, int]]:
    """(sum of NLL over response tokens, response tokens) per example, right-padded batches."""
    out: list[tuple[float, int]] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        width = max(len(e.input_ids) for e in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        labels = torch.full((len(chunk), width), data.IGNORE, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, e in enumerate(chunk):
            ids[j, : len(e.input_ids)] = torch.tensor(e.input_ids)
            labels[j, : len(e.labels)] = torch.tensor(e.labels)
            mask[j, : len(e.input_ids)] = 1
        logits = lm(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        # token t predicts token t + 1
        target = labels[:, 1:].to(device)
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), target, ignore_index=data.IGNORE, reduction="none"
        )
        counts = (target != data.IGNORE).sum(dim=1)
        out += [(float(s), int(c)) for s, c in zip(nll.sum(dim=1), counts, strict=True)]
    return out


@torch.no_grad()
def generate(
    lm: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    do_sample: bool = False,
    temperature: float = 1.0,
    min_new_tokens: int | None = None,
) -> list[str]:
    """Answers to ``prompts``, ``batch_size`` at a time with left padding (so every prompt ends
    where generation starts); prompts already hold their special tokens."""
    tokenizer.padding_side = "left"
    device = next(lm.parameters()).device
    out: list[str] = []
    for i in range(0, len(prompts), batch_size):
        enc = tokenizer(
            prompts[i : i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(device)
        kwargs: dict[str, Any] = {"do_sample": do_sample}
        if do_sample:
            kwargs["temperature"] = temperature
        else:  # a model's generation_config may ask for sampling; greedy means greedy
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if min_new_tokens:
            kwargs["min_new_tokens"] = min_new_tokens
        gen = lm.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **kwargs,
        )
        new = gen[:, enc["input_ids"].shape[1] :]
        out += tokenizer.batch_decode(new, skip_special_tokens=True)
    return out
