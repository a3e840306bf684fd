"""Text assembly that remembers where every PII value went (the gold spans)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    start: int
    end: int  # exclusive
    entity_type: str


@dataclass
class TextBuilder:
    """Append plain text with ``t`` and PII values with ``pii``; ``build`` returns both."""

    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    pos: int = 0

    def t(self, text: str) -> TextBuilder:
        self.parts.append(text)
        self.pos += len(text)
        return self

    def pii(self, value: str, entity_type: str) -> TextBuilder:
        self.spans.append(Span(self.pos, self.pos + len(value), entity_type))
        return self.t(value)

    def build(self) -> tuple[str, list[Span]]:
        return "".join(self.parts), list(self.spans)


def upper_keep_offsets(text: str) -> str | None:
    """ALL-CAPS version of ``text``, or None where upper-casing would move offsets (e.g. 'ß')."""
    up = text.upper()
    return up if len(up) == len(text) else None


def shift_spans(spans: list[Span], at: int, delta: int) -> list[Span]:
    """Move spans that start at or after ``at`` by ``delta`` characters."""
    return [
        Span(s.start + delta, s.end + delta, s.entity_type) if s.start >= at else s for s in spans
    ]
