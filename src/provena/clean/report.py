"""The clean report for data reviewers: one self-contained HTML page from the JSON report.

It shows counts per rule, what each rule measured on a few dropped records, and the largest
duplicate clusters (scrubbed text: this stage runs after scrub_pii). Every value is escaped.
Template: ``provena/reports/templates/clean_report.html.j2``.
"""

from __future__ import annotations

from typing import Any

from provena import reports


def render_html(report: dict[str, Any]) -> str:
    return reports.render(
        "clean_report.html.j2",
        r=report,
        gold=report.get("gold_evaluation"),
        max_rule=max(report["books"]["quarantined_by_rule"].values(), default=1) or 1,
    )
