"""scrub_pii: find PII in every record, replace it, check nothing survived, report.

The core, :func:`scrub_batch`, takes records and a :class:`Scrubber` (a detector per PII
profile in use and the anonymizer, built once per process) and returns a
:class:`~provena.records.StageResult`:
scrubbed records, quarantine entries, ledger lines and counts, with the batch's PII counts
(:class:`PiiStats`) as its ``detail``.
:func:`run` streams the ingest output through the executor (a pool of worker processes, or
Ray Data actors that each load the models once) and writes the records, ledger, quarantine,
metrics and the PII report. No raw PII value leaves this stage:
the ledger holds entity type, field, offsets and a keyed hash; reports show scrubbed text.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
import json
import logging
import re
import sys
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from provena.config import ExecutorConfig, ScrubPiiConfig, meta_labels
from provena.executor import LOCAL, map_batches
from provena.io import (
    LinesWriter,
    RecordWriter,
    atomic_open,
    check_columns,
    read_jsonl,
    read_records,
    read_rows,
    table_columns,
    write_json,
    write_rows,
)
from provena.ledger_key import KEYED_BY_SALT, KEYED_BY_SEED, key_check, ledger_hash
from provena.pii.clinical import AgeOver89Recognizer
from provena.pii.engine import Detection, PiiDetector
from provena.pii.general import public_names_in_record
from provena.pii.operators import Anonymizer, keyed_hash
from provena.pii.scoring import GoldSpan, PiiScore
from provena.pii.settings import detector, profile_for, secret_key
from provena.placed import PlacedWriter
from provena.progress import progress
from provena.records import (
    NO_GOLD,
    TEXT_FIELDS,
    Message,
    Record,
    StageResult,
    StageStats,
    ledger_line,
    quarantine_entry,
    stage_metrics,
)
from provena.scrub_pii.report import FieldView, Review, field_label, render_html

STAGE = "scrub_pii"
log = logging.getLogger(__name__)
SCORE_BINS = (0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass
class PiiStats:
    by_type_field: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    by_operator: collections.Counter[str] = field(default_factory=collections.Counter)
    by_recognizer: collections.Counter[str] = field(default_factory=collections.Counter)
    score_bins: collections.Counter[str] = field(default_factory=collections.Counter)
    records_with_pii: int = 0
    residual_records: int = 0
    residual_by_type: collections.Counter[str] = field(default_factory=collections.Counter)
    meta_dropped: int = 0
    meta_hashed: int = 0
    #: free-text meta values scrubbed, and those left as they are (a label's), by top-level key
    meta_free_text: collections.Counter[str] = field(default_factory=collections.Counter)
    meta_free_text_kept: collections.Counter[str] = field(default_factory=collections.Counter)
    gold: PiiScore = field(default_factory=PiiScore)
    gold_records: int = 0
    review: Review | None = None  # the report's sample and near-threshold detections
    #: where the replacements stand in the kept records' text fields, (id, field, start, end,
    #: entity type, operator): the batch's rows of the surrogates file, written by :func:`run`
    #: in input order and not added up by :meth:`merge`
    placed: list[tuple[str, str, int, int, str, str]] = field(default_factory=list)

    def merge(self, o: PiiStats) -> None:
        for name in (
            "by_type_field",
            "by_operator",
            "by_recognizer",
            "score_bins",
            "residual_by_type",
            "meta_free_text",
            "meta_free_text_kept",
        ):
            getattr(self, name).update(getattr(o, name))
        for name in (
            "records_with_pii",
            "residual_records",
            "meta_dropped",
            "meta_hashed",
            "gold_records",
        ):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        self.gold.merge(o.gold)
        if self.review is not None and o.review is not None:
            self.review.merge(o.review)


class Scrubber:
    """Detectors (one per profile in use, built when first needed) + anonymizer for one
    process. ``profile`` forces one profile for every record; else each record gets the
    profile of its source (:func:`provena.pii.settings.profile_for`). ``labels``: the meta
    keys other stages read as labels, whose free text is kept (default:
    :func:`provena.config.meta_labels` of the library defaults)."""

    def __init__(
        self, cfg: ScrubPiiConfig, profile: str | None = None, labels: Iterable[str] | None = None
    ):
        self.cfg = cfg
        self.profile = profile
        self.labels = meta_labels() if labels is None else frozenset(labels)
        self.key, salt = secret_key(cfg)
        self._detectors: dict[str, PiiDetector] = {}
        self.anonymizer = Anonymizer(
            cfg.operators,
            key=self.key,
            salt=salt,
            mask_char=cfg.mask_char,
            mask_keep_last=cfg.mask_keep_last,
        )

    def detector_for(self, profile: str) -> PiiDetector:
        if profile not in self._detectors:
            self._detectors[profile] = detector(self.cfg, profile)
        return self._detectors[profile]

    def profile_of(self, source: str | None) -> str:
        return self.profile or profile_for(self.cfg, source)

    def detect(self, texts: list[str], profiles: list[str]) -> list[list[Detection]]:
        """Detections per text, each text with its own profile."""
        return self.detect_with_near(texts, profiles)[0]

    def detect_with_near(
        self, texts: list[str], profiles: list[str]
    ) -> tuple[list[list[Detection]], list[list[Detection]]]:
        """(detections, near-threshold detections) per text, each text with its own profile
        (see :meth:`provena.pii.engine.PiiDetector.detect_with_near`)."""
        out: list[list[Detection]] = [[] for _ in texts]
        near: list[list[Detection]] = [[] for _ in texts]
        for profile in sorted(set(profiles)):
            idx = [i for i, p in enumerate(profiles) if p == profile]
            found, close = self.detector_for(profile).detect_with_near([texts[i] for i in idx])
            for i, dets, nd in zip(idx, found, close, strict=True):
                out[i], near[i] = dets, nd
        return out, near

    def spans(self, dets: Iterable[Detection]) -> list[tuple[int, int, str, float, str]]:
        """Detections merged by :func:`merge_spans` with this configuration's operators."""
        return merge_spans(dets, operator_for=self.anonymizer.operator_for)


#: How much each operator removes: when detections of one value call for different operators,
#: the one that removes more wins (see :func:`merge_spans`).
OPERATOR_PRECEDENCE = {
    "redact": 5,
    "placeholder": 4,
    "hash": 3,
    "mask": 2,
    "surrogate": 1,
    "keep": 0,
}


def merge_spans(
    dets: Iterable[Detection], *, operator_for: Callable[[str], str]
) -> list[tuple[int, int, str, float, str]]:
    """Overlapping detections become one span (their union). Its type is decided by this
    precedence: first the type whose operator (``operator_for``) removes more
    (:data:`OPERATOR_PRECEDENCE`: redact, placeholder, hash, mask, surrogate, keep), then the
    higher score. So a type whose operator is 'keep' never wins over one that replaces (safety
    first)."""

    def rank(entity_type: str) -> int:
        return OPERATOR_PRECEDENCE.get(operator_for(entity_type), 1)

    out: list[list[Any]] = []
    for d in sorted(dets, key=lambda d: (d.start, -d.end)):
        if out and d.start < out[-1][1]:
            last = out[-1]
            last[1] = max(last[1], d.end)
            if (rank(d.entity_type), d.score) > (rank(last[2]), last[3]):
                last[2], last[3], last[4] = d.entity_type, d.score, d.recognizer
        else:
            out.append([d.start, d.end, d.entity_type, d.score, d.recognizer])
    return [tuple(x) for x in out]  # type: ignore[misc]


def one_operator_per_value(
    fields: list[list[tuple[int, int, str, float, str]]],
    texts: list[str],
    operator_for: Callable[[str], str],
) -> list[list[tuple[int, int, str, float, str]]]:
    """A value detected twice in one record with types whose operators differ ('American' as
    NRP, kept, and as ORGANIZATION, replaced) takes, everywhere in the record, the type that
    wins by :func:`merge_spans`'s precedence. Else the value would be kept in one place and
    replaced in another, and the residual scan would quarantine the record for it."""
    best: dict[str, tuple[int, float, str, str]] = {}
    for spans, text in zip(fields, texts, strict=True):
        for s, e, t, sc, rec in spans:
            cand = (OPERATOR_PRECEDENCE.get(operator_for(t), 1), sc, t, rec)
            value = text[s:e]
            if value not in best or cand[:2] > best[value][:2]:
                best[value] = cand
    out = []
    for spans, text in zip(fields, texts, strict=True):
        fixed = []
        for s, e, t, sc, rec in spans:
            _, bsc, bt, brec = best[text[s:e]]
            if operator_for(bt) != operator_for(t):
                t, sc, rec = bt, bsc, brec
            fixed.append((s, e, t, sc, rec))
        out.append(fixed)
    return out


def _texts(rec: Record, fields: list[str]) -> list[tuple[str, str]]:
    """(field name, text) pairs to scrub in one record."""
    out = [(f, rec[f]) for f in ("instruction", "input", "output") if f in fields and rec[f]]  # type: ignore[literal-required]
    if "messages" in fields and rec.get("messages"):
        out.extend(
            (f"messages[{i}]", m["content"])
            for i, m in enumerate(rec["messages"] or [])
            if m["content"]
        )
    return out


# ---------------------------------------------------------------- meta: labels and free text

#: columns of a file that name a row rather than say something about it: ``provena scrub``
#: leaves them as they are (``source`` also picks the row's profile), as the stage leaves a
#: record's id, source, parent and operation
ROW_KEYS = frozenset({"id", "source", "parent_id", "op"})


def meta_keep(cfg: ScrubPiiConfig, labels: Iterable[str] = ()) -> frozenset[str]:
    """Meta keys (or dotted paths) whose free text is left as it is: ``labels``
    (:func:`provena.config.meta_labels`), the gold key, ``scrub_pii.meta.keep``, and the keys
    that ``scrub_pii.meta`` drops or hashes (their own rule)."""
    meta = cfg.meta
    return frozenset({cfg.gold_key, *meta.keep, *meta.drop, *meta.hash, *labels})


def is_free_text(value: str, max_chars: int) -> bool:
    """A meta string is free text when, stripped, it holds whitespace or is longer than
    ``max_chars`` (``scrub_pii.meta.free_text_chars``): 'Ann Lee wrote back', a long e-mail or
    URL, a sentence in a script written without spaces; not 'open_qa', 'female', '45-64'."""
    text = value.strip()
    return len(text) > max_chars or any(c.isspace() for c in text)


@dataclass(frozen=True)
class MetaText:
    """One free-text value found in meta."""

    field: str  # its name in the ledger, spans and report: 'meta.answer_b', 'meta.turns[0].text'
    path: tuple[str | int, ...]  # its place in the meta dict (keys and list indices)
    text: str
    kept: bool  # under a kept key (a label's): counted, not scrubbed


def free_texts(
    meta: dict[str, Any], keep: Collection[str], max_chars: int, name: str = "meta"
) -> list[MetaText]:
    """Every free-text string in ``meta``, nested dicts and lists included, in order. A value
    is named by its dotted path after ``name`` (list items by index: ``meta.turns[1].text``);
    it is kept when its top-level key, or a dotted path above it (``judge.comment``), is in
    ``keep``. Numbers, booleans and nulls are never text."""
    out: list[MetaText] = []

    def walk(value: Any, label: str, rel: str, path: tuple[str | int, ...], kept: bool) -> None:
        kept = kept or rel in keep
        if isinstance(value, str):
            if is_free_text(value, max_chars):
                out.append(MetaText(label, path, value, kept))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{label}.{k}", f"{rel}.{k}", (*path, k), kept)
        elif isinstance(value, list):
            for j, v in enumerate(value):
                walk(v, f"{label}[{j}]", f"{rel}[{j}]", (*path, j), kept)

    for k, v in meta.items():
        walk(v, f"{name}.{k}" if name else str(k), str(k), (k,), False)
    return out


def _prepare_meta(
    meta: dict[str, Any], scrubber: Scrubber, stats: PiiStats, name: str = "meta"
) -> tuple[dict[str, Any], list[MetaText]]:
    """``meta`` with ``scrub_pii.meta`` drop and hash applied (a new dict, deep-copied where a
    free-text value will be written back), and its free-text values to scrub."""
    cfg = scrubber.cfg
    out = _scrub_meta(meta, cfg, scrubber.key, stats)
    keep = meta_keep(cfg, scrubber.labels)
    texts = []
    for m in free_texts(out, keep, cfg.meta.free_text_chars, name):
        if m.kept:
            stats.meta_free_text_kept[str(m.path[0])] += 1
        else:
            stats.meta_free_text[str(m.path[0])] += 1
            texts.append(m)
    return (copy.deepcopy(out) if texts else out), texts


def _set_at(meta: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = meta
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def scrub_batch(
    records: list[Record],
    scrubber: Scrubber,
    gold: dict[tuple[str, str], list[GoldSpan]] | None = None,
) -> StageResult:
    """Scrub a batch of records. Pure apart from the scrubber's models: no file I/O.

    The result's ``detail`` is the batch's :class:`PiiStats` (what the PII report adds up)."""
    cfg = scrubber.cfg
    review = Review.for_config(cfg)
    stats = PiiStats(review=review)
    result = StageResult(detail=stats)
    pairs = [(i, f, t) for i, rec in enumerate(records) for f, t in _texts(rec, cfg.fields)]
    # free-text meta values are scrubbed like the text fields, named 'meta.<key>'
    metas = [_prepare_meta(rec["meta"], scrubber, stats) for rec in records]
    pairs += [(i, m.field, m.text) for i, (_, texts) in enumerate(metas) for m in texts]
    profiles = [scrubber.profile_of(records[i].get("source")) for i, _, _ in pairs]
    detections, near = scrubber.detect_with_near([t for _, _, t in pairs], profiles)
    near_at = {(i, f): nd for (i, f, _), nd in zip(pairs, near, strict=True)}
    per_record: dict[int, list[tuple[str, str, list[Detection]]]] = collections.defaultdict(list)
    for (i, f, t), dets in zip(pairs, detections, strict=True):
        per_record[i].append((f, t, dets))
    for i, items in per_record.items():
        if scrubber.profile_of(records[i].get("source")) == "general":
            kept = public_names_in_record([t for _, t, _ in items], [d for _, _, d in items])
            items = [(f, t, d) for (f, t, _), d in zip(items, kept, strict=True)]
        per_record[i] = _same_value_elsewhere(items, scrubber)
    for i, rec in enumerate(records):
        result.stats.records_in += 1
        new = dict(rec)
        new_messages = [dict(m) for m in rec["messages"]] if rec.get("messages") else None
        entities, originals, leftovers = [], [], []
        placed: list[tuple[str, str, int, int, str, str]] = []
        views: list[FieldView] = []  # what the report's sample may show
        gold_id = str(rec["meta"].get(cfg.gold_key, "")) if gold is not None else ""
        items = per_record.get(i, [])
        merged = one_operator_per_value(
            [scrubber.spans(dets) for _, _, dets in items],
            [text for _, text, _ in items],
            scrubber.anonymizer.operator_for,
        )
        meta, meta_texts = metas[i]
        meta_paths = {m.field: m.path for m in meta_texts}
        for (f, text, dets), spans in zip(items, merged, strict=True):
            if gold_id and f in GoldSet.FIELDS:  # gold spans are in the text fields only
                gold_spans = gold.get((gold_id, f), [])  # type: ignore[union-attr]
                stats.gold.add(text, gold_spans, dets)
            for s, e, etype, score, recognizer in spans:
                op = scrubber.anonymizer.operator_for(etype)
                value = text[s:e]
                entities.append(
                    {
                        "field": f,
                        "start": s,
                        "end": e,
                        "entity_type": etype,
                        "score": score,
                        "recognizer": recognizer,
                        "operator": op,
                        "hash": ledger_hash(scrubber.key, value, etype),
                    }
                )
                stats.by_type_field[(etype, f)] += 1
                stats.by_operator[op] += 1
                stats.by_recognizer[recognizer] += 1
                stats.score_bins[_bin(score)] += 1
                if op != "keep":
                    originals.append((etype, value))
            scrubbed, items = scrubber.anonymizer.anonymize_with_items(
                text, [(s, e, t, sc) for s, e, t, sc, _ in spans]
            )
            ranges = [(s, e) for s, e, _ in items]
            if f in TEXT_FIELDS:
                for s, e, t in items:
                    op = scrubber.anonymizer.operator_for(t)
                    if op != "keep":
                        placed.append((rec["id"], f, s, e, t, op))
            labelled = gold.get((gold_id, f), []) if gold_id else []  # type: ignore[union-attr]
            near_f = review.near_outside(near_at[(i, f)], spans)
            views.append(
                FieldView(f, field_label(rec, f), text, spans, scrubbed, ranges, near_f, labelled)
            )
            replaced = [
                (s, e) for s, e, t, _, _ in spans if scrubber.anonymizer.operator_for(t) != "keep"
            ]
            leftovers.append(_outside(text, replaced))
            if f in meta_paths:
                _set_at(meta, meta_paths[f], scrubbed)
            elif f.startswith("messages"):
                new_messages[int(f[9:-1])]["content"] = scrubbed  # type: ignore[index]
            else:
                new[f] = scrubbed
        if gold_id:
            stats.gold_records += 1
        new["messages"] = (
            [Message(role=m["role"], content=m["content"]) for m in new_messages]
            if new_messages
            else None
        )
        new["meta"] = meta
        # residual scan: no detected original value may survive in the text left unreplaced,
        # in any field of the record (surrogates are new text and do not count)
        haystack = "\0".join(leftovers)
        survivors = sorted({t for t, v in originals if _survives(t, v, haystack)})
        if entities:
            stats.records_with_pii += 1
        profile = scrubber.profile_of(rec.get("source"))
        review.add_record(rec["id"], rec["source"], profile, views, kept=not survivors)
        if survivors:
            stats.residual_records += 1
            stats.residual_by_type.update(survivors)
            result.stats.records_quarantined += 1
            result.stats.quarantined_by_rule["residual_pii"] += 1
            # the text is withheld: it still holds PII. The source row is in the ingest output.
            result.rejected.append(
                quarantine_entry(
                    stage=STAGE,
                    source=rec["source"],
                    rule="residual_pii",
                    reason=f"a detected value survived scrubbing ({', '.join(survivors)}); "
                    "text withheld",
                    id=rec["id"],
                    entities=entities,
                )
            )
            result.ledger.append(
                ledger_line(
                    id=rec["id"],
                    stage=STAGE,
                    action="quarantined",
                    rule="residual_pii",
                    reason="a detected value survived scrubbing",
                    entities=entities,
                )
            )
            continue
        result.stats.records_kept += 1
        result.kept.append(new)  # type: ignore[arg-type]
        stats.placed += placed
        if entities:
            result.stats.changed_by_rule["pii"] += 1
            counts = collections.Counter(e["entity_type"] for e in entities)
            result.ledger.append(
                ledger_line(
                    id=rec["id"],
                    stage=STAGE,
                    action="scrubbed",
                    rule="pii",
                    reason=", ".join(f"{n} {t}" for t, n in sorted(counts.items())),
                    entities=entities,
                )
            )
    return result


def _same_value_elsewhere(
    items: list[tuple[str, str, list[Detection]]], scrubber: Scrubber
) -> list[tuple[str, str, list[Detection]]]:
    """A value found in one place is PII wherever it appears in the same record: 'Lee' in
    the note and, undetected, in the reply."""
    values: dict[str, Detection] = {}
    ages: dict[str, Detection] = {}
    for _, text, dets in items:
        for d in dets:
            value = text[d.start : d.end]
            if scrubber.anonymizer.operator_for(d.entity_type) == "keep":
                continue
            if len(value.strip()) >= 3:
                values.setdefault(value, d)
            elif d.entity_type == "AGE_OVER_89":
                ages.setdefault(value, d)  # '91' only where an age is meant: '"age": 91'
    for _, text, dets in items:
        for value, d in ages.items():
            for m in _AGE_AFTER_WORD.finditer(text):
                if m.group(1) != value:
                    continue
                if not any(x.start < m.end(1) and m.start(1) < x.end for x in dets):
                    dets.append(
                        Detection(m.start(1), m.end(1), d.entity_type, d.score, "SameValueInRecord")
                    )
    if not values:
        return items
    out = []
    for f, text, dets in items:
        extra = []
        for value, d in values.items():
            start = text.find(value)
            while start >= 0:
                end = start + len(value)
                bounded = (start == 0 or not text[start - 1].isalnum()) and (
                    end == len(text) or not text[end].isalnum()
                )
                if bounded and not any(x.start < end and start < x.end for x in dets):
                    extra.append(Detection(start, end, d.entity_type, d.score, "SameValueInRecord"))
                start = text.find(value, end)
        out.append((f, text, dets + extra))
    return out


def _outside(text: str, spans: list[tuple[int, int]]) -> str:
    parts, pos = [], 0
    for s, e in sorted(spans):
        parts.append(text[pos:s])
        pos = max(pos, e)
    parts.append(text[pos:])
    return "\0".join(parts)


#: an age written after the word: 'age: 92', '"age": 92' (the recognizer finds '92 y/o')
_AGE_AFTER_WORD = re.compile(r"(?i)\bage\W{0,4}(\d+)(?!\w)")


def _ages_in(text: str) -> set[str]:
    """Every age over 89 that ``text`` states: what the clinical recognizer finds, and ages
    after the word 'age' (JSON fields)."""
    found = {m.group(1) for m in _AGE_AFTER_WORD.finditer(text)}
    found.update(text[a:b] for a, b in AgeOver89Recognizer.spans(text))
    return found


def _survives(entity_type: str, value: str, text: str) -> bool:
    """Whether a detected original ``value`` still stands in the unreplaced ``text``.

    An age over 89 is a bare number ('92'): elsewhere in a note the same digits are a pulse,
    a saturation or part of a code ('HR 92', 'SpO2 92%', 'L03.90'), so it counts as surviving
    only where it is still an age ('92 y/o', 'aged 92', '"age": 92')."""
    if entity_type == "AGE_OVER_89":
        return value in _ages_in(text)
    return len(value.strip()) >= 2 and _bounded_in(value, text)


def _bounded_in(value: str, text: str) -> bool:
    start = text.find(value)
    while start >= 0:
        end = start + len(value)
        if (start == 0 or not text[start - 1].isalnum()) and (
            end == len(text) or not text[end].isalnum()
        ):
            return True
        start = text.find(value, start + 1)
    return False


def _bin(score: float) -> str:
    lo = 0.0
    for hi in SCORE_BINS:
        if score < hi:
            return f"{lo:.2f}-{min(hi, 1.0):.2f}"
        lo = hi
    return "1.00"


def _scrub_meta(
    meta: dict[str, Any], cfg: ScrubPiiConfig, key: bytes, stats: PiiStats
) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        if k in cfg.meta.drop:
            stats.meta_dropped += 1
        elif k in cfg.meta.hash and v is not None:
            out[k] = keyed_hash(key, str(v))
            stats.meta_hashed += 1
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------- per-worker state (executor)


def _setup(cfg: ScrubPiiConfig, labels: frozenset[str] | None = None) -> Scrubber:
    """What each worker (process or Ray actor) builds once: the models are the slow part."""
    return Scrubber(cfg, labels=labels)


#: gold spans of one batch, by (record id, field): what :func:`scrub_batch` scores against
GoldIndex = dict[tuple[str, str], list[GoldSpan]]


class GoldSet:
    """Every gold span of the run, packed: per record id, one ``array`` of (field, start, end,
    type) codes. About 70 MB at 200k records (2 million spans), where a dict of lists of span
    objects took ~300 MB; and no object in it is tracked by the garbage collector, so the
    worker processes forked from this one never copy its pages (a collection in a child writes
    to every tracked object it inherited)."""

    FIELDS = ("instruction", "input", "output")

    def __init__(self) -> None:
        self._spans: dict[str, array | bytes] = {}  # bytes once packed (arrays are GC-tracked)
        self._types: list[str] = []
        self._type_code: dict[str, int] = {}

    def add(self, rid: str, field: str, start: int, end: int, entity_type: str) -> None:
        if field not in self.FIELDS:
            return  # messages are not scored (as before): their gold is not kept
        code = self._type_code.get(entity_type)
        if code is None:
            code = self._type_code[entity_type] = len(self._types)
            self._types.append(sys.intern(entity_type))
        packed = self._spans.get(rid)
        if packed is None:
            packed = self._spans[rid] = array("i")
        packed.extend((self.FIELDS.index(field), start, end, code))

    def pack(self) -> GoldSet:
        """Done adding: each record's array becomes bytes, in a new dict (neither is tracked)."""
        self._spans = {rid: bytes(a) for rid, a in self._spans.items()}
        return self

    def _codes(self, rid: str) -> array | None:
        packed = self._spans.get(rid)
        return array("i", packed) if isinstance(packed, bytes) else packed

    def __len__(self) -> int:
        return sum(len(self._codes(rid)) for rid in self._spans) // 4  # type: ignore[arg-type]

    def for_batch(self, ids: Iterable[str]) -> GoldIndex:
        """The spans of these records only, as :func:`scrub_batch` takes them."""
        out: GoldIndex = {}
        for rid in ids:
            packed = self._codes(rid)
            if packed is None:
                continue
            for k in range(0, len(packed), 4):
                f, start, end, code = packed[k : k + 4]
                out.setdefault((rid, self.FIELDS[f]), []).append(
                    GoldSpan(start, end, self._types[code])
                )
        return out


def _work(scrubber: Scrubber, item: tuple[list[Record], GoldIndex | None]) -> StageResult:
    return scrub_batch(item[0], scrubber, item[1])


def _with_gold(
    batches: Iterable[list[Record]], gold: GoldSet | None, cfg: ScrubPiiConfig
) -> Iterator[tuple[list[Record], GoldIndex | None]]:
    """Each batch with the gold spans of its own records only: the whole gold set (2 million
    spans at 200k records) stays in this process instead of being copied to every worker."""
    for batch in batches:
        if gold is None:
            yield batch, None
            continue
        yield batch, gold.for_batch({str(r["meta"].get(cfg.gold_key, "")) for r in batch})


def load_gold(paths: Iterable[Path]) -> GoldSet | None:
    gold = GoldSet()
    found = False
    for p in paths:
        if p.is_file():
            found = True
            for g in read_jsonl(p):
                rid = str(g["synth_id"] if "synth_id" in g else g["id"])
                gold.add(rid, g["field"], int(g["start"]), int(g["end"]), g["entity_type"])
    return gold.pack() if found else None


def run(
    inp: Path,
    cfg: ScrubPiiConfig,
    *,
    out: Path,
    ledger: Path,
    quarantine: Path,
    metrics: Path | None,
    report_json: Path | None,
    report_html: Path | None,
    gold_paths: Iterable[Path] = (),
    executor: ExecutorConfig = LOCAL,
    labels: Iterable[str] | None = None,
    surrogates: Path | None = None,
) -> dict[str, Any]:
    """Scrub a record file; write records, ledger, quarantine, metrics and the PII report.

    ``surrogates``: where to write where each replacement stands in the output's text fields
    (:mod:`provena.placed`; augment swaps the people, places and organisations put in).

    ``executor`` says where the batches are scrubbed (:mod:`provena.executor`); with the local
    kind, ``scrub_pii.workers`` processes. ``labels``: the meta keys other stages read as
    labels, whose free text is kept (default: :func:`provena.config.meta_labels` of the
    library defaults; the stage passes those of its params).
    """
    labels = None if labels is None else frozenset(labels)
    gold = load_gold(gold_paths)
    key, salt = secret_key(cfg)
    if salt is None:
        log.warning(
            "%s is not set: surrogates and ledger hashes are keyed by scrub_pii.surrogate_seed, "
            "which anyone with params.yaml can recompute. Set it for real data.",
            cfg.salt_env,
        )
    stats, totals = PiiStats(review=Review.for_config(cfg)), StageStats()
    # the record count from Parquet metadata: no second pass over the data for the progress bar
    total = pq.ParquetFile(inp).metadata.num_rows if inp.suffix == ".parquet" else None
    bar = progress(total=total, desc=STAGE, unit=" rec", unit_scale=True)
    placed = PlacedWriter(surrogates) if surrogates is not None else contextlib.nullcontext()
    with (
        RecordWriter(out) as rw,
        LinesWriter(ledger) as lw,
        LinesWriter(quarantine) as qw,
        placed as pw,
    ):
        # detection and anonymization run where the executor says; the books, the ledger and
        # the report are kept here, in input order
        results = map_batches(
            _with_gold(read_records(inp, batch_size=cfg.batch_size), gold, cfg),
            _work,
            cfg=executor,
            setup=functools.partial(_setup, cfg, labels),
            workers=cfg.workers,
            records_per_batch=cfg.batch_size,
        )
        # closing: a failure here stops the pool (or Ray) now, not when the generator is freed
        with contextlib.closing(results), bar:
            for res in results:
                rw.write(res.kept)
                lw.write(res.ledger)
                qw.write(res.rejected)
                if pw is not None:
                    pw.write(res.detail.placed)
                res.detail.placed = []
                totals.merge(res.stats)
                stats.merge(res.detail)
                bar.update(res.stats.records_in)
    totals.check_balance(STAGE)
    report = build_report(totals.as_dict(), stats, cfg)
    if metrics is not None:
        # what keyed the ledger's hashes, and a check value that tells whether a key is that
        # one (``provena trained-on VALUE`` reads both); the key itself is never written
        keyed_by = KEYED_BY_SEED if salt is None else KEYED_BY_SALT
        write_json(
            metrics,
            stage_metrics(
                STAGE,
                totals,
                **report["summary"],
                ledger_key=keyed_by,
                ledger_key_check=key_check(key),
            ),
        )
    if report_json is not None:
        write_json(report_json, report)
    if report_html is not None:
        with atomic_open(report_html) as fh:
            fh.write(render_html(report))
    return report


def build_report(books: dict[str, Any], st: PiiStats, cfg: ScrubPiiConfig) -> dict[str, Any]:
    n = books["records_in"]
    residual_rate = st.residual_records / n if n else 0.0
    by_type: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (t, f), c in sorted(st.by_type_field.items()):
        by_type[t][f] = c
    summary = {
        "records_with_pii": st.records_with_pii,
        "pii_entities": sum(st.by_type_field.values()),
        "residual_records": st.residual_records,
        "residual_rate": round(residual_rate, 6),
        "residual_max_rate": cfg.residual_max_rate,
        "residual_verdict": "pass" if residual_rate <= cfg.residual_max_rate else "fail",
    }
    gold = st.gold.as_dict() if st.gold_records else None
    if gold:
        summary.update(
            {
                "gold_precision": gold["precision"],
                "gold_recall": gold["recall"],
                "gold_f2": gold["f2"],
                "gold_missed_share": gold["missed_share"],
            }
        )
    else:  # only then, so that a scored run's metrics keep their bytes
        summary["gold_status"] = NO_GOLD
    return {
        "stage": STAGE,
        "summary": summary,
        "books": books,
        "entities_by_type_and_field": dict(by_type),
        "entities_by_operator": dict(sorted(st.by_operator.items())),
        "entities_by_recognizer": dict(sorted(st.by_recognizer.items())),
        "score_distribution": dict(sorted(st.score_bins.items())),
        "residual_by_type": dict(sorted(st.residual_by_type.items())),
        "meta": {
            "dropped": st.meta_dropped,
            "hashed": st.meta_hashed,
            # free-text values by top-level key: scrubbed, and left as labels
            "free_text": dict(sorted(st.meta_free_text.items())),
            "free_text_kept": dict(sorted(st.meta_free_text_kept.items())),
        },
        "gold_evaluation": gold,
        "gold_records": st.gold_records,
        "operators": dict(cfg.operators),
        **(st.review or Review.for_config(cfg)).as_dict(),
    }


def scrub_texts(
    texts: list[str], scrubber: Scrubber, profiles: list[str] | None = None
) -> list[str]:
    """Scrub free texts, each with its profile (default: the scrubber's)."""
    profiles = profiles or [scrubber.profile_of(None)] * len(texts)
    out = []
    for text, dets in zip(texts, scrubber.detect(texts, profiles), strict=True):
        out.append(
            scrubber.anonymizer.anonymize(
                text, [(s, e, t, sc) for s, e, t, sc, _ in scrubber.spans(dets)]
            )
        )
    return out


@dataclass(frozen=True)
class FileScrub:
    rows: int
    fields: list[str]  # the columns scrubbed whole
    changed: int  # values that had PII replaced (free-text values of other columns included)
    spans: int = 0  # lines written to the spans file
    free_text: int = 0  # free-text values of the other columns, scrubbed by the meta rule
    dropped: int = 0  # values removed by scrub_pii.meta.drop
    hashed: int = 0  # values replaced by scrub_pii.meta.hash


#: The keys of each line of a spans file, in order (see :func:`scrub_file`).
SPAN_KEYS = ("row", "id", "field", "start", "end", "entity_type", "score", "recognizer", "operator")


@dataclass
class _RowMeta:
    """A file row's ``meta`` column, parsed: written back as it came (dict or JSON text)."""

    value: dict[str, Any]
    was_text: bool
    changed: bool


def _meta_column(row: dict[str, Any]) -> dict[str, Any] | None:
    value = row.get("meta")
    if isinstance(value, str) and value.lstrip().startswith("{"):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    return value if isinstance(value, dict) else None


def scrub_file(
    inp: Path,
    out: Path,
    cfg: ScrubPiiConfig,
    *,
    profile: str | None = None,
    fields: Sequence[str] | None = None,
    spans: Path | None = None,
    labels: Iterable[str] | None = None,
) -> FileScrub:
    """Scrub the text columns of one JSONL, CSV or Parquet file (``provena scrub``) with the
    stage's engine and params, into ``out`` (same formats).

    ``profile`` applies one profile to every row; without it each row gets the profile of its
    ``source`` column (``scrub_pii.profiles``), else ``scrub_pii.profile``. ``fields``: the
    columns scrubbed whole (default: instruction, input and output where present, else every
    column that holds only text). Every other column is treated like the stage's ``meta``, and
    so are the keys of a ``meta`` column (an object, or JSON text of one, as record files hold
    it): ``scrub_pii.meta`` drop and hash apply, and free-text values (:func:`is_free_text`,
    nested ones too) are scrubbed, except under ``labels`` (default:
    :func:`provena.config.meta_labels` of the library defaults), the keys :func:`meta_keep`
    adds and the columns of :data:`ROW_KEYS`. ``spans``: a JSONL
    file with one line per applied detection (operator other than 'keep'), keys
    :data:`SPAN_KEYS`: ``row`` (0-based input row), ``id`` (the row's ``id``, or null),
    ``field`` (the column, or the dotted path of a nested value: ``meta.answer_b``),
    ``start`` and ``end`` (character offsets into the input text, end exclusive),
    ``entity_type``, ``score``, ``recognizer``, ``operator``. The value itself is never
    written.
    """
    rows = read_rows(inp)
    if fields:
        fields = check_columns(inp, rows, fields)
    else:
        columns = table_columns(rows)
        fields = [c for c in ("instruction", "input", "output") if c in columns] or [
            c for c in columns if all(isinstance(r.get(c), str | None) for r in rows)
        ]
    scrubber = Scrubber(cfg, profile, labels)
    stats = PiiStats()
    op = scrubber.anonymizer.operator_for
    changed = written = 0
    bar = progress(total=len(rows), desc="scrub", unit=" row", unit_scale=True)
    with contextlib.ExitStack() as stack:
        # keys in SPAN_KEYS order, as documented (the ledger's writer sorts them)
        sw = stack.enter_context(atomic_open(spans)) if spans is not None else None
        for start in range(0, len(rows), cfg.batch_size):
            part = range(start, min(len(rows), start + cfg.batch_size))
            # (row, field name, text, where to write: None for a column scrubbed whole, else
            # the path in the row (other columns) or in its parsed meta column)
            cells: list[tuple[int, str, str, tuple[str | int, ...] | None, bool]] = [
                (i, f, rows[i][f], None, False)
                for i in part
                for f in fields
                if isinstance(rows[i].get(f), str)
            ]
            metas: dict[int, _RowMeta] = {}
            for i in part:
                cells += _prepare_row(rows[i], i, fields, scrubber, stats, metas)
            texts = [text for _, _, text, _, _ in cells]
            profiles = [scrubber.profile_of(_source(rows[i])) for i, *_ in cells]
            found = scrubber.detect(texts, profiles)
            by_row: dict[int, list[int]] = collections.defaultdict(list)
            for k, (i, *_) in enumerate(cells):
                by_row[i].append(k)
            for i, ks in by_row.items():
                merged = one_operator_per_value(
                    [scrubber.spans(found[k]) for k in ks], [texts[k] for k in ks], op
                )
                lines = []
                for k, kept in zip(ks, merged, strict=True):
                    _, field_name, text, path, in_meta = cells[k]
                    new = scrubber.anonymizer.anonymize(
                        text, [(s, e, t, sc) for s, e, t, sc, _ in kept]
                    )
                    changed += new != text
                    if path is None:
                        rows[i][field_name] = new
                    elif in_meta:
                        _set_at(metas[i].value, path, new)
                        metas[i].changed |= new != text
                    else:
                        _set_at(rows[i], path, new)
                    for s, e, t, sc, rec in kept:
                        if op(t) == "keep":
                            continue
                        values = (i, _row_id(rows[i]), field_name, s, e, t, sc, rec, op(t))
                        lines.append(dict(zip(SPAN_KEYS, values, strict=True)))
                if sw is not None:
                    sw.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
                    written += len(lines)
            for i, m in metas.items():
                if m.was_text and m.changed:  # as record files hold it (records.to_row)
                    rows[i]["meta"] = json.dumps(
                        m.value, ensure_ascii=False, sort_keys=True, default=str
                    )
                elif not m.was_text:
                    rows[i]["meta"] = m.value
            bar.update(len(part))
        bar.close()
    write_rows(out, rows)
    return FileScrub(
        len(rows),
        list(fields),
        changed,
        written,
        free_text=sum(stats.meta_free_text.values()),
        dropped=stats.meta_dropped,
        hashed=stats.meta_hashed,
    )


def _prepare_row(
    row: dict[str, Any],
    i: int,
    fields: Sequence[str],
    scrubber: Scrubber,
    stats: PiiStats,
    metas: dict[int, _RowMeta],
) -> list[tuple[int, str, str, tuple[str | int, ...] | None, bool]]:
    """A file row's columns other than ``fields`` (and the keys of its ``meta`` column), as
    the stage treats ``meta``: drop and hash applied to ``row`` now, and the free-text values
    to scrub returned as cells."""
    meta = _meta_column(row) if "meta" not in fields else None
    others = {
        c: v
        for c, v in row.items()
        if c not in fields and c not in ROW_KEYS and not (c == "meta" and meta is not None)
    }
    cells: list[tuple[int, str, str, tuple[str | int, ...] | None, bool]] = []
    if others:
        kept, texts = _prepare_meta(others, scrubber, stats, name="")
        for c in others:
            if c in kept:
                row[c] = kept[c]
            else:
                del row[c]
        cells += [(i, m.field, m.text, m.path, False) for m in texts]
    if meta is not None:
        dropped, hashed = stats.meta_dropped, stats.meta_hashed
        kept, texts = _prepare_meta(meta, scrubber, stats)
        touched = (stats.meta_dropped, stats.meta_hashed) != (dropped, hashed)
        metas[i] = _RowMeta(kept, isinstance(row["meta"], str), touched)
        cells += [(i, m.field, m.text, m.path, True) for m in texts]
    return cells


def _source(row: dict[str, Any]) -> str | None:
    value = row.get("source")
    return value if isinstance(value, str) else None


def _row_id(row: dict[str, Any]) -> Any:
    value = row.get("id")
    return value if isinstance(value, str | int) else None


__all__ = [
    "OPERATOR_PRECEDENCE",
    "ROW_KEYS",
    "SPAN_KEYS",
    "FileScrub",
    "MetaText",
    "Scrubber",
    "free_texts",
    "is_free_text",
    "merge_spans",
    "meta_keep",
    "one_operator_per_value",
    "run",
    "scrub_batch",
    "scrub_file",
    "scrub_texts",
]
