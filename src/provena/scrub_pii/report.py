"""The PII report for reviewers: one self-contained HTML page rendered from the JSON report
(template ``provena/reports/templates/pii_report.html.j2``), and what the stage collects for
its two review sections.

- **Sample**: records picked by a seeded hash of their id, spread over (profile, source)
  strata, shown as their scrubbed text (what the training data holds) cut into segments:
  plain text, and each replacement marked with its entity type, operator, recognizer and
  score. Values a reviewer must not see are *withheld* as ``[TYPE ·····]``: near-threshold
  detections (not replaced, so still the raw value) and, where gold labels exist, labelled
  values the detector missed.
- **Near-threshold detections**: what the analyzer found with a score in
  ``[score_threshold - near_threshold_margin, score_threshold)``; not applied, counted per
  entity type and recognizer, and a seeded sample shown masked among the words around it.

The mask has one width whatever the value's length (a 3-letter name and a 16-digit number
look alike), so the report travels in the audit bundle without narrowing any value down.
Everything shown is counts, scores or scrubbed text, and every value is HTML-escaped.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from provena import reports
from provena.config import ScrubPiiConfig
from provena.pii.scoring import IGNORED_TYPES, GoldSpan

log = logging.getLogger(__name__)

#: what a withheld value shows, after its type: the same width for every value
MASK = "·····"
#: words of scrubbed text shown on either side of a near-threshold detection
CONTEXT_WORDS = 8
#: characters of one field shown in the sample; the rest is counted, not shown
FIELD_CHARS = 2000
#: replacements of its type one record shows in the drill-down by entity type
TYPE_SNIPPETS = 3

#: (start, end, entity type, score, recognizer): a span as scrub_pii applies it
Span = tuple[int, int, str, float, str]
#: a piece of the scrubbed text: ``text`` alone is plain; with ``operator`` a replacement;
#: with ``withheld`` ('near' or 'missed') a masked value
Segment = dict[str, Any]


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
        mask=MASK,
        max_bin=max(report["score_distribution"].values(), default=1) or 1,
        sample_types=[_types_shown(rec) for rec in report["sample"]["records"]],
    )


def _types_shown(record: dict[str, Any]) -> list[str]:
    """The entity types of the replacements a sampled record shows (what the filter keys)."""
    return sorted(
        {
            s["entity_type"]
            for f in record["fields"]
            for s in f.get("segments", ())
            if "operator" in s
        }
    )


def sample_key(seed: int, *parts: object) -> str:
    """A record's (or detection's) place in the seeded sample order."""
    text = "\0".join(str(p) for p in (seed, *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def masked(entity_type: str) -> str:
    return f"[{entity_type} {MASK}]"


# ------------------------------------------------------------------------------ the segments

#: Presidio's anonymizer merges neighbouring spans of one type with only spaces between into
#: one replacement (``AnonymizerEngine._merge_entities_with_spaces_between``, same test)
_SPACES_ONLY = re.compile(r"^( )+$")


def replacement_groups(text: str, spans: Sequence[Span]) -> list[list[Span]]:
    """The spans each replacement in the scrubbed text stands for, in order (``spans``
    sorted and not overlapping, as :func:`provena.scrub_pii.merge_spans` gives them)."""
    groups: list[list[Span]] = []
    for sp in spans:
        last = groups[-1][-1] if groups else None
        if last and last[2] == sp[2] and _SPACES_ONLY.search(text[last[1] : sp[0]]):
            groups[-1].append(sp)
        else:
            groups.append([sp])
    return groups


def segments(
    text: str,
    spans: Sequence[Span],
    scrubbed: str,
    ranges: Sequence[tuple[int, int]],
    operators: dict[str, str],
    withheld: Sequence[Segment] = (),
) -> list[Segment] | None:
    """The scrubbed text of one field as segments (see :data:`Segment`).

    ``text`` is the original, ``spans`` what was applied to it, ``scrubbed`` and ``ranges``
    what the anonymizer returned (the text and where its replacements stand). ``withheld``:
    dicts with ``start`` and ``end`` in the original text, ``withheld`` ('near' or 'missed')
    and ``entity_type`` (``score`` and ``recognizer`` too for 'near'): those characters are
    masked wherever no replacement covers them; a value kept by its operator ('keep') that
    overlaps one is masked whole. None when the replacements cannot be located in
    ``scrubbed`` (the field is then not shown).
    """
    groups = replacement_groups(text, spans)
    if len(groups) != len(ranges):
        return None
    hidden = _withheld_outside(text, withheld, [(g[0][0], g[-1][1]) for g in groups])
    out: list[Segment] = []
    pos = new = 0
    for group, (a, b) in zip(groups, ranges, strict=True):
        start, end = group[0][0], group[-1][1]
        if text[pos:start] != scrubbed[new:a]:
            return None
        out.extend(_plain(text, pos, start, hidden))
        etype = group[0][2]
        op = operators.get(etype, operators["default"])
        recognizers = list(dict.fromkeys(sp[4] for sp in group))
        over = [w for w in withheld if w["start"] < end and start < w["end"]]
        if op == "keep" and over:
            out.append({**_mask(over), "text": masked(over[0]["entity_type"])})
        else:
            out.append(
                {
                    "text": scrubbed[a:b],
                    "entity_type": etype,
                    "operator": op,
                    "recognizer": " + ".join(recognizers),
                    "score": max(sp[3] for sp in group),
                }
            )
        pos, new = end, b
    if text[pos:] != scrubbed[new:]:
        return None
    out.extend(_plain(text, pos, len(text), hidden))
    return _joined(out)


def _withheld_outside(
    text: str, withheld: Sequence[Segment], covered: list[tuple[int, int]]
) -> list[tuple[int, int, list[Segment]]]:
    """The parts of the withheld spans that no replacement covers, overlapping parts merged:
    (start, end, the withheld spans there). What is left of a span cut by replacements counts
    only where it holds a letter or a digit (not the ', ' between two replaced parts)."""
    parts: list[tuple[int, int, Segment]] = []
    for w in withheld:
        pieces = [(w["start"], w["end"])]
        for a, b in covered:
            pieces = [p for s, e in pieces for p in ((s, min(e, a)), (max(s, b), e)) if p[0] < p[1]]
        whole = [(w["start"], w["end"])]
        parts.extend(
            (s, e, w) for s, e in pieces if pieces == whole or any(c.isalnum() for c in text[s:e])
        )
    merged: list[tuple[int, int, list[Segment]]] = []
    for s, e, w in sorted(parts, key=lambda p: (p[0], p[1])):
        if merged and s < merged[-1][1]:
            ms, me, ws = merged[-1]
            merged[-1] = (ms, max(me, e), [*ws, w])
        else:
            merged.append((s, e, [w]))
    return merged


def _plain(
    text: str, start: int, end: int, hidden: list[tuple[int, int, list[Segment]]]
) -> list[Segment]:
    """Original text between two replacements, withheld parts masked."""
    out: list[Segment] = []
    pos = start
    for s, e, ws in hidden:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        if pos < s:
            out.append({"text": text[pos:s]})
        out.append({**_mask(ws), "text": masked(ws[0]["entity_type"])})
        pos = e
    if pos < end:
        out.append({"text": text[pos:end]})
    return out


def _mask(ws: list[Segment]) -> Segment:
    """A masked segment standing for the withheld spans ``ws`` (near-threshold first)."""
    ws = sorted(ws, key=lambda w: (w["withheld"] != "near", w["start"]))
    first = ws[0]
    seg: Segment = {"withheld": first["withheld"], "entity_type": first["entity_type"]}
    if first["withheld"] == "near":
        seg.update(score=first["score"], recognizer=first["recognizer"])
    seg["_spans"] = [(w["start"], w["end"]) for w in ws]  # which spans: dropped by public()
    return seg


def public(segs: list[Segment]) -> list[Segment]:
    """The segments as the report holds them (no offsets into the original text)."""
    return [{k: v for k, v in s.items() if not k.startswith("_")} for s in segs]


def _joined(segs: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for s in segs:
        if len(s) == 1 and not s["text"]:
            continue
        if len(s) == 1 and out and len(out[-1]) == 1:
            out[-1] = {"text": out[-1]["text"] + s["text"]}
        else:
            out.append(s)
    return out


def truncated(segs: list[Segment], limit: int = FIELD_CHARS) -> tuple[list[Segment], int]:
    """The segments up to about ``limit`` characters (a marked one is never cut: it is left
    out whole), and how many characters were left out."""
    out: list[Segment] = []
    n = 0
    total = sum(len(s["text"]) for s in segs)
    for s in segs:
        room = limit - n
        if room <= 0:
            break
        if len(s["text"]) <= room:
            out.append(s)
            n += len(s["text"])
        elif len(s) == 1:
            out.append({"text": s["text"][:room]})
            n += room
            break
        else:
            break
    return out, total - n


def context(segs: list[Segment], index: int, words: int = CONTEXT_WORDS) -> list[Segment]:
    """Segment ``index`` with up to ``words`` words of scrubbed text on either side (a marked
    segment counts as one word; plain text is cut at a word boundary)."""
    before: list[Segment] = []
    left = words
    for s in reversed(segs[:index]):
        if left <= 0:
            break
        if len(s) > 1:
            before.insert(0, s)
            left -= 1
            continue
        text, keep = _cut(s["text"], left, from_end=True)
        before.insert(0, {"text": text})
        left -= keep
    after: list[Segment] = []
    left = words
    for s in segs[index + 1 :]:
        if left <= 0:
            break
        if len(s) > 1:
            after.append(s)
            left -= 1
            continue
        text, keep = _cut(s["text"], left, from_end=False)
        after.append({"text": text})
        left -= keep
    return _joined([*before, segs[index], *after])


_WORD = re.compile(r"\S+")


def _cut(text: str, n: int, *, from_end: bool) -> tuple[str, int]:
    """Up to ``n`` words of ``text`` from its end (or start), each run of spaces and line
    breaks as one space; and how many words that took."""
    words = list(_WORD.finditer(text))
    if len(words) > n:
        text = text[words[-n].start() :] if from_end else text[: words[n - 1].end()]
    return _SPACE.sub(" ", text), min(n, len(words))


_SPACE = re.compile(r"\s+")


def field_label(record: Any, field_name: str) -> str:
    """A field's name as the sample shows it: a chat message with its role."""
    if field_name.startswith("messages["):
        role = record["messages"][int(field_name[9:-1])]["role"]
        return f"{field_name} ({role})"
    return field_name


# -------------------------------------------------------------------- a seeded, spread sample


class RoundRobinSample:
    """The first ``size`` items of a seeded order that takes one item from each stratum in
    turn: items are ranked within their stratum by key, strata by a seeded hash of their
    name. The result depends only on the items offered, never on their order or on how they
    were split into batches, and at most ``size`` items are held at any time (an item that
    already has ``size`` items before it can never be picked: it is dropped, and every later
    item of its stratum with a larger key with it)."""

    def __init__(self, size: int, seed: int):
        self.size = size
        self.seed = seed
        self.kept: dict[str, list[tuple[str, Any]]] = {}  # stratum -> [(key, item)], by key
        self.cutoff: dict[str, str] = {}  # stratum -> smallest key dropped
        self._order: dict[str, str] = {}

    def _rank_of_stratum(self, stratum: str) -> str:
        if stratum not in self._order:
            self._order[stratum] = sample_key(self.seed, "stratum", stratum)
        return self._order[stratum]

    def wants(self, stratum: str, key: str) -> bool:
        """Whether an item with this key could still be picked."""
        if self.size <= 0 or key >= self.cutoff.get(stratum, "\U0010ffff"):
            return False
        own = self.kept.get(stratum, [])
        rank = bisect.bisect_left([k for k, _ in own], key)
        h = self._rank_of_stratum(stratum)
        before = rank + sum(
            min(len(items), rank + (self._rank_of_stratum(s) < h))
            for s, items in self.kept.items()
            if s != stratum
        )
        return before < self.size

    def offer(self, stratum: str, key: str, build: Callable[[], Any]) -> None:
        """Add the item ``build()`` makes, calling it only when the item could be picked."""
        if self.wants(stratum, key):
            item = build()
            if item is not None:
                self._add(stratum, key, item)

    def _add(self, stratum: str, key: str, item: Any) -> None:
        own = self.kept.setdefault(stratum, [])
        bisect.insort(own, (key, item), key=lambda x: x[0])
        self._prune()

    def _prune(self) -> None:
        order = sorted(
            (rank, self._rank_of_stratum(s), key, s)
            for s, items in self.kept.items()
            for rank, (key, _) in enumerate(items)
        )
        for _, _, key, s in order[self.size :]:
            self.cutoff[s] = min(self.cutoff.get(s, key), key)
        for s in list(self.kept):
            if s in self.cutoff:
                self.kept[s] = [(k, it) for k, it in self.kept[s] if k < self.cutoff[s]]
            if not self.kept[s]:
                del self.kept[s]

    def merge(self, other: RoundRobinSample) -> None:
        for s, key in other.cutoff.items():
            self.cutoff[s] = min(self.cutoff.get(s, key), key)
        for s, items in other.kept.items():
            for key, item in items:
                if self.wants(s, key):
                    self.kept.setdefault(s, [])
                    bisect.insort(self.kept[s], (key, item), key=lambda x: x[0])
        self._prune()

    def items(self) -> list[Any]:
        """The picked items, by stratum name and key."""
        return [item for s in sorted(self.kept) for _, item in self.kept[s]]


def _echoes(v: FieldView, values: dict[str, tuple[str, float, str]]) -> list[Span]:
    """Where a near-threshold value of the record (``values``: value -> type, score,
    recognizer) stands again in this field, as a whole word, outside the replacements and the
    field's own near-threshold spans: masked there too, so the report never shows it."""
    taken = [(s, e) for s, e, *_ in (*v.spans, *v.near)]
    out: list[Span] = []
    for value, (t, score, rec) in values.items():
        if len(value.strip()) < 2:
            continue
        pattern = re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")
        for m in pattern.finditer(v.text):
            if not any(s < m.end() and m.start() < e for s, e in taken):
                out.append((m.start(), m.end(), t, score, rec))
    return out


# ----------------------------------------------------------------------- what a batch collects


@dataclass
class FieldView:
    """One scrubbed field of a record, as scrub_batch saw it."""

    field: str
    label: str  # the field name, with the message's role
    text: str
    spans: list[Span]
    scrubbed: str
    ranges: list[tuple[int, int]]
    near: list[Span]  # near-threshold detections not covered by ``spans``
    gold: list[GoldSpan]  # gold labels of this field, where the data has them
    #: other places where a near-threshold value of the record stands (masked, not counted)
    echoes: list[Span] = field(default_factory=list)


@dataclass
class Review:
    """The report's review sections for a batch, or the whole run once merged."""

    sample_size: int
    near_size: int
    seed: int
    operators: dict[str, str]
    threshold: float
    margin: float
    sample: RoundRobinSample = field(init=False)
    near_examples: RoundRobinSample = field(init=False)
    near_by_type: collections.Counter[str] = field(default_factory=collections.Counter)
    near_by_recognizer: collections.Counter[str] = field(default_factory=collections.Counter)
    near_records: int = 0
    unlocated: int = 0  # fields whose replacements could not be located (not shown)
    type_size: int = 0  # records shown per entity type
    type_ids_size: int = 0  # record ids listed per entity type
    type_records: collections.Counter[str] = field(default_factory=collections.Counter)
    type_ids: dict[str, list[str]] = field(default_factory=dict)  # the smallest, sorted
    type_samples: dict[str, RoundRobinSample] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample = RoundRobinSample(self.sample_size, self.seed)
        self.near_examples = RoundRobinSample(self.near_size, self.seed)

    def _type_sample(self, entity_type: str) -> RoundRobinSample:
        if entity_type not in self.type_samples:
            self.type_samples[entity_type] = RoundRobinSample(self.type_size, self.seed)
        return self.type_samples[entity_type]

    def _add_id(self, entity_type: str, rid: str) -> None:
        ids = self.type_ids.setdefault(entity_type, [])
        at = bisect.bisect_left(ids, rid)
        if at < len(ids) and ids[at] == rid:
            return  # copies of a record share its id
        if len(ids) < self.type_ids_size or at < len(ids):
            ids.insert(at, rid)
            del ids[self.type_ids_size :]

    @classmethod
    def for_config(cls, cfg: ScrubPiiConfig) -> Review:
        return cls(
            sample_size=cfg.report_examples,
            near_size=cfg.report_near_threshold,
            seed=cfg.report_seed,
            operators=dict(cfg.operators),
            threshold=cfg.score_threshold,
            margin=cfg.near_threshold_margin,
            type_size=cfg.report_examples_per_type,
            type_ids_size=cfg.report_ids_per_type,
        )

    def operator(self, entity_type: str) -> str:
        return self.operators.get(entity_type, self.operators["default"])

    def near_outside(self, near: Sequence[Any], spans: Sequence[Span]) -> list[Span]:
        """The near-threshold detections (:class:`provena.pii.engine.Detection`) a reviewer
        may want to check: not covered by an applied span, of a type that is not kept anyway.
        Counted here."""
        out = [
            (d.start, d.end, d.entity_type, d.score, d.recognizer)
            for d in near
            if self.operator(d.entity_type) != "keep"
            and not any(s < d.end and d.start < e for s, e, *_ in spans)
        ]
        for _, _, t, _, rec in out:
            self.near_by_type[t] += 1
            self.near_by_recognizer[rec] += 1
        return out

    def add_record(
        self, rid: str, source: str, profile: str, views: list[FieldView], *, kept: bool
    ) -> None:
        """Offer a record to the sample and its near-threshold detections to theirs. Only a
        kept record is shown: a quarantined one still holds a detected value."""
        if any(v.near for v in views):
            self.near_records += 1
        types = sorted({sp[2] for v in views for sp in v.spans})
        for t in types:
            self.type_records[t] += 1
            self._add_id(t, rid)
        if not kept:
            return
        # a chat message that repeats a labelled field has the same labels (the default
        # data's messages repeat instruction, input and output)
        labels = {v.text: v.gold for v in views if v.gold}
        near_values = {v.text[s:e]: (t, sc, r) for v in views for s, e, t, sc, r in v.near}
        views = [
            dataclasses.replace(v, gold=labels.get(v.text, v.gold), echoes=_echoes(v, near_values))
            for v in views
        ]
        cache: dict[int, list[Segment] | None] = {}

        def segs(k: int) -> list[Segment] | None:
            if k not in cache:
                cache[k] = self._segments(views[k])
            return cache[k]

        self.sample.offer(
            f"{profile}\0{source}",
            sample_key(self.seed, rid),
            lambda: self._record(rid, source, profile, views, segs),
        )
        for t in types:
            self._type_sample(t).offer(
                t,
                sample_key(self.seed, rid, t),
                lambda t=t: self._type_record(rid, source, profile, views, segs, t),
            )
        seen: set[str] = set()
        for k, v in enumerate(views):
            if v.text in seen:
                continue  # the same text in another field: shown once
            seen.add(v.text)
            for s, e, t, score, rec in v.near:
                self.near_examples.offer(
                    t,
                    sample_key(self.seed, rid, v.field, s, e, t),
                    lambda k=k, s=s, e=e, t=t, score=score, rec=rec: self._near_example(
                        rid, views[k], segs(k), s, e, t, score, rec
                    ),
                )

    def _withheld(self, v: FieldView) -> list[Segment]:
        near = [
            {
                "start": s,
                "end": e,
                "withheld": "near",
                "entity_type": t,
                "score": score,
                "recognizer": rec,
            }
            for s, e, t, score, rec in [*v.near, *v.echoes]
        ]
        missed = [
            {"start": g.start, "end": g.end, "withheld": "missed", "entity_type": g.entity_type}
            for g in v.gold
            if g.entity_type not in IGNORED_TYPES and self.operator(g.entity_type) != "keep"
        ]
        return near + missed

    def _segments(self, v: FieldView) -> list[Segment] | None:
        out = segments(v.text, v.spans, v.scrubbed, v.ranges, self.operators, self._withheld(v))
        if out is None:
            self.unlocated += 1
            log.warning(
                "PII report: the replacements of one %s field could not be located in its "
                "scrubbed text; it is left out of the report",
                v.field,
            )
        return out

    def _record(
        self,
        rid: str,
        source: str,
        profile: str,
        views: list[FieldView],
        segs: Callable[[int], list[Segment] | None],
    ) -> dict[str, Any]:
        fields: list[dict[str, Any]] = []
        shown: dict[str, str] = {}
        for k, v in enumerate(views):
            if v.text in shown:  # a chat message that repeats the input, say
                fields.append({"field": v.label, "same_as": shown[v.text]})
                continue
            shown[v.text] = v.label
            full = segs(k)
            if full is None:
                fields.append({"field": v.label, "unlocated": True})
                continue
            part, cut = truncated(full)
            fields.append({"field": v.label, "segments": public(part), "chars_left_out": cut})
        return {"id": rid, "source": source, "profile": profile, "fields": fields}

    def _type_record(
        self,
        rid: str,
        source: str,
        profile: str,
        views: list[FieldView],
        segs: Callable[[int], list[Segment] | None],
        entity_type: str,
    ) -> dict[str, Any] | None:
        """A record in the drill-down of ``entity_type``: up to :data:`TYPE_SNIPPETS` of that
        type's replacements, each with the scrubbed words around it, and how many it has."""
        snippets: list[dict[str, Any]] = []
        found = 0
        seen: set[str] = set()
        for k, v in enumerate(views):
            if v.text in seen or not any(sp[2] == entity_type for sp in v.spans):
                continue
            seen.add(v.text)
            full = segs(k)
            if full is None:
                continue
            for i, sg in enumerate(full):
                if sg.get("operator") is None or sg["entity_type"] != entity_type:
                    continue
                found += 1
                if len(snippets) < TYPE_SNIPPETS:
                    snippets.append({"field": v.label, "context": public(context(full, i))})
        if not snippets:
            return None
        return {
            "id": rid,
            "source": source,
            "profile": profile,
            "replacements": found,
            "snippets": snippets,
        }

    def _near_example(
        self,
        rid: str,
        v: FieldView,
        segs: list[Segment] | None,
        start: int,
        end: int,
        entity_type: str,
        score: float,
        recognizer: str,
    ) -> dict[str, Any] | None:
        if segs is None:
            return None
        index = next((i for i, s in enumerate(segs) if (start, end) in s.get("_spans", ())), None)
        if index is None:  # not masked on its own (cannot happen for a span outside the
            return None  # replacements, see _withheld_outside): never shown unmasked
        return {
            "id": rid,
            "field": v.label,
            "entity_type": entity_type,
            "score": score,
            "recognizer": recognizer,
            "context": public(context(segs, index)),
        }

    def merge(self, other: Review) -> None:
        self.sample.merge(other.sample)
        self.near_examples.merge(other.near_examples)
        self.near_by_type.update(other.near_by_type)
        self.near_by_recognizer.update(other.near_by_recognizer)
        self.near_records += other.near_records
        self.unlocated += other.unlocated
        self.type_records.update(other.type_records)
        for t, ids in other.type_ids.items():
            for rid in ids:
                self._add_id(t, rid)
        for t, smp in other.type_samples.items():
            self._type_sample(t).merge(smp)

    def as_dict(self) -> dict[str, Any]:
        """The report's ``sample`` and ``near_threshold`` sections: counts, scrubbed text and
        masks, never a value."""
        examples = sorted(
            self.near_examples.items(), key=lambda x: (x["entity_type"], -x["score"], x["id"])
        )
        return {
            "sample": {
                "size": self.sample_size,
                "seed": self.seed,
                "records": sorted(
                    self.sample.items(), key=lambda x: (x["profile"], x["source"], x["id"])
                ),
                "fields_not_shown": self.unlocated,
            },
            "near_threshold": {
                "threshold": self.threshold,
                "margin": self.margin,
                "band": [round(max(0.0, self.threshold - self.margin), 4), self.threshold],
                "detections": sum(self.near_by_type.values()),
                "records": self.near_records,
                "by_type": dict(sorted(self.near_by_type.items())),
                "by_recognizer": dict(sorted(self.near_by_recognizer.items())),
                "shown": len(examples),
                "examples": examples,
            },
            "by_entity_type": {
                "examples_per_type": self.type_size,
                "ids_per_type": self.type_ids_size,
                "types": {
                    t: {
                        "records": n,
                        "ids": self.type_ids.get(t, []),
                        "examples": self.type_samples[t].items() if t in self.type_samples else [],
                    }
                    for t, n in sorted(self.type_records.items())
                },
            },
        }
