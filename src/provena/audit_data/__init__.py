"""audit_data: audit a record file by group; write the audit, its metrics and its report.

The computation (representation, outcomes, findings, verdict) is :mod:`provena.group_audit`,
shared with augment, which plans its children against the same checks. Each failing or
inconclusive finding also gets the records behind it (:mod:`provena.audit_data.drill`): the
ids of its group and a bounded sample, read in a second pass over the records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from provena.audit_data import drill
from provena.audit_data.report import render_html
from provena.config import AuditDataConfig
from provena.group_audit import (
    INCONCLUSIVE,
    STAGE,
    attribute_summary,
    audit,
    build_frame,
    with_status,
)
from provena.io import atomic_open, display_path, file_md5, read_records, write_json
from provena.records import Record, StageResult, stage_metrics

log = logging.getLogger(__name__)


class RecordFile:
    """The records of a file, read anew each time it is iterated: the audit reads them twice
    (the frame, then the findings' samples) without holding them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[Record]:
        return (r for b in read_records(self.path) for r in b)


def audit_records(
    records: Iterable[Record],
    cfg: AuditDataConfig,
    *,
    when: str,
    dataset: dict[str, Any],
    before: dict[str, Any] | None = None,
) -> StageResult:
    """Audit records by group. Pure: no file I/O.

    ``dataset`` names what is audited (path and md5 of the record file); the result's
    ``report`` is the audit as ``audits/audit_<when>.json`` holds it, and its ``metrics``
    those of ``metrics/audit_data_<when>.json``. Given the audit ``before`` augmentation, each
    finding carries its status against it (:func:`provena.group_audit.with_status`). The audit
    keeps no records: the books are empty.

    Each failing or inconclusive finding gains the ids of its group's records and a sample of
    them (:mod:`provena.audit_data.drill`), read from ``records`` again: give a list or a
    :class:`RecordFile`; a one-shot iterator is held as a list first."""
    if iter(records) is records:  # a generator: read twice below, so held
        records = list(records)
    df = build_frame(records, cfg)
    result = audit(df, cfg)
    if before is not None:
        result = with_status(result, before)
    samples = drill.plan(df, result, cfg)
    drill.attach(result, samples, records, cfg, where=str(dataset.get("path", "audit_data")))
    if "original_records" in result:  # augmented data: one line per attribute, for the card
        result["attribute_summary"] = attribute_summary(result)
    report = {
        "stage": STAGE,
        "when": when,
        "dataset": {**dataset, "records": len(df)},
        **result,
        "drill": {k: getattr(cfg, k) for k in drill.BOUNDS},
    }
    metrics = stage_metrics(
        f"{STAGE}@{when}",
        records=len(df),
        verdict=result["verdict"],
        failed_checks=sum(
            1 for f in result["findings"] if f["verdict"] == "fail" and f["check"] != "all"
        ),
        inconclusive_checks=sum(
            1 for f in result["findings"] if f["verdict"] == INCONCLUSIVE and f["check"] != "all"
        ),
        groups_too_small=sum(1 for f in result["findings"] if f["verdict"] == "too_small"),
    )
    return StageResult(report=report, metrics=metrics)


def run(
    inp: Path,
    cfg: AuditDataConfig,
    *,
    when: str,
    out_json: Path,
    metrics: Path | None = None,
    report_html: Path | None = None,
    before_json: Path | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Audit a record file (:func:`audit_records`); write the JSON audit, metrics, and the HTML
    report. Returns the audit."""
    shown = display_path(inp, root or Path.cwd())
    before = None
    if before_json is not None and before_json.is_file():
        before = json.loads(before_json.read_text(encoding="utf-8"))
    res = audit_records(
        RecordFile(inp),
        cfg,
        when=when,
        dataset={"path": shown, "md5": file_md5(inp)},
        before=before,
    )
    report = res.report
    assert report is not None and res.metrics is not None
    write_json(out_json, report)
    if metrics is not None:
        write_json(metrics, res.metrics)
    for f in report["findings"]:
        if f["verdict"] in ("fail", INCONCLUSIVE):
            log.warning("audit %s: %s: %s", when, f["verdict"], f["text"])
    log.info("audit %s verdict: %s", when, report["verdict"])
    if "original_records" in report:
        log.info(
            "audit %s: verdict on the training distribution %s; on the original records only %s",
            when,
            report["verdict"],
            report["original_records"]["verdict"],
        )
    if report_html is not None:
        with atomic_open(report_html) as fh:
            fh.write(render_html(report, before))
    return report
