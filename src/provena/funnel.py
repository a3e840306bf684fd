"""The data funnel: every data stage's records in and out, from the metrics each stage wrote.

synth -> ingest -> scrub_pii -> clean -> validate -> augment -> split: for each, the records it
was given, those it removed (to its quarantine, by rule), those it added (augment's new records
by operation, split's canary records), the records it passed on, and two checks of the books:
within the stage (in - removed + added = out) and between stages (a stage's in is the previous
stage's out). Then split's per-split counts, with the augmented and canary records in each.

validate runs before augment and split in the DAG, so the page is written by the split stage,
the last data stage (``stages/split.py --funnel-html``), from ``metrics/<stage>.json``; those
files are its dependencies in dvc.yaml. The data-quality report (validate) links to it.
Template: ``provena/reports/templates/funnel.html.j2`` (no script; escaped by Jinja2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provena import reports
from provena.errors import UserError
from provena.io import atomic_open

#: the data stages, in pipeline order
STAGES = ("synth", "ingest", "scrub_pii", "clean", "validate", "augment", "split")
#: split's splits, in the order shown
SPLITS = ("train", "validation", "test", "gold")


def load(paths: dict[str, Path]) -> dict[str, dict[str, Any] | None]:
    """stage -> its metrics (None where the file does not exist). An unknown stage name or a
    file that is not a JSON object is a one-line error naming it."""
    unknown = sorted(set(paths) - set(STAGES))
    if unknown:
        raise UserError(f"funnel: unknown stage(s) {', '.join(unknown)} (known: {STAGES})")
    out: dict[str, dict[str, Any] | None] = {}
    for stage in STAGES:
        path = paths.get(stage)
        if path is None or not Path(path).is_file():
            out[stage] = None
            continue
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise UserError(f"{path}: not readable as JSON ({err})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object of {stage}'s metrics")
        out[stage] = data
    return out


def _int(m: dict[str, Any], key: str, path: str) -> int:
    value = m.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UserError(f"{path}: field {key!r} missing or not a whole number ({value!r})")
    return value


def _row(stage: str, m: dict[str, Any]) -> dict[str, Any]:
    """One stage's row: in, removed, added, out and what they are made of."""
    where = f"metrics of {stage}"
    row: dict[str, Any] = {
        "stage": stage,
        "removed_by": dict(m.get("quarantined_by_rule") or {}),
        "changed_by": {k: v for k, v in (m.get("changed_by_rule") or {}).items() if v},
        "added_by": {},
        "note": "",
    }
    if stage == "synth" and m.get("enabled") is False:
        row.update({"in": None, "removed": 0, "added": 0, "out": 0})
        row["note"] = "off (synth.enabled: false): ingest reads your own files"
    elif stage == "synth":
        malformed = int(m.get("malformed_lines") or 0)
        out = _int(m, "records", where) + malformed
        row.update({"in": None, "removed": 0, "added": out, "out": out})
        row["added_by"] = {"records": out - malformed, "malformed lines (planted)": malformed}
        row["note"] = "writes the raw files; planted defects: " + ", ".join(
            f"{k} {v}" for k, v in sorted((m.get("defects") or {}).items())
        )
    elif stage == "validate":
        n = _int(m, "records", where)
        row.update({"in": n, "removed": 0, "added": 0, "out": n})
        row["note"] = (
            f"checks, removes nothing: verdict {m.get('verdict')}, {m.get('passed')} of "
            f"{m.get('expectations')} expectations passed"
        )
    elif stage == "augment":
        row.update(
            {
                "in": _int(m, "records_in", where),
                "removed": _int(m, "records_quarantined", where),
                "added": _int(m, "records_added", where),
                "out": _int(m, "records_out", where),
            }
        )
        row["added_by"] = dict(m.get("added_by_op") or {})
    elif stage == "split":
        canaries = m.get("canaries") or {}
        planted = int(canaries.get("planted_records") or 0)
        row.update(
            {
                "in": _int(m, "records_in", where),
                "removed": _int(m, "records_dropped", where),
                "added": planted,
                "out": _int(m, "records_out", where),
            }
        )
        if planted:
            row["added_by"] = {
                f"canaries ({canaries.get('count')} x {canaries.get('repeats')}, "
                f"in {canaries.get('split')})": planted
            }
    else:
        row.update(
            {
                "in": _int(m, "records_in", where),
                "removed": _int(m, "records_quarantined", where),
                "added": 0,
                "out": _int(m, "records_kept", where),
            }
        )
    base = row["in"] if row["in"] is not None else 0
    row["off_by"] = row["out"] - (base - row["removed"] + row["added"])
    return row


def _splits(m: dict[str, Any]) -> list[dict[str, Any]]:
    records = m.get("records") or {}
    augmented = (m.get("augmented") or {}).get("by_split") or {}
    canaries = m.get("canaries") or {}
    rows = []
    for name in [s for s in SPLITS if s in records] + sorted(set(records) - set(SPLITS)):
        planted = int(canaries.get("planted_records") or 0) if canaries.get("split") == name else 0
        n_aug = int(augmented.get(name) or 0)
        rows.append(
            {
                "split": name,
                "records": int(records[name]),
                "augmented": n_aug,
                "canaries": planted,
                "original": int(records[name]) - n_aug - planted,
            }
        )
    return rows


def build(metrics: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """The funnel as plain data: one row per stage (a stage with no metrics says so), each
    stage's in checked against the previous stage's out, and split's per-split counts."""
    rows, prev = [], None
    for stage in STAGES:
        m = metrics.get(stage)
        if m is None:
            rows.append({"stage": stage, "missing": f"no metrics/{stage}.json: not run"})
            prev = None
            continue
        row = _row(stage, m)
        row["link"] = None
        if prev is not None and row["in"] is not None and prev["out"]:
            diff = row["in"] - prev["out"]
            # ingest reads every file in ingest.input_dir: synth's, and any of the user's
            why = "ingest also reads files synth did not write" if stage == "ingest" else ""
            row["link"] = {"from": prev["stage"], "diff": diff, "why": why if diff else ""}
        rows.append(row)
        prev = row
    split = metrics.get("split")
    splits = _splits(split) if split else []
    split_row = next((r for r in rows if r["stage"] == "split" and "missing" not in r), None)
    counted = [r for r in rows if "missing" not in r]
    first = next((r for r in counted if r["stage"] != "synth" and r["in"] is not None), None)
    clean = next((r for r in counted if r["stage"] == "clean"), None)
    return {
        "stages": rows,
        "splits": splits,
        "splits_total": sum(s["records"] for s in splits),
        "split_out": split_row["out"] if split_row else None,
        "top": max([r["out"] for r in counted] + [r["in"] or 0 for r in counted] + [1]),
        "raw": first["in"] if first else None,
        "curated": clean["out"] if clean else None,
        "balanced": _balanced(counted, splits),
    }


def _balanced(rows: list[dict[str, Any]], splits: list[dict[str, Any]]) -> bool:
    """Every stage's books balance, every stage reads what the previous one passed on (or says
    why not), and the splits add up to split's output."""
    if any(r["off_by"] for r in rows):
        return False
    if any(r["link"] and r["link"]["diff"] and not r["link"]["why"] for r in rows):
        return False
    split = next((r for r in rows if r["stage"] == "split"), None)
    return not (split and splits and sum(s["records"] for s in splits) != split["out"])


def render_html(funnel: dict[str, Any]) -> str:
    return reports.render("funnel.html.j2", f=funnel)


def write(paths: dict[str, Path], out_html: Path) -> dict[str, Any]:
    """Build the funnel from the stages' metrics files and write the page; returns the data."""
    funnel = build(load(paths))
    with atomic_open(out_html) as fh:
        fh.write(render_html(funnel))
    return funnel
