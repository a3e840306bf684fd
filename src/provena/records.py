"""The record schema every stage reads and writes, and the books each stage keeps.

A record is a plain ``dict`` with the fields of :data:`RECORD_FIELDS`; ``meta`` is a dict in
memory and a JSON string on disk (its keys differ between sources, so a fixed Parquet struct
would not fit every dataset). Plain dicts keep stage cores cheap to call from a process pool
or a Ray ``map_batches`` function.
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


@dataclass
class StageResult:
    """What a stage core returns: records kept, quarantine entries, ledger lines and counts."""

    kept: list[Record] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    stats: StageStats = field(default_factory=StageStats)
