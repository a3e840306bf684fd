"""One synthetic example before it is written: its fields, gold spans and metadata."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from provena.synth.build import Span


@dataclass
class Draft:
    family: str
    fields: dict[str, str]  # canonical names: instruction, input, output
    spans: dict[str, list[Span]]  # gold PII spans per canonical field
    meta: dict[str, Any]
    synth_id: str = ""
    labels: list[dict[str, Any]] = field(default_factory=list)

    def copy(self) -> Draft:
        return replace(
            self,
            fields=dict(self.fields),
            spans={k: list(v) for k, v in self.spans.items()},
            meta=dict(self.meta),
            labels=[],
        )
