"""The bias-audit report for audit teams: one self-contained HTML page from the audit JSON.

Plain-language findings come first, then per-attribute tables and charts (shares and outcome
values per group, with their confidence intervals as whiskers and the reference as a tick).
Given the "before" audit too, every section shows before and after side by side; an audit of
augmented data adds a banner with the machine-made share per group, splits every row into
original and augmented records, and shows the verdict on the original records beside the
verdict on the training distribution. No script,
nothing loaded from the network, every value escaped. Template:
``provena/reports/templates/bias_audit.html.j2``.
"""

from __future__ import annotations

import copy
from typing import Any

from provena import reports


def _rep_chart(block: dict[str, Any]) -> dict[str, Any]:
    """Bars of a representation block: each group's share, its interval and reference."""
    groups = block["groups"].values()
    top = max((max(e["share"], e["ci"][1], e["reference"]) for e in groups), default=1.0)
    rows = [
        {
            "label": g,
            "value": e["share"],
            "ci": e["ci"],
            "ref": e["reference"],
            "verdict": e["verdict"],
        }
        for g, e in block["groups"].items()
    ]
    return {"rows": rows, "max": top or 1.0, "pct": True}


def _comp_chart(c: dict[str, Any], pct: bool) -> dict[str, Any]:
    """Bars of an outcome comparison: each group's value and its interval, if any."""
    groups = c["by_group"].values()
    top = max((max(e["value"], *(e.get("ci") or [0])) for e in groups), default=1.0)
    rows = [
        {
            "label": g,
            "value": e["value"],
            "ci": e.get("ci"),
            "ref": None,
            "verdict": "too_small"
            if g in c["too_small"]
            else (e.get("vs_highest") or {}).get("verdict", "pass"),
        }
        for g, e in c["by_group"].items()
    ]
    return {"rows": rows, "max": top or 1.0, "pct": pct}


def _with_charts(audit: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``audit`` with a ``chart`` beside each table the page draws."""
    audit = copy.deepcopy(audit)
    for block in (*audit["representation"].values(), *audit["intersections"].values()):
        block["chart"] = _rep_chart(block)
    for outcome in audit["outcomes"].values():
        for res in outcome["by_attribute"].values():
            if res["verdict"] == "not_judged":  # nothing computed, nothing drawn
                continue
            if res["kind"] == "mean":
                res["value"]["chart"] = _comp_chart(res["value"], pct=False)
            else:
                for c in res["values"].values():
                    c["chart"] = _comp_chart(c, pct=True)
    return audit


def render_html(report: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    audits = [before, report] if before is not None else [report]
    return reports.render(
        "bias_audit.html.j2",
        audits=[_with_charts(a) for a in audits],
        t=report["thresholds"],
        ci_pct=round(100 * report["thresholds"]["ci"]),
    )
