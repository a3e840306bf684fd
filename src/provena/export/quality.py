"""An export against the adapter it came from, on the test split: perplexity and task scores
with paired bootstrap 95% intervals, and the tolerance an export must meet.

Both models are scored the way the evaluate stage scores a model (:mod:`provena.evaluate`: the
training prompts and chat template, response-token perplexity, batched greedy generation, the
per-family task scores of :mod:`provena.scores`) on the same records. The intervals come from
one set of bootstrap resamples of the examples (within each family), drawn once and applied to
both models, so the adapter's interval and the delta's interval are of the same resamples.

The tolerance, per task score: the export is refused where its score falls below the
adapter's own 95% interval of that score *and* the paired 95% interval of the difference
(export - adapter) lies wholly below zero: a loss outside the adapter's interval that resampling
does not explain. Both conditions matter on small splits: where every resample scores the same
(no answer right, or all right) the adapter's interval is one point, and one changed answer of
forty would fall outside it, while the paired interval still holds zero. A score above the
interval is never refused (it is reported). Perplexity is reported with its intervals and not
judged (a quantized model's perplexity moves a little by construction; the task scores say
whether that matters).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from provena.config import EvaluateConfig
from provena.evaluate import generate, pick, response_nll
from provena.evaluate.groups import EXTRACTION, family_of, generated_groups, scoring
from provena.modeling import data
from provena.records import Record
from provena.scores import extraction_scores, f1, rouge_l

CONFIDENCE = 0.95
#: a score within this of the interval's edge counts as inside (float rounding)
EPS = 1e-9


@dataclass
class Scored:
    """One model's outputs on the records: per generated example its family, answer and
    scores; per perplexity example its family and (NLL sum, tokens)."""

    answers: list[dict[str, Any]]
    nll: list[tuple[str, float, int]]


def prepare(
    records: list[Record], tokenizer: Any, cfg: EvaluateConfig, max_seq_len: int, chat: bool
) -> tuple[list[tuple[Record, str]], list[tuple[Record, data.Example]]]:
    """(records to generate for with their prompts, records scored for perplexity with their
    examples), chosen as evaluate chooses them."""
    families = sorted({family_of(r) for r in records})
    gen = []
    for rec in pick(records, generated_groups(families, cfg), cfg.max_examples):
        prompt, _, _ = data.format_example(rec, tokenizer, chat)
        if len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) < max_seq_len:
            gen.append((rec, prompt))
    ppl = []
    for rec in sorted(records, key=lambda r: r["id"])[: cfg.perplexity_max_examples]:
        prompt, response, _ = data.format_example(rec, tokenizer, chat)
        ex = data.tokenize_example(prompt, response, tokenizer, max_seq_len)
        if ex is not None:
            ppl.append((rec, ex))
    return gen, ppl


def score_model(
    lm: Any,
    tokenizer: Any,
    gen: list[tuple[Record, str]],
    ppl: list[tuple[Record, data.Example]],
    cfg: EvaluateConfig,
) -> Scored:
    import torch

    lm.eval()
    torch.manual_seed(cfg.seed)
    device = str(next(lm.parameters()).device)
    nll = response_nll(lm, [ex for _, ex in ppl], tokenizer.pad_token_id, cfg.batch_size, device)
    answers = generate(
        lm,
        tokenizer,
        [p for _, p in gen],
        max_new_tokens=cfg.max_new_tokens,
        batch_size=cfg.batch_size,
        do_sample=cfg.do_sample,
        temperature=cfg.temperature,
    )
    rows = []
    for (rec, _), answer in zip(gen, answers, strict=True):
        fam = family_of(rec)
        if scoring(fam, cfg)[0] == EXTRACTION:
            metrics = extraction_scores(answer, rec["output"])
        else:
            metrics = {"rouge_l": rouge_l(answer, rec["output"])}
        rows.append({"id": rec["id"], "family": fam, "prediction": answer, "metrics": metrics})
    return Scored(rows, [(family_of(r), s, c) for (r, _), (s, c) in zip(ppl, nll, strict=True)])


# ------------------------------------------------------------------------ scores and intervals


def _mean(key: str) -> Callable[[list[dict[str, Any]]], float]:
    return lambda ms: float(np.mean([m[key] for m in ms]))


def _micro_f1(ms: list[dict[str, Any]]) -> float:
    return f1(*(sum(m[k] for m in ms) for k in ("icd10_tp", "icd10_fp", "icd10_fn")))


#: the task scores of a family, by how it is scored (as evaluate reports them)
TASK_SCORES: dict[str, dict[str, Callable[[list[dict[str, Any]]], float]]] = {
    "extraction": {
        "json_valid": _mean("json_valid"),
        "age_em": _mean("age_em"),
        "sex_em": _mean("sex_em"),
        "icd10_micro_f1": _micro_f1,
    },
    "free_text": {"rouge_l": _mean("rouge_l")},
}


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return [round(float(lo), 6), round(float(hi), 6)]


def _ppl(nll: list[tuple[float, int]]) -> float | None:
    tokens = sum(c for _, c in nll)
    return math.exp(sum(s for s, _ in nll) / tokens) if tokens else None


def compare(
    adapter: Scored, export: Scored, cfg: EvaluateConfig, *, samples: int, seed: int = 0
) -> dict[str, Any]:
    """Scores of both models per family, the adapter's and the delta's bootstrap intervals,
    and the verdict: ``pass`` when every task score of the export lies in the adapter's
    interval, ``fail`` with one reason per score that does not."""
    rng = np.random.default_rng(seed)
    families = sorted({r["family"] for r in adapter.answers} | {f for f, _, _ in adapter.nll})
    out: dict[str, Any] = {
        "confidence": CONFIDENCE,
        "bootstrap_samples": samples,
        "tolerance": "refused where a task score is below the adapter's 95% bootstrap interval "
        "and the paired difference's 95% interval is wholly below zero",
        "families": {},
    }
    reasons: list[str] = []
    judged = 0
    for fam in families:
        entry: dict[str, Any] = {}
        a_nll = [(s, c) for f, s, c in adapter.nll if f == fam]
        e_nll = [(s, c) for f, s, c in export.nll if f == fam]
        if a_nll:
            n = len(a_nll)
            idx = rng.integers(0, n, size=(samples, n))
            a_s, a_c = np.array(a_nll, dtype=float).T
            e_s, e_c = np.array(e_nll, dtype=float).T
            a_boot = np.exp(a_s[idx].sum(1) / a_c[idx].sum(1))
            e_boot = np.exp(e_s[idx].sum(1) / e_c[idx].sum(1))
            entry["perplexity"] = {
                "examples": n,
                "adapter": round(_ppl(a_nll) or math.nan, 6),
                "export": round(_ppl(e_nll) or math.nan, 6),
                "adapter_interval": _interval(a_boot),
                "delta_interval": _interval(e_boot - a_boot),
            }
        a_rows = [r for r in adapter.answers if r["family"] == fam]
        e_rows = [r for r in export.answers if r["family"] == fam]
        if a_rows:
            assert [r["id"] for r in a_rows] == [r["id"] for r in e_rows]
            n = len(a_rows)
            kind = "extraction" if "json_valid" in a_rows[0]["metrics"] else "free_text"
            entry["generated"] = n
            entry["same_answers"] = sum(
                a["prediction"] == e["prediction"] for a, e in zip(a_rows, e_rows, strict=True)
            )
            idx = rng.integers(0, n, size=(samples, n))
            a_ms = [r["metrics"] for r in a_rows]
            e_ms = [r["metrics"] for r in e_rows]
            scores = {}
            for name, fn in TASK_SCORES[kind].items():
                a_boot = np.array([fn([a_ms[i] for i in row]) for row in idx])
                e_boot = np.array([fn([e_ms[i] for i in row]) for row in idx])
                a_val, e_val = round(fn(a_ms), 6), round(fn(e_ms), 6)
                lo, hi = _interval(a_boot)
                d_lo, d_hi = _interval(e_boot - a_boot)
                below = e_val < lo - EPS
                within = not (below and d_hi < -EPS)
                judged += 1
                scores[name] = {
                    "adapter": a_val,
                    "export": e_val,
                    "delta": round(e_val - a_val, 6),
                    "adapter_interval": [lo, hi],
                    "delta_interval": [d_lo, d_hi],
                    "position": "below" if below else "above" if e_val > hi + EPS else "inside",
                    "within": within,
                }
                if not within:
                    reasons.append(
                        f"{fam} {name}: the export scores {e_val:.3f}, below the adapter's "
                        f"95% interval [{lo:.3f}, {hi:.3f}] (adapter {a_val:.3f}), and the "
                        f"paired difference's interval [{d_lo:.3f}, {d_hi:.3f}] is wholly "
                        f"below zero ({n} test examples)"
                    )
            entry["task_scores"] = scores
        out["families"][fam] = entry
    out["task_scores_judged"] = judged
    out["verdict"] = "fail" if reasons else ("pass" if judged else "not_judged")
    out["reasons"] = reasons
    if not judged:
        out["reasons"] = [
            "no task score to compare: no test example was generated (no family of the test "
            "split is generated, or every prompt fills max_seq_len)"
        ]
    return out
