"""The model page: evaluate's outputs as one self-contained HTML page (``reports/model.html``).

Rendered from the files the stage writes, never from the model, so it can be re-rendered at any
time (:func:`render_model_page`): ``metrics/evaluate.json`` (scores per family and model),
``audits/model_fairness.json`` (quality and perplexity per group, the counterfactual probe),
``audits/privacy_probes.json`` (canaries, scrubbed PII, adversarial prompts) and
``data/eval/predictions.jsonl`` (one row per generated answer: the intervals and the samples).

What the page shows, failing first: every finding that failed, was inconclusive or not judged,
and every family whose answers are not evaluable (with their distinct and empty shares and
why); then the scores per family and per group with intervals, the counterfactual probe, the
privacy probes, and a bounded sample of answers beside their references.

Intervals are computed here from the per-example scores of the prediction rows, at the
confidence of ``evaluate.fairness.ci``: Wilson's for a share (JSON valid, age and sex exact
match), a percentile bootstrap over examples for the ICD-10 micro F1 (a ratio of pooled counts,
seeded, so the page is the same on every render), and the normal approximation for a mean score
(ROUGE-L, a group's quality: as the fairness checks' own gap intervals). Perplexities are shown
without one: the rows keep the NLL of the generated examples only, not of every example the
perplexity is over. Texts are the test and gold splits' scrubbed references and the model's
answers to their scrubbed prompts, each cut at :data:`SAMPLE_CHARS`; autoescaped.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

from provena import reports
from provena.config import ModelFairnessConfig
from provena.errors import UserError
from provena.evaluate.fairness import per_example_quality
from provena.group_audit import wilson
from provena.io import read_jsonl_lines

#: answers shown per split and family (the first by id: ids are hashes, an even spread)
SAMPLES_PER_FAMILY = 3
#: characters of an answer or reference shown; the rest is counted, not shown
SAMPLE_CHARS = 600
#: bootstrap resamples of the ICD-10 micro F1 interval, and their fixed seed
BOOTSTRAP = 1000
SEED = 0
#: every task score evaluate writes per family: (key, shown name, kind of interval)
SCORES = (
    ("json_valid", "JSON valid", "share"),
    ("age_em", "age exact match", "share"),
    ("sex_em", "sex exact match", "share"),
    ("icd10_micro_f1", "ICD-10 micro F1", "bootstrap"),
    ("rouge_l", "ROUGE-L", "mean"),
)
MODELS = ("adapter", "base")
#: the order findings are listed in: what needs a reader's attention first
ORDER = {"fail": 0, "inconclusive": 1, "not_evaluable": 2, "not_judged": 3, "skipped": 3}
DEFAULT_CI = ModelFairnessConfig.model_fields["ci"].default


# ---------------------------------------------------------------------------------- inputs


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: no such file (run the evaluate stage first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


ROW_KEYS = ("split", "model", "id", "family", "prediction", "reference", "metrics")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"{path}: no such file (run the evaluate stage first)")
    return [row for _, row in read_jsonl_lines(path, required=ROW_KEYS)]


# ------------------------------------------------------------------------------- intervals


def _z(ci: float) -> float:
    return NormalDist().inv_cdf(0.5 + ci / 2)


def mean_interval(values: list[float], ci: float) -> list[float] | None:
    """Normal-approximation interval of the mean of scores in [0, 1], clipped to [0, 1]; None
    under two values (no variance to estimate)."""
    if len(values) < 2:
        return None
    a = np.asarray(values, dtype=float)
    half = _z(ci) * float(a.std(ddof=1)) / math.sqrt(len(a))
    m = float(a.mean())
    return [round(max(0.0, m - half), 4), round(min(1.0, m + half), 4)]


def micro_f1_interval(counts: list[tuple[int, int, int]], ci: float) -> list[float] | None:
    """Percentile bootstrap interval of the micro F1 of (tp, fp, fn) per example, resampling
    examples (:data:`BOOTSTRAP` times, seed :data:`SEED`); None under two examples."""
    if len(counts) < 2:
        return None
    c = np.asarray(counts, dtype=float)
    idx = np.random.default_rng(SEED).integers(0, len(c), size=(BOOTSTRAP, len(c)))
    tp, fp, fn = (c[:, k][idx].sum(axis=1) for k in range(3))
    denom = 2 * tp + fp + fn
    f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 1.0)  # as scores.f1
    lo, hi = np.quantile(f1, [(1 - ci) / 2, (1 + ci) / 2])
    return [round(float(lo), 4), round(float(hi), 4)]


def score_interval(key: str, kind: str, rows: list[dict[str, Any]], ci: float):
    """The interval of one family score from its prediction rows (see the module doc)."""
    ms = [r["metrics"] for r in rows]
    if kind == "bootstrap":
        if not all(all(k in m for k in ("icd10_tp", "icd10_fp", "icd10_fn")) for m in ms):
            return None
        return micro_f1_interval([(m["icd10_tp"], m["icd10_fp"], m["icd10_fn"]) for m in ms], ci)
    values = [float(m[key]) for m in ms if m.get(key) is not None]
    if not values:
        return None
    if kind == "share":
        return wilson(round(sum(values)), len(values), ci)
    return mean_interval(values, ci)


# ------------------------------------------------------------------------------- sections


def _families(metrics: dict[str, Any], rows_by: dict[tuple, list], ci: float) -> dict[str, Any]:
    """Per split, per family: each model's scores with intervals, perplexity, the answers'
    spread, and when not evaluable, why and which scores were withheld."""
    out: dict[str, Any] = {}
    for split, res in (metrics.get("splits") or {}).items():
        fams = sorted({f for m in MODELS for f in (res.get(m) or {}).get("families", {})})
        table = []
        for fam in fams:
            entry: dict[str, Any] = {"family": fam, "scoring": (res.get("scoring") or {}).get(fam)}
            for m in MODELS:
                e = (res.get(m) or {}).get("families", {}).get(fam) or {}
                rows = rows_by.get((split, m, fam), [])
                scores = []
                for key, name, kind in SCORES:
                    withheld = key in (e.get("not_evaluable") or {}).get("withheld", [])
                    if key in e or withheld:
                        scores.append(
                            {
                                "key": key,
                                "name": name,
                                "value": e.get(key),
                                "ci": None if withheld else score_interval(key, kind, rows, ci),
                                "withheld": withheld,
                            }
                        )
                entry[m] = {
                    "perplexity": e.get("perplexity"),
                    "perplexity_examples": e.get("perplexity_examples"),
                    "generated": e.get("generated", len(rows)),
                    "scores": scores,
                    "answers": e.get("answers"),
                    "not_evaluable": e.get("not_evaluable"),
                }
            entry["delta"] = (res.get("delta") or {}).get("families", {}).get(fam) or {}
            table.append(entry)
        out[split] = {
            "records": res.get("records"),
            "perplexity": {m: (res.get(m) or {}).get("perplexity") for m in MODELS},
            "families": table,
        }
    return out


def _axis_top(values: list[float]) -> float:
    """The end of a chart's axis: the largest value rounded up to a fifth (at most 1, the
    scores' ceiling), so its four ticks fall on round numbers."""
    top = max(values, default=0.0)
    return min(1.0, math.ceil(top * 5 - 1e-9) / 5) if top > 0 else 1.0


def _label(row: dict[str, Any], attrs: list[str]) -> str:
    parts = []
    for a in attrs:
        v = row.get(a)
        if v is None and isinstance(row.get("meta"), dict):
            v = row["meta"].get(a)
        parts.append("unknown" if v in (None, "") else str(v))
    return " & ".join(parts)


def _groups(fairness: dict[str, Any], rows_by: dict[tuple, list], ci: float) -> dict[str, Any]:
    """Per split, per attribute: each group's quality (with an interval from its rows, the
    families whose answers are not evaluable left out as in the fairness report) and
    perplexity, for both models, the adapter's checks, and a chart of the adapter's quality."""
    out: dict[str, Any] = {}
    for split, models in (fairness.get("splits") or {}).items():
        attrs_out = {}
        adapter = models.get("adapter") or {}
        for attr, table in adapter.items():
            per_model = {}
            for m in MODELS:
                t = (models.get(m) or {}).get(attr)
                if t is None:
                    continue
                skip = set(t.get("quality_left_out") or {})
                by_label: dict[str, list[float]] = defaultdict(list)
                for r in (
                    r for (s, mm, _), v in rows_by.items() if (s, mm) == (split, m) for r in v
                ):
                    q = None if r["family"] in skip else per_example_quality(r)
                    if q is not None:
                        by_label[_label(r, t["attributes"])].append(q)
                per_model[m] = {
                    g: e | {"ci": mean_interval(by_label.get(g, []), ci)}
                    for g, e in t["by_group"].items()
                }
            base = per_model.get("base", {})
            chart_rows = [
                {
                    "label": g,
                    "value": e["quality"],
                    "ci": e["ci"],
                    "base": (base.get(g) or {}).get("quality"),
                    "base_ci": (base.get(g) or {}).get("ci"),
                    "judged": e["judged"],
                }
                for g, e in per_model.get("adapter", {}).items()
            ]
            top = _axis_top(
                [v for r in chart_rows for v in (r["value"], r["base"]) if v is not None]
                + [x for r in chart_rows for c in (r["ci"], r["base_ci"]) if c for x in c]
            )
            attrs_out[attr] = {
                "table": table,
                "intersection": len(table.get("attributes", [])) > 1,
                "groups": per_model,
                "base_table": (models.get("base") or {}).get(attr) or {},
                "chart": {"rows": chart_rows, "max": top},
            }
        out[split] = attrs_out
    return out


def _findings(
    metrics: dict[str, Any], fairness: dict[str, Any], privacy: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every finding that is not a pass, from both reports, and every (split, model, family)
    whose answers are not evaluable: failing first, then inconclusive, not evaluable, not judged."""
    out = []
    for f in fairness.get("findings") or []:
        if f.get("verdict") != "pass" and f.get("check") != "all":
            out.append({"source": "model fairness", "verdict": f["verdict"], "text": f["message"]})
    for f in privacy.get("findings") or []:
        if f.get("verdict") != "pass":
            out.append({"source": "privacy probes", "verdict": f["verdict"], "text": f["text"]})
    for g in metrics.get("not_evaluable") or []:
        out.append(
            {
                "source": "scores",
                "verdict": "not_evaluable",
                "text": f"[{g['split']}] {g['model']} / {g['family']}: distinct answers "
                f"{reports.percent(g.get('distinct_share'))}, empty "
                f"{reports.percent(g.get('empty_share'))}: {g['reason']}",
            }
        )
    out.sort(key=lambda f: ORDER.get(f["verdict"], 4))
    return out


def _cut(text: Any) -> dict[str, Any]:
    text = "" if text is None else str(text)
    return {"text": text[:SAMPLE_CHARS], "more": max(0, len(text) - SAMPLE_CHARS)}


def _samples(rows_by: dict[tuple, list], n: int) -> list[dict[str, Any]]:
    """At most ``n`` examples per split and family (the first by id), each with its scrubbed
    reference and both models' answers and scores."""
    out = []
    splits = sorted({s for s, _, _ in rows_by})
    for split in splits:
        fams = sorted({f for s, _, f in rows_by if s == split})
        for fam in fams:
            by_model = {m: {r["id"]: r for r in rows_by.get((split, m, fam), [])} for m in MODELS}
            ids = sorted(set(by_model["adapter"]) | set(by_model["base"]))[:n]
            for i in ids:
                first = by_model["adapter"].get(i) or by_model["base"][i]
                answers = {}
                for m in MODELS:
                    r = by_model[m].get(i)
                    if r is not None:
                        answers[m] = _cut(r["prediction"]) | {
                            "quality": per_example_quality(r),
                            "metrics": {
                                k: v
                                for k, v in r["metrics"].items()
                                if k in ("json_valid", "age_em", "sex_em", "icd10_f1", "rouge_l")
                            },
                        }
                out.append(
                    {
                        "split": split,
                        "family": fam,
                        "id": i,
                        "gender": first.get("gender"),
                        "age_band": first.get("age_band"),
                        "reference": _cut(first["reference"]),
                        "answers": answers,
                    }
                )
    return out


def _privacy(privacy: dict[str, Any]) -> dict[str, Any]:
    """The privacy report with its findings failing first."""
    p = dict(privacy)
    p["findings"] = sorted(
        privacy.get("findings") or [], key=lambda f: ORDER.get(f.get("verdict"), 4)
    )
    return p


# ----------------------------------------------------------------------------------- page


def model_page_context(
    metrics: dict[str, Any],
    fairness: dict[str, Any],
    privacy: dict[str, Any],
    rows: list[dict[str, Any]],
    *,
    ci: float = DEFAULT_CI,
    samples_per_family: int = SAMPLES_PER_FAMILY,
) -> dict[str, Any]:
    """The template's context from the four outputs, already parsed."""
    rows_by: dict[tuple, list] = defaultdict(list)
    for r in rows:
        rows_by[(str(r["split"]), str(r["model"]), str(r["family"]))].append(r)
    return {
        "ci": ci,
        "ci_pct": round(100 * ci),
        "verdicts": {
            "model_fairness": fairness.get("verdict", "not_judged"),
            "privacy_probes": privacy.get("verdict", "not_judged"),
        },
        "findings": _findings(metrics, fairness, privacy),
        "splits": _families(metrics, rows_by, ci),
        "thresholds": metrics.get("answer_thresholds") or {},
        "groups": _groups(fairness, rows_by, ci),
        "fairness_thresholds": fairness.get("thresholds") or {},
        "judged_model": fairness.get("judged_model", "adapter"),
        "counterfactual": fairness.get("counterfactual") or {},
        "privacy": _privacy(privacy),
        "samples": _samples(rows_by, samples_per_family),
        "samples_per_family": samples_per_family,
        "sample_chars": SAMPLE_CHARS,
        "generated": len(rows),
    }


def render_model_page(
    metrics: Path,
    model_fairness: Path,
    privacy_probes: Path,
    predictions: Path,
    *,
    ci: float = DEFAULT_CI,
    samples_per_family: int = SAMPLES_PER_FAMILY,
) -> str:
    """The model page (HTML) from evaluate's outputs: ``metrics/evaluate.json``,
    ``audits/model_fairness.json``, ``audits/privacy_probes.json`` and
    ``data/eval/predictions.jsonl``. A missing or unreadable file is a :class:`UserError`
    naming it (and the line, for the predictions)."""
    sources = {
        "metrics": metrics,
        "model_fairness": model_fairness,
        "privacy_probes": privacy_probes,
        "predictions": predictions,
    }
    ctx = model_page_context(
        _read_json(metrics),
        _read_json(model_fairness),
        _read_json(privacy_probes),
        _read_rows(predictions),
        ci=ci,
        samples_per_family=samples_per_family,
    )
    return reports.render("model.html.j2", sources={k: str(v) for k, v in sources.items()}, **ctx)
