"""Entity-agnostic, character-level evaluation of PII detection against gold spans.

A character counts when it is not whitespace. Gold spans of ignored types (TITLE and NRP by
default: job titles and nationalities are not identifying on their own) have their characters
ignored both ways. Precision is the share of detected characters inside some gold span,
recall the share of gold characters detected. A gold span is *missed* when no detected span
overlaps it at all. F2 weighs recall twice as much as precision: for scrubbing, a miss costs
more than an over-redaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORED_TYPES = frozenset({"TITLE", "NRP"})


@dataclass(frozen=True, slots=True)  # slots: 2 million of them at 200k records
class GoldSpan:
    start: int
    end: int
    entity_type: str


@dataclass
class PiiScore:
    """Running character counts: add texts with :meth:`add`, read figures with :meth:`as_dict`."""

    ignored_types: frozenset[str] = IGNORED_TYPES
    tp: int = 0
    pred_chars: int = 0
    gold_chars: int = 0
    spans: int = 0
    missed: int = 0
    gold_by_type: Counter[str] = field(default_factory=Counter)
    hit_by_type: Counter[str] = field(default_factory=Counter)
    spans_by_type: Counter[str] = field(default_factory=Counter)
    missed_by_type: Counter[str] = field(default_factory=Counter)
    pred_by_type: Counter[str] = field(default_factory=Counter)
    pred_hit_by_type: Counter[str] = field(default_factory=Counter)

    def merge(self, other: PiiScore) -> None:
        for name in ("tp", "pred_chars", "gold_chars", "spans", "missed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in (
            "gold_by_type",
            "hit_by_type",
            "spans_by_type",
            "missed_by_type",
            "pred_by_type",
            "pred_hit_by_type",
        ):
            getattr(self, name).update(getattr(other, name))

    def add(self, text: str, gold: Sequence[GoldSpan], predicted: Iterable[Any]) -> list[GoldSpan]:
        """Score one text (``predicted``: objects with start, end, entity_type); return misses."""
        n = len(text)
        gold_type: list[str | None] = [None] * n
        ignored = bytearray(n)
        for g in gold:
            for i in range(max(0, g.start), min(n, g.end)):
                if g.entity_type in self.ignored_types:
                    ignored[i] = 1
                elif gold_type[i] is None:
                    gold_type[i] = g.entity_type
        pred_type: list[str | None] = [None] * n
        preds = list(predicted)
        for p in preds:
            for i in range(max(0, p.start), min(n, p.end)):
                pred_type[i] = pred_type[i] or p.entity_type
        for i, ch in enumerate(text):
            if ch.isspace() or ignored[i]:
                continue
            g, p = gold_type[i], pred_type[i]
            if g is not None:
                self.gold_chars += 1
                self.gold_by_type[g] += 1
            if p is not None:
                self.pred_chars += 1
                self.pred_by_type[p] += 1
            if g is not None and p is not None:
                self.tp += 1
                self.hit_by_type[g] += 1
                self.pred_hit_by_type[p] += 1
        missed = []
        for g in gold:
            if g.entity_type in self.ignored_types:
                continue
            self.spans += 1
            self.spans_by_type[g.entity_type] += 1
            if not any(p.start < g.end and g.start < p.end for p in preds):
                self.missed += 1
                self.missed_by_type[g.entity_type] += 1
                missed.append(g)
        return missed

    def as_dict(self) -> dict[str, Any]:
        def prf(tp: int, pred: int, gold: int) -> dict[str, float | None]:
            p = tp / pred if pred else None
            r = tp / gold if gold else None
            f2 = (
                (5 * p * r / (4 * p + r))
                if p and r
                else (0.0 if p is not None and r is not None else None)
            )
            return {"precision": _r(p), "recall": _r(r), "f2": _r(f2)}

        per_type = {}
        for t in sorted(set(self.gold_by_type) | set(self.pred_by_type) | set(self.spans_by_type)):
            per_type[t] = {
                "recall": _r(self.hit_by_type[t] / self.gold_by_type[t])
                if self.gold_by_type[t]
                else None,
                "precision": _r(self.pred_hit_by_type[t] / self.pred_by_type[t])
                if self.pred_by_type[t]
                else None,
                "gold_spans": self.spans_by_type[t],
                "missed_spans": self.missed_by_type[t],
            }
        return {
            **prf(self.tp, self.pred_chars, self.gold_chars),
            "gold_spans": self.spans,
            "missed_spans": self.missed,
            "missed_share": _r(self.missed / self.spans) if self.spans else None,
            "per_type": per_type,
            "note": "character level, entity-agnostic, whitespace ignored; per-type recall is by "
            "gold type, per-type precision by detected type; ignored types: "
            + ", ".join(sorted(self.ignored_types)),
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
