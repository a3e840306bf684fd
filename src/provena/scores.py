"""Per-example scores shared by evaluate and its probes: extraction JSON checks, ICD-10
micro-F1, ROUGE-L and perplexity. Pure functions of text."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any


def parse_extraction(text: str) -> dict[str, Any] | None:
    """The JSON object of an extraction answer; None when the text is not one."""
    try:
        obj = json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def exact_match(pred: dict[str, Any] | None, ref: dict[str, Any], key: str) -> float:
    """1.0 when the prediction has the reference's value for ``key`` (strings compared after
    stripping and case folding), else 0.0; a missing prediction scores 0.0."""
    if pred is None or key not in pred:
        return 0.0
    a, b = pred[key], ref.get(key)
    if isinstance(a, str) and isinstance(b, str):
        return float(a.strip().casefold() == b.strip().casefold())
    return float(a == b and type(a) is type(b))


def _codes(value: Any) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {c.strip().upper() for c in value if isinstance(c, str) and c.strip()}


def code_counts(pred: Any, ref: Any) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of two code lists, as sets: a code
    listed twice counts once; anything but a list of strings is the empty set."""
    p, r = _codes(pred), _codes(ref)
    return len(p & r), len(p - r), len(r - p)


def f1(tp: int, fp: int, fn: int) -> float:
    """F1 from counts; 1.0 when there was nothing to find and nothing was predicted."""
    if tp + fp + fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


_WORD = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lower case, runs of other characters split words."""
    return _WORD.sub(" ", text.lower()).split()


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (one row of the DP table at a time)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 (Lin 2004, beta = 1) over :func:`rouge_tokens`, as rouge-score computes it
    without stemming; 0.0 when either side has no words."""
    p, r = rouge_tokens(prediction), rouge_tokens(reference)
    if not p or not r:
        return 0.0
    lcs = lcs_length(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def perplexity(nll_sum: float, tokens: int) -> float:
    """exp(mean negative log-likelihood per token); nan without tokens."""
    return math.exp(nll_sum / tokens) if tokens else float("nan")


def extraction_scores(prediction: str, reference: str) -> dict[str, Any]:
    """Per-example extraction metrics: valid JSON, age and sex exact match, code counts."""
    ref = parse_extraction(reference) or {}
    pred = parse_extraction(prediction)
    tp, fp, fn = code_counts(pred.get("icd10") if pred else None, ref.get("icd10"))
    return {
        "json_valid": float(pred is not None),
        "age_em": exact_match(pred, ref, "age"),
        "sex_em": exact_match(pred, ref, "sex"),
        "icd10_tp": tp,
        "icd10_fp": fp,
        "icd10_fn": fn,
        "icd10_f1": f1(tp, fp, fn),
    }
