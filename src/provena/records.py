"""The data contract: the record every stage reads and writes, and the books each stage keeps.

A record is a plain ``dict`` with the fields of :data:`RECORD_FIELDS`; ``meta`` is a dict in
memory and a JSON string on disk (its keys differ between sources, so a fixed Parquet struct
would not fit every dataset). Plain dicts keep stage cores cheap to call from a process pool
or a Ray ``map_batches`` function.

The books, each written by one builder, whatever the stage:

- :func:`ledger_line`: ``data/ledger/<stage>.jsonl``, what happened to which record and why;
- :func:`quarantine_entry`: ``data/quarantine/<stage>.jsonl``, what a stage rejected, kept;
- :func:`stage_metrics`: ``metrics/<stage>.json``, the counts (:class:`StageStats`, checked
  to balance) and the stage's own figures.

Every stage core returns a :class:`StageResult`, and takes its own section of the params (plus
what it borrows from another section, as named arguments), never the whole ``Params``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypedDict

import pyarrow as pa


class Message(TypedDict):
    role: str
    content: str


class Record(TypedDict):
    id: str
    source: str
    instruction: str
    input: str
    output: str
    messages: list[Message] | None
    meta: dict[str, Any]
    parent_id: str | None
    op: str | None


RECORD_FIELDS = (
    "id",
    "source",
    "instruction",
    "input",
    "output",
    "messages",
    "meta",
    "parent_id",
    "op",
)
TEXT_FIELDS = ("instruction", "input", "output")

RECORD_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("output", pa.string(), nullable=False),
        pa.field(
            "messages",
            pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())])),
        ),
        pa.field("meta", pa.string(), nullable=False),  # JSON object, keys sorted
        pa.field("parent_id", pa.string()),
        pa.field("op", pa.string()),
    ]
)


def record_id(instruction: str, input: str, output: str) -> str:
    """Stable content hash: the same example always gets the same id, whatever its source."""
    payload = json.dumps([instruction, input, output], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def make_record(
    *,
    source: str,
    instruction: str,
    input: str,
    output: str,
    messages: list[Message] | None = None,
    meta: dict[str, Any] | None = None,
    parent_id: str | None = None,
    op: str | None = None,
) -> Record:
    return Record(
        id=record_id(instruction, input, output),
        source=source,
        instruction=instruction,
        input=input,
        output=output,
        messages=messages,
        meta=dict(meta or {}),
        parent_id=parent_id,
        op=op,
    )


def to_row(record: Record) -> dict[str, Any]:
    """Record -> on-disk row (meta as sorted JSON)."""
    row = dict(record)
    row["meta"] = json.dumps(record["meta"], ensure_ascii=False, sort_keys=True, default=str)
    return row


def from_row(row: dict[str, Any]) -> Record:
    """On-disk row -> record."""
    rec = dict(row)
    rec["meta"] = json.loads(row["meta"]) if row.get("meta") else {}
    return rec  # type: ignore[return-value]


@dataclass
class StageStats:
    """Counts a stage reports; ``records_in == records_kept + records_quarantined`` always.

    A record a stage rejects is never dropped: it goes to ``data/quarantine/<stage>.jsonl``
    with its rule and reason, so "rejected" and "quarantined" are the same count.
    """

    records_in: int = 0
    records_kept: int = 0
    records_quarantined: int = 0
    quarantined_by_rule: Counter[str] = field(default_factory=Counter)
    changed_by_rule: Counter[str] = field(default_factory=Counter)

    def merge(self, other: StageStats) -> None:
        self.records_in += other.records_in
        self.records_kept += other.records_kept
        self.records_quarantined += other.records_quarantined
        self.quarantined_by_rule.update(other.quarantined_by_rule)
        self.changed_by_rule.update(other.changed_by_rule)

    def check_balance(self, stage: str) -> None:
        if self.records_in != self.records_kept + self.records_quarantined:
            raise AssertionError(
                f"{stage}: records in ({self.records_in}) != kept ({self.records_kept}) + "
                f"quarantined ({self.records_quarantined}); a record was lost"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_kept": self.records_kept,
            "records_quarantined": self.records_quarantined,
            "quarantined_by_rule": dict(sorted(self.quarantined_by_rule.items())),
            "changed_by_rule": dict(sorted(self.changed_by_rule.items())),
        }


#: what a ledger line's ``action`` says happened to the record it names
#: the pipeline's stages in order, named as in dvc.yaml, params.yaml, stages/ and the packages
STAGES = (
    "synth",
    "ingest",
    "scrub_pii",
    "clean",
    "validate",
    "audit_data",
    "augment",
    "split",
    "train",
    "evaluate",
    "card",
)

LEDGER_ACTIONS = ("normalized", "quarantined", "scrubbed", "added", "moved", "planted")
#: what ``metrics/<stage>.json`` and the reports of scrub_pii and clean say (as ``gold_status``)
#: where a run has no gold labels to score against: ``synth.enabled: false``, or records that
#: carry no gold id (the user's own data)
NO_GOLD = "no gold labels"
#: the task family of a record whose ``meta`` names none: one group like any family, wherever
#: records are grouped by family (evaluate's metrics and predictions, model fairness, review)
NO_FAMILY = "(no family)"
#: the books' keys in ``metrics/<stage>.json`` (:meth:`StageStats.as_dict`)
BOOK_KEYS = frozenset(StageStats().as_dict())

#: one line of ``data/ledger/<stage>.jsonl`` (:func:`ledger_line`)
LedgerLine = dict[str, Any]
#: one line of ``data/quarantine/<stage>.jsonl`` (:func:`quarantine_entry`)
QuarantineEntry = dict[str, Any]
#: the content of ``metrics/<stage>.json`` (:func:`stage_metrics`)
StageMetrics = dict[str, Any]


def _text(name: str, value: Any, *, empty: bool = False) -> None:
    if not isinstance(value, str) or (not empty and not value):
        raise ValueError(f"{name} must be a {'' if empty else 'non-empty '}string, got {value!r}")


def ledger_line(
    *, id: str | None, stage: str, action: str, rule: str, reason: str, **extra: Any
) -> LedgerLine:
    """One line of a stage's ledger: what happened to which record, by which rule, and why.

    Keys: ``id, stage, action, rule, reason``, then ``extra`` in the order given (the fields
    of one stage: source and line, fields, entities, to_split, canary, copy, ...). ``id`` is
    None only for a row that never became a record (ingest's quarantined rows: ``source`` and
    ``line`` say where it was). Files hold the keys sorted (:func:`provena.io.dumps_line`).
    """
    if id is not None and not isinstance(id, str):
        raise ValueError(f"ledger line id must be a string or None, got {id!r}")
    _text("ledger line stage", stage)
    if action not in LEDGER_ACTIONS:
        raise ValueError(f"ledger line action {action!r} is not one of {LEDGER_ACTIONS}")
    _text("ledger line rule", rule)
    _text("ledger line reason", reason)
    if id is None and action != "quarantined":
        raise ValueError(f"a ledger line without an id must be 'quarantined', not {action!r}")
    return {"id": id, "stage": stage, "action": action, "rule": rule, "reason": reason, **extra}


def quarantine_entry(
    *, stage: str, source: str, rule: str, reason: str, **extra: Any
) -> QuarantineEntry:
    """One line of a stage's quarantine file: a rejected row or record, kept with its rule.

    Keys: ``stage, source, rule, reason``, then ``extra`` in the order given: where the row
    was (``line`` of the source file, or ``id`` and ``row``), and the row itself (``record``,
    or ``raw`` text where it did not parse; scrub_pii withholds the text and keeps the
    ``entities`` found). Files hold the keys sorted (:func:`provena.io.dumps_line`).
    """
    _text("quarantine entry stage", stage)
    _text("quarantine entry source", source, empty=True)
    _text("quarantine entry rule", rule)
    _text("quarantine entry reason", reason)
    return {"stage": stage, "source": source, "rule": rule, "reason": reason, **extra}


def stage_metrics(stage: str, stats: StageStats | None = None, **extra: Any) -> StageMetrics:
    """The content of ``metrics/<stage>.json``: ``stage``, the books (when the stage keeps
    records: ``stats``, checked to balance) and the stage's own figures, in the order given.

    A stage's figures may not overwrite the books: that raises, as does a record lost
    (``records_in != records_kept + records_quarantined``).
    """
    _text("metrics stage", stage)
    out: StageMetrics = {"stage": stage}
    if stats is not None:
        stats.check_balance(stage)
        clash = sorted(BOOK_KEYS & extra.keys())
        if clash:
            raise ValueError(f"{stage}: metrics {clash} would overwrite the books")
        out.update(stats.as_dict())
    out.update(extra)
    return out


@dataclass
class StageResult:
    """What every stage core returns.

    A record stage's core (ingest, scrub_pii, clean, augment, split) returns, for the records
    it was given: the records ``kept`` (in output order), the ``rejected`` ones as quarantine
    entries, the ``ledger`` lines and the ``stats`` (the books of the records it was given).
    Its ``run()`` writes these to the stage's files, a batch at a time, and adds up the books.

    A stage whose product is not records (validate, audit_data, train, evaluate, card) keeps
    empty books and returns its product as the ``report`` (the validation results, the audit,
    the evaluation's fairness and privacy reports, the model card) and its ``metrics`` (what
    ``metrics/<stage>.json`` holds; split's in-memory core returns them too). ``detail`` holds
    what one stage needs besides (scrub_pii's PII counts of the batch, split's records by
    split and its plan, augment's children skipped as copies).
    """

    kept: list[Record] = field(default_factory=list)
    rejected: list[QuarantineEntry] = field(default_factory=list)
    ledger: list[LedgerLine] = field(default_factory=list)
    stats: StageStats = field(default_factory=StageStats)
    metrics: StageMetrics | None = None
    report: dict[str, Any] | None = None
    detail: Any = None
