"""The PII report for reviewers: one self-contained HTML page rendered from the JSON report
(template ``provena/reports/templates/pii_report.html.j2``).

Everything shown is counts, scores or scrubbed text, and every value is HTML-escaped.
"""

from __future__ import annotations

from typing import Any

from provena import reports


def render_html(report: dict[str, Any]) -> str:
    fields = sorted(
        {f for per in report["entities_by_type_and_field"].values() for f in per},
        key=lambda f: (f.startswith("messages"), f),
    )
    return reports.render(
        "pii_report.html.j2",
        r=report,
        gold=report.get("gold_evaluation"),
        fields=fields,
        max_bin=max(report["score_distribution"].values(), default=1) or 1,
    )
