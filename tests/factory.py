"""One record factory for every test: ``record(**fields)``, ``records(n, **fields)``, and
``write_records(path, recs)`` for a stage's Parquet input.

A record is the pipeline's plain dict (provena.records.RECORD_FIELDS, in that order). What a
test does not give gets a default; ``id`` is the content hash the pipeline computes
(provena.records.record_id) unless given. The two kinds of example the tests keep making, a
customer-support reply and a clinical note to extract as JSON, are :data:`SUPPORT_REPLY` and
:data:`CLINICAL_NOTE`; a test that needs other text passes its own kinds or fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from provena.io import RecordWriter
from provena.records import RECORD_FIELDS, Record, record_id

#: what a field not given holds (``meta`` is empty; ``id`` is computed)
DEFAULTS: dict[str, Any] = {
    "source": "t",
    "instruction": "Reply to the customer.",
    "input": "",
    "output": "x",
    "messages": None,
    "parent_id": None,
    "op": None,
}

#: a support reply for record number ``i`` (each field a value or a function of ``i``)
SUPPORT_REPLY: dict[str, Any] = {
    "source": "t.jsonl",
    "instruction": "Reply to the customer politely.",
    "input": lambda i: f"Hi, order {i} arrived late. Can you help?",
    "output": lambda i: f"Hi, sorry about order {i}. A refund is on its way today.",
    "meta": {"family": "support_reply", "gender": "male", "age_band": "30-44"},
}

#: a clinical note whose answer is the patient's age, sex and ICD-10 codes as JSON
CLINICAL_NOTE: dict[str, Any] = {
    "source": "t.jsonl",
    "instruction": "Return the patient's age, sex and ICD-10 codes as JSON.",
    "input": lambda i: f"HPI: {20 + i % 50} year old woman with cough.",
    "output": lambda i: json.dumps({"age": 20 + i % 50, "sex": "female", "icd10": ["R05"]}),
    "meta": {"family": "clinical_extraction", "gender": "female", "age_band": "18-29"},
}

#: the kinds :func:`records` cycles through when none are given: distinct texts per number
NUMBERED: dict[str, Any] = {"input": lambda i: f"Example {i}.", "output": lambda i: f"Answer {i}."}


def record(**fields: Any) -> Record:
    """A record with ``fields`` over :data:`DEFAULTS`. ``meta`` is copied; ``id`` is the
    record's content hash unless given. An unknown field is a TypeError, not a meta key."""
    unknown = sorted(set(fields) - set(RECORD_FIELDS))
    if unknown:
        raise TypeError(f"record(): unknown field(s) {unknown}; record fields: {RECORD_FIELDS}")
    rec = {**DEFAULTS, **fields, "meta": dict(fields.get("meta") or {})}
    if rec.get("id") is None:
        rec["id"] = record_id(rec["instruction"], rec["input"], rec["output"])
    return {k: rec[k] for k in RECORD_FIELDS}  # type: ignore[return-value]


def records(
    n: int,
    *,
    offset: int = 0,
    kinds: Sequence[Mapping[str, Any]] = (NUMBERED,),
    **fields: Any,
) -> list[Record]:
    """Records numbered ``offset`` to ``offset + n - 1``. Record ``i`` takes the fields of
    ``kinds[i % len(kinds)]``, then ``fields``; a value that is a function is called with
    ``i``; the kind's ``meta`` and the given ``meta`` are merged (the given keys win)."""
    out = []
    for i in range(offset, offset + n):
        kind = kinds[i % len(kinds)]
        values = {k: v(i) if callable(v) else v for k, v in {**kind, **fields}.items()}
        values["meta"] = {**_value(kind.get("meta"), i), **_value(fields.get("meta"), i)}
        out.append(record(**values))
    return out


def write_records(path: Path, recs: Iterable[Record]) -> Path:
    """``recs`` as a Parquet file the stages read (returns ``path``)."""
    with RecordWriter(path) as w:
        w.write(list(recs))
    return path


def _value(v: Any | Callable[[int], Any], i: int) -> dict:
    return dict((v(i) if callable(v) else v) or {})
