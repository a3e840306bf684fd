"""The data-quality report: one self-contained HTML page for data reviewers.

Built by the validate stage from the curated table, the validation results and the JSON the
earlier stages wrote (their metrics, the PII report, the clean report). It shows the curation
funnel up to validate with every reason records left (validate runs before augment and split:
the funnel over every data stage is ``reports/funnel.html``, written by split through
:mod:`provena.funnel`, and the page links to it), length distributions, PII counts by entity
type, the largest duplicate clusters, the validation results, and the dataset's fingerprint.
Charts are inline SVG; there is no script and nothing loads from the network. Every value is
escaped by Jinja2's autoescaping; text shown is scrubbed text (the report reads the output of
clean, which reads the output of scrub_pii). Template:
``provena/reports/templates/data_quality.html.j2``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from provena import reports
from provena.config import ValidateConfig

FUNNEL_STAGES = ("ingest", "scrub_pii", "clean")


def _load(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def histogram(values: list[float], bins: int, limit: float | None = None) -> dict[str, Any]:
    """Counts in equal-width bins, ready to draw as SVG bars."""
    if not values:
        return {"bins": [], "max": 0, "lo": 0, "hi": 0, "n": 0}
    lo, hi = min(values), max(values)
    if limit is not None:
        hi = max(hi, limit)
    width = (hi - lo) / bins or 1
    counts = [0] * bins
    for v in values:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    peak = max(counts)
    out = []
    for i, c in enumerate(counts):
        out.append(
            {
                "x": i,
                "lo": round(lo + i * width),
                "hi": round(lo + (i + 1) * width),
                "count": c,
                "h": 0 if c == 0 else max(1.0, 100 * math.sqrt(c / peak)),
            }
        )
    marker = None if limit is None else (limit - lo) / (hi - lo or 1) * bins
    return {"bins": out, "max": peak, "lo": lo, "hi": hi, "n": len(values), "marker": marker}


def build_quality_report(
    df: Any,
    validation: dict[str, Any],
    inputs: dict[str, Path],
    cfg: ValidateConfig,
    root: Path,
) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data."""
    funnel = []
    for stage in FUNNEL_STAGES:
        m = _load(inputs.get(f"metrics_{stage}"))
        if m is None:
            continue
        funnel.append(
            {
                "stage": stage,
                "in": m["records_in"],
                "kept": m["records_kept"],
                "out": m["records_quarantined"],
                "by_rule": m.get("quarantined_by_rule", {}),
                "changed": m.get("changed_by_rule", {}),
            }
        )
    pii = _load(inputs.get("pii_report"))
    clean = _load(inputs.get("clean_report"))
    family_key = cfg.family_key
    lengths = []
    groups = sorted(df[family_key].dropna().unique()) if family_key in df else []
    for fam in groups or [None]:
        part = df if fam is None else df[df[family_key] == fam]
        lengths.append(
            {
                "family": fam or "all records",
                "records": len(part),
                "output_chars": histogram(part["output_chars"].tolist(), cfg.report_bins),
                "n_tokens": histogram(part["n_tokens"].tolist(), cfg.report_bins, cfg.max_seq_len),
                "median_tokens": float(part["n_tokens"].median()) if len(part) else 0.0,
                "max_tokens": int(part["n_tokens"].max()) if len(part) else 0,
            }
        )
    attributes = {}
    for key in cfg.columns_from_meta:
        if key in df and key != family_key:
            counts = df[key].fillna("(missing)").value_counts().sort_index()
            attributes[key] = {str(k): int(v) for k, v in counts.items()}
    return {
        "fingerprint": validation["dataset"],
        "suite": {
            "name": validation["suite"],
            "path": validation["suite_path"],
            "sha256": validation["suite_sha256"],
        },
        "verdict": validation["verdict"],
        "validation": validation["results"],
        "failed_critical": validation["failed_critical"],
        "failed_warning": validation["failed_warning"],
        "not_judged": validation.get("not_judged", []),
        "tokens": validation["tokens"],
        "max_seq_len": cfg.max_seq_len,
        "funnel": funnel,
        "lengths": lengths,
        "attributes": attributes,
        "pii": None
        if pii is None
        else {
            "summary": pii["summary"],
            "by_type": {
                t: sum(per.values()) for t, per in pii["entities_by_type_and_field"].items()
            },
            "gold": pii.get("gold_evaluation"),
        },
        "clean": None
        if clean is None
        else {
            "summary": clean["summary"],
            "clusters": clean["largest_clusters"],
            "lsh": clean["lsh"],
        },
    }


def render_html(report: dict[str, Any]) -> str:
    return reports.render("data_quality.html.j2", r=report)
