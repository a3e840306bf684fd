"""Paired differences B - A with bootstrap intervals, and their verdicts.

Every comparison is paired: both models answered the same records, so each resample draws one
set of record indices and applies it to both models' scores (``scipy.stats.bootstrap`` with
``paired=True``). A difference that holds on every record (B = A + c) then has the interval
[c, c], however much the records differ among themselves; an unpaired bootstrap would mix
the records' spread into it. A statistic that is not a mean (micro-F1, perplexity, the gap
between the best and the worst group) is computed on each resample from the resampled
records, never averaged per record.

A verdict reads the interval of the *improvement* (B - A, or A - B where lower is better):
``better`` when all of it is above 0; ``worse`` when all of it is below ``-margin`` (the
non-inferiority margin: a drop smaller than it is tolerated); else ``no difference``.
``not judged`` where there are fewer than two paired records.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from provena.config import CompareConfig

BETTER, WORSE, SAME, NOT_JUDGED = "better", "worse", "no difference", "not judged"
Statistic = Callable[..., np.ndarray]


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def paired_interval(
    samples: Sequence[Sequence[float]], statistic: Statistic, cfg: CompareConfig
) -> tuple[float, float] | None:
    """The ``cfg.level`` interval of ``statistic`` (vectorized: arrays in, ``axis``) over
    resamples of the records; ``samples`` are per-record arrays of equal length, resampled
    together (paired). None with fewer than two records."""
    arrays = tuple(np.asarray(s, dtype=float) for s in samples)
    n = len(arrays[0])
    if n < 2:
        return None
    point = float(statistic(*arrays, axis=-1))
    # every resample gives the same value (no record differs from another in what the
    # statistic sees): the interval is that value, which BCa cannot compute
    if all(np.all(a == a[0]) for a in arrays):
        return point, point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-nan resample of a small group
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        res = stats.bootstrap(
            arrays,
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=cfg.resamples,
            confidence_level=cfg.level,
            method=cfg.method,
            rng=np.random.default_rng(cfg.seed),
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    return lo, hi


def verdict(interval: tuple[float, float] | None, *, higher_is_better: bool, margin: float) -> str:
    """better, worse or no difference from the interval of B - A (see the module)."""
    if interval is None:
        return NOT_JUDGED
    lo, hi = interval if higher_is_better else (-interval[1], -interval[0])
    if lo > 0:
        return BETTER
    if hi < -margin:
        return WORSE
    return SAME


@dataclass(frozen=True)
class Measure:
    """A statistic of one model's per-record arrays, and which way is better."""

    name: str
    columns: tuple[str, ...]  # the per-record values it reads, in its arguments' order
    of: Callable[..., np.ndarray]  # arrays (one per column), axis -> value
    higher_is_better: bool = True
    perplexity: bool = False  # its margin is a share of A's (compare.perplexity_margin)


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _micro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, axis: int = -1) -> np.ndarray:
    tp, fp, fn = (np.sum(v, axis=axis) for v in (tp, fp, fn))
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den == 0, 1.0, 2 * tp / np.where(den == 0, 1, den))


def _perplexity(nll: np.ndarray, tokens: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.exp(np.sum(nll, axis=axis) / np.sum(tokens, axis=axis))


def mean_of(column: str, higher_is_better: bool = True) -> Measure:
    return Measure(column, (column,), _mean, higher_is_better)


MICRO_F1 = Measure("icd10_micro_f1", ("icd10_tp", "icd10_fp", "icd10_fn"), _micro_f1)
PERPLEXITY = Measure("perplexity", ("nll", "tokens"), _perplexity, False, perplexity=True)


def gap_measure(groups: Sequence[float]) -> Measure:
    """The quality gap between the best and the worst of ``groups`` (their codes in the
    per-record ``group`` column); lower is better. A resample that misses a group measures
    the gap between the groups it holds."""
    codes = list(groups)

    def gap(quality: np.ndarray, group: np.ndarray, axis: int = -1) -> np.ndarray:
        means = []
        for k in codes:
            inside = group == k
            with np.errstate(invalid="ignore", divide="ignore"):
                means.append(np.sum(quality * inside, axis=axis) / np.sum(inside, axis=axis))
        stacked = np.stack(means)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmax(stacked, axis=0) - np.nanmin(stacked, axis=0)

    return Measure("quality_gap", ("quality", "group"), gap, higher_is_better=False)


def compare(
    measure: Measure,
    a: dict[str, Sequence[float]],
    b: dict[str, Sequence[float]],
    cfg: CompareConfig,
    *,
    margin: float | None = None,
) -> dict[str, Any]:
    """One comparison: A's and B's value of ``measure`` on the same records (``a`` and ``b``:
    column -> per-record values, in the same record order), B - A, its paired interval and
    the verdict."""
    cols = measure.columns
    n = len(a[cols[0]])
    if any(len(a[c]) != n or len(b[c]) != n for c in cols):
        raise ValueError(f"{measure.name}: A and B are not paired (different record counts)")
    k = len(cols)

    def diff(*arrays: np.ndarray, axis: int = -1) -> np.ndarray:
        return measure.of(*arrays[k:], axis=axis) - measure.of(*arrays[:k], axis=axis)

    samples = [a[c] for c in cols] + [b[c] for c in cols]
    value_a = float(measure.of(*(np.asarray(a[c], float) for c in cols))) if n else None
    value_b = float(measure.of(*(np.asarray(b[c], float) for c in cols))) if n else None
    interval = paired_interval(samples, diff, cfg) if n else None
    margin = cfg.margin if margin is None else margin
    if measure.perplexity:
        margin = cfg.perplexity_margin * value_a if value_a is not None else 0.0
    out = {
        "metric": measure.name,
        "n": n,
        "a": _r(value_a),
        "b": _r(value_b),
        "difference": _r(value_b - value_a) if n else None,
        "interval": [_r(interval[0]), _r(interval[1])] if interval else None,
        "higher_is_better": measure.higher_is_better,
        "verdict": verdict(interval, higher_is_better=measure.higher_is_better, margin=margin),
    }
    if n < 2:
        out["reason"] = "fewer than two paired records"
    return out


def _walk(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every comparison (a dict with a verdict and a metric) under ``node``, with its path."""
    if isinstance(node, dict):
        if "verdict" in node and "metric" in node:
            return [(path, node)]
        return [x for k, v in node.items() for x in _walk(v, (*path, str(k)))]
    return []


def gate(result: dict[str, Any], cfg: CompareConfig) -> dict[str, Any]:
    """The outcome: the gated comparisons (``cfg.gate``) that are worse, and counts of every
    verdict; "B is not worse" when none is worse."""
    worse, counts = [], {}
    for section in ("splits", "privacy", "ratings"):
        for path, c in _walk(result.get(section), (section,)):
            counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
            kind = _kind(path)
            if c["verdict"] == WORSE and kind in cfg.gate:
                worse.append(" / ".join(path[1:] if section == "splits" else path))
    return {
        "b_not_worse": not worse,
        "text": "B is not worse"
        if not worse
        else f"B is worse on {len(worse)} gated comparison(s)",
        "worse": worse,
        "verdicts": dict(sorted(counts.items())),
        "gate": list(cfg.gate),
    }


def _kind(path: tuple[str, ...]) -> str:
    """Which gate a comparison belongs to, from its path in the result."""
    if path[0] in ("privacy", "ratings"):
        return path[0]
    # splits / SPLIT / (families / FAM / metric | perplexity | groups ... | fairness_gaps ...)
    part = path[2] if len(path) > 2 else ""
    if part == "families":
        return "perplexity" if path[-1] == "perplexity" else "families"
    return part
