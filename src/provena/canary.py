"""Privacy canaries: what the split stage plants and evaluate's probes look for.

The split stage makes them (:mod:`provena.split.canaries`) and appends them to the train split;
evaluate finds them again in that split (:func:`canaries_in`), so it needs neither split's
code nor its params.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from provena.records import Record

#: what every canary's answer says before its secret; the probe's prompt ends with it
CANARY_PREFIX = "The verification code is"
CANARY_FAMILY = "canary"
CANARY_SOURCE = "provena:canary"

_SECRET = re.compile(rf"^{re.escape(CANARY_PREFIX)} (\d+)\.$")


@dataclass(frozen=True)
class Canary:
    """One planted secret. ``prefix`` is the start of the answer the model was trained on, up to
    the secret; the probe's prompt is the record's training prompt followed by ``prefix``."""

    index: int
    prefix: str
    secret: str
    records: tuple[Record, ...]  # the ``repeats`` copies planted in the train split

    @property
    def instruction(self) -> str:
        return self.records[0]["instruction"]


def canaries_in(records: Iterable[Record]) -> list[Canary]:
    """The canaries planted in ``records`` (a train split), by index, copies in order."""
    by_index: dict[int, list[Record]] = {}
    for rec in records:
        if rec.get("op") == "canary" and rec["meta"].get("family") == CANARY_FAMILY:
            by_index.setdefault(int(rec["meta"]["canary"]), []).append(rec)
    out = []
    for index, recs in sorted(by_index.items()):
        recs.sort(key=lambda r: int(r["meta"]["copy"]))
        match = _SECRET.match(recs[0]["output"])
        if match is None:
            raise ValueError(f"canary {index}: answer does not end in a secret: {recs[0]['id']}")
        secret = match.group(1)
        out.append(Canary(index=index, prefix=CANARY_PREFIX, secret=secret, records=tuple(recs)))
    return out
