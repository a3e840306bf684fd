"""The clean report for data reviewers: one self-contained HTML page from the JSON report.

It shows counts per rule and, per rule, every dropped record's id (up to ``report_ids``) and a
bounded sample of the dropped records (scrubbed instruction, input and output with the
rule's reason: this stage runs after scrub_pii); the largest duplicate clusters with their
ids, each dropped record shown as a word diff against the record kept. A filter box hides
what does not match a rule or a search (plain inline JavaScript). Every value is escaped.
Template: ``provena/reports/templates/clean_report.html.j2`` (drill-down pieces:
``drill.html.j2``).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from provena import reports

_TOKEN = re.compile(r"\S+\s*")
_LEAD = re.compile(r"^\s*")

#: a piece of a word diff: ("equal" | "delete" | "insert", text)
DiffOp = tuple[str, str]


def word_diff(a: str, b: str) -> tuple[list[DiffOp], float]:
    """``b`` against ``a`` word by word: pieces of text to show in order (words only in ``a``
    as "delete", only in ``b`` as "insert", the rest "equal", taken from ``b``), and the share
    of words the two have in common (difflib's ratio on the word lists). Whitespace is not
    compared: the space after a changed word stays outside its mark."""
    ta, tb = _TOKEN.findall(a), _TOKEN.findall(b)
    wa, wb = [t.strip() for t in ta], [t.strip() for t in tb]
    sm = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    lead = _LEAD.match(b)
    ops: list[DiffOp] = [("equal", lead.group(0))] if lead and lead.group(0) else []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            ops.append(("equal", "".join(tb[j1:j2])))
            continue
        if tag in ("delete", "replace"):
            run = "".join(ta[i1:i2])
            ops.append(("delete", run.rstrip()))
            ops.append(("equal", " " if tag == "replace" else run[len(run.rstrip()) :]))
        if tag in ("insert", "replace"):
            run = "".join(tb[j1:j2])
            ops.append(("insert", run.rstrip()))
            ops.append(("equal", run[len(run.rstrip()) :]))
    merged: list[DiffOp] = []
    for op, text in ops:
        if not text:
            continue
        if merged and merged[-1][0] == op == "equal":
            merged[-1] = ("equal", merged[-1][1] + text)
        else:
            merged.append((op, text))
    return merged, round(sm.ratio(), 4)


def render_html(report: dict[str, Any]) -> str:
    clusters = []
    for c in report["largest_clusters"]:
        dropped = []
        for d in c["dropped"]:
            ops, ratio = word_diff(c["kept"]["text"], d["text"])
            changed = any(op != "equal" for op, _ in ops)
            dropped.append({**d, "diff": ops, "word_ratio": ratio, "changed": changed})
        rules = sorted({d["rule"] for d in c["dropped"]})
        clusters.append({**c, "dropped": dropped, "rules": rules})
    dropped_ids = report.get("dropped_ids", {})
    return reports.render(
        "clean_report.html.j2",
        r=report,
        gold=report.get("gold_evaluation"),
        max_rule=max(report["books"]["quarantined_by_rule"].values(), default=1) or 1,
        clusters=clusters,
        dropped_ids=dropped_ids,
        filter_rules=[rule for rule in report["rules"] if rule in dropped_ids],
    )
