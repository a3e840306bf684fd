"""Where scrub_pii's replacements stand in its output: the surrogates file.

scrub_pii writes one row per replacement it made in a kept record's text fields (instruction,
input, output): the record's ``id``, the ``field``, the ``start`` and ``end`` of the new value
in the scrubbed text (character offsets, end exclusive), its ``entity_type`` and the
``operator`` that made it. Never the value, old or new. The later stages keep a record's text
as scrub_pii wrote it, so the offsets hold wherever the id is found.

augment reads it to swap the people, places and organisations scrub_pii put in for others
(``augment.entities: surrogates``): those are the only names in a record that are known to be
private, so swapping them changes no fact a model should learn, and no NER pass is needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from provena.errors import UserError
from provena.io import atomic_path

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("field", pa.string()),
        ("start", pa.int32()),
        ("end", pa.int32()),
        ("entity_type", pa.string()),
        ("operator", pa.string()),
    ]
)

#: (id, field, start, end, entity type, operator)
Row = tuple[str, str, int, int, str, str]


class PlacedWriter:
    """Rows appended a batch at a time; the file appears whole on close, or not at all."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(tmp, SCHEMA, compression="zstd")
        self.rows = 0

    def write(self, rows: Iterable[Row]) -> None:
        rows = list(rows)
        if not rows:
            return
        cols = list(zip(*rows, strict=True))
        self._writer.write_table(
            pa.Table.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(cols, SCHEMA, strict=True)], schema=SCHEMA
            )
        )
        self.rows += len(rows)

    def __enter__(self) -> PlacedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self.rows:
            self._writer.write_table(SCHEMA.empty_table())
        self._writer.close()
        self._ctx.__exit__(exc_type, exc, tb)


def read_placed(
    path: Path,
    *,
    fields: Collection[str],
    types: Collection[str],
) -> dict[str, dict[str, list[tuple[int, int, str]]]]:
    """id -> field -> [(start, end, entity type)], in order, of the rows of ``fields`` and
    ``types``."""
    path = Path(path)
    try:
        table = pq.read_table(path, columns=["id", "field", "start", "end", "entity_type"])
    except FileNotFoundError:
        raise UserError(f"{path}: no such file (scrub_pii writes it with --surrogates)") from None
    except (pa.ArrowInvalid, OSError) as e:
        raise UserError(f"{path}: not a surrogates file ({e})") from None
    missing = {"id", "field", "start", "end", "entity_type"} - set(table.column_names)
    if missing:
        raise UserError(f"{path}: column(s) {', '.join(sorted(missing))} missing")
    keep = pc.and_(
        pc.is_in(table["field"], pa.array(sorted(fields), type=pa.string())),
        pc.is_in(table["entity_type"], pa.array(sorted(types), type=pa.string())),
    )
    table = table.filter(keep)
    out: dict[str, dict[str, list[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(list))
    for rid, f, s, e, t in zip(
        *(table[c].to_pylist() for c in ("id", "field", "start", "end", "entity_type")),
        strict=True,
    ):
        out[rid][f].append((s, e, t))
    return {rid: {f: sorted(v) for f, v in fs.items()} for rid, fs in out.items()}
