"""Finding and reading raw input files: JSONL, JSON, CSV/TSV, Parquet, HF ``save_to_disk``.

Readers never raise on a bad row: they yield a :class:`RawRow` with an error and a rule, and
ingest quarantines it with its file and line. File-level problems (no files, an empty file,
an unreadable format) raise :class:`IngestError` naming the path.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provena.errors import IngestError

RECORD_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
#: Kept raw text of a bad row in quarantine; longer rows are cut and their hash kept.
RAW_KEEP_CHARS = 65_536
#: How many rows are looked at to learn the columns of a schemaless file (JSONL, JSON).
SCHEMA_SAMPLE = 1_000
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class InputFile:
    path: Path
    kind: str  # jsonl | json | csv | tsv | parquet | hf


@dataclass
class RawRow:
    """One row as read: its data, or the reason it could not be read."""

    source: str
    line: int
    data: dict[str, Any] | None = None
    error: str | None = None
    rule: str | None = None
    raw: str | None = None


@dataclass
class RawSource:
    path: str
    kind: str
    columns: list[str]
    rows: Iterator[RawRow]
    notes: dict[str, int] = field(default_factory=dict)  # e.g. blank lines skipped


def _is_hf_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


def discover(paths: list[Path]) -> tuple[list[InputFile], list[dict[str, str]]]:
    """Expand files and folders into input files, sorted; also return what was skipped and why.

    Inside folders, entries whose name starts with '_' or '.' are skipped (the default
    dataset keeps its gold labels in ``_gold/``); a folder written by ``save_to_disk`` is
    one input.
    """
    found: list[InputFile] = []
    skipped: list[dict[str, str]] = []
    for root in paths:
        if not root.exists():
            raise IngestError(f"{root}: no such file or folder")
        if root.is_file():
            kind = RECORD_SUFFIXES.get(root.suffix.lower())
            if kind is None:
                raise IngestError(
                    f"{root}: unsupported file type '{root.suffix}'; "
                    f"supported: {', '.join(sorted(RECORD_SUFFIXES))} and save_to_disk folders"
                )
            found.append(InputFile(root, kind))
            continue
        if _is_hf_dataset(root):
            found.append(InputFile(root, "hf"))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            keep_dirs = []
            for d in sorted(dirnames):
                if d.startswith(("_", ".")):
                    continue
                if _is_hf_dataset(here / d):
                    found.append(InputFile(here / d, "hf"))
                else:
                    keep_dirs.append(d)
            dirnames[:] = keep_dirs
            for name in sorted(filenames):
                if name.startswith(("_", ".")):
                    continue
                p = here / name
                kind = RECORD_SUFFIXES.get(p.suffix.lower())
                if kind is None:
                    skipped.append(
                        {"path": str(p), "reason": f"unsupported file type '{p.suffix}'"}
                    )
                else:
                    found.append(InputFile(p, kind))
    found.sort(key=lambda f: str(f.path))
    if not found:
        where = ", ".join(str(p) for p in paths)
        raise IngestError(
            f"no input files found in {where} (looked for "
            f"{', '.join(sorted(RECORD_SUFFIXES))} files and save_to_disk folders)"
        )
    return found, skipped


def raw_excerpt(raw: bytes | str) -> str:
    """The text of a bad row for quarantine, cut past :data:`RAW_KEEP_CHARS` (hash kept)."""
    text = raw.decode("utf-8", errors="backslashreplace") if isinstance(raw, bytes) else raw
    if len(text) <= RAW_KEEP_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return text[:RAW_KEEP_CHARS] + f"... [cut: {len(text)} chars, sha256 {digest}]"


def _object_row(source: str, line: int, value: Any, raw: bytes | str) -> RawRow:
    if isinstance(value, dict):
        return RawRow(source, line, data=value)
    return RawRow(
        source,
        line,
        error=f"expected a JSON object, got {type(value).__name__}",
        rule="not_an_object",
        raw=raw_excerpt(raw),
    )


def _jsonl_rows(path: Path, source: str, max_bytes: int, notes: dict[str, int]) -> Iterator[RawRow]:
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if raw.startswith(_BOM):  # any line: files saved with a BOM are often concatenated
                raw = raw[3:]
            if len(raw) > max_bytes:
                yield RawRow(
                    source,
                    lineno,
                    error=f"line is {len(raw):,} bytes, over "
                    f"ingest.max_record_bytes ({max_bytes:,})",
                    rule="record_too_large",
                    raw=raw_excerpt(raw),
                )
                continue
            if not raw.strip():
                notes["blank_lines"] = notes.get("blank_lines", 0) + 1
                continue
            raw = raw.rstrip(b"\r\n")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRow(
                    source,
                    lineno,
                    error=f"invalid UTF-8 at byte {err.start}",
                    rule="invalid_utf8",
                    raw=raw_excerpt(raw),
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                yield RawRow(
                    source,
                    lineno,
                    error=f"malformed JSON: {err.msg} at column {err.colno}",
                    rule="malformed_json",
                    raw=raw_excerpt(text),
                )
                continue
            except RecursionError:
                _, col = _too_deep_at(text)
                yield RawRow(
                    source,
                    lineno,
                    error=f"JSON nested too deeply to read (over {_depth_limit():,} levels "
                    f"at column {col})",
                    rule="too_deep",
                    raw=raw_excerpt(text),
                )
                continue
            yield _object_row(source, lineno, value, text)


def _json_rows(path: Path, source: str) -> tuple[list[str], Iterator[RawRow]]:
    raw = path.read_bytes()
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise IngestError(f"{source}: line {line}: invalid UTF-8 at byte {err.start}") from None
    except RecursionError:
        line, col = _too_deep_at(raw.decode("utf-8-sig"))
        raise IngestError(
            f"{source}: line {line}, column {col}: JSON nested too deeply to read "
            f"(over {_depth_limit():,} levels)"
        ) from None
    except json.JSONDecodeError as err:
        raise IngestError(
            f"{source}: malformed JSON at line {err.lineno}, column {err.colno}: "
            f"{err.msg} (for one object per line, name the file .jsonl)"
        ) from None
    if not isinstance(value, list):
        raise IngestError(f"{source}: expected a JSON array of objects, got {type(value).__name__}")
    rows = [
        _object_row(source, i, v, json.dumps(v, ensure_ascii=False))
        for i, v in enumerate(value, start=1)
    ]
    return _columns_of(rows), iter(rows)


def _depth_limit() -> int:
    """Nesting the json module can read: it recurses once per level, so the recursion limit."""
    return sys.getrecursionlimit()


def _too_deep_at(text: str) -> tuple[int, int]:
    """(line, column) where JSON nesting first passes :func:`_depth_limit`; (0, 0) if never.

    Only called after the parser gave up, so a plain scan is cheap enough.
    """
    limit, depth, line, col, in_str, esc = _depth_limit(), 0, 1, 0, False, False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif in_str:
            esc, in_str = (False, True) if esc else (ch == "\\", ch != '"')
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line, col
        elif ch in "]}":
            depth -= 1
    return 0, 0


def _columns_of(rows: list[RawRow]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows[:SCHEMA_SAMPLE]:
        if r.data is not None:
            cols.update(dict.fromkeys(r.data))
    return list(cols)


def _peek_columns(rows: Iterator[RawRow]) -> tuple[list[str], Iterator[RawRow]]:
    """Learn the columns from the first rows that parse, without losing them."""
    head: list[RawRow] = []
    good = 0
    for r in rows:
        head.append(r)
        good += r.data is not None
        if good >= SCHEMA_SAMPLE:
            break

    def chain() -> Iterator[RawRow]:
        yield from head
        yield from rows

    return _columns_of(head), chain()


def _csv_rows(
    path: Path, source: str, delimiter: str, max_bytes: int
) -> tuple[list[str], Iterator[RawRow]]:
    csv.field_size_limit(max_bytes)
    fh = open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")  # noqa: SIM115
    consumed: list[str] = []  # the lines of the row being read: kept if the row is unreadable

    def lines() -> Iterator[str]:
        for line in fh:
            consumed.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        fh.close()
        raise IngestError(f"{source}: file is empty (no header row)") from None
    except csv.Error as err:
        fh.close()
        raise IngestError(f"{source}: line 1: unreadable CSV header ({err})") from None
    if any("\udc80" <= ch <= "\udcff" for h in header for ch in h):
        fh.close()
        raise IngestError(f"{source}: line 1: header is not valid UTF-8")

    def rows() -> Iterator[RawRow]:
        last = reader.line_num
        with fh:
            while True:
                start = last + 1
                consumed.clear()
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as err:
                    last = reader.line_num
                    text = "".join(consumed).encode("utf-8", "surrogateescape")
                    if "field larger than field limit" in str(err):
                        yield RawRow(
                            source,
                            start,
                            error=f"a field is over ingest.max_record_bytes ({max_bytes:,})",
                            rule="record_too_large",
                            raw=raw_excerpt(text),
                        )
                    else:
                        yield RawRow(
                            source,
                            start,
                            error=f"unreadable CSV row ({err})",
                            rule="malformed_csv",
                            raw=raw_excerpt(text),
                        )
                    continue
                last = reader.line_num
                raw = delimiter.join(values)
                if not values or values == [""]:
                    continue
                if any("\udc80" <= ch <= "\udcff" for v in values for ch in v):
                    yield RawRow(
                        source,
                        start,
                        error="invalid UTF-8 in row",
                        rule="invalid_utf8",
                        raw=raw_excerpt(raw.encode("utf-8", "surrogateescape")),
                    )
                    continue
                if len(values) != len(header):
                    yield RawRow(
                        source,
                        start,
                        error=f"row has {len(values)} fields, the header has {len(header)}",
                        rule="malformed_csv",
                        raw=raw_excerpt(raw),
                    )
                    continue
                yield RawRow(source, start, data=dict(zip(header, values, strict=True)))

    return header, rows()


def _parquet_rows(path: Path, source: str) -> tuple[list[str], Iterator[RawRow]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise IngestError(f"{source}: not a readable Parquet file ({err})") from None

    def rows() -> Iterator[RawRow]:
        n = 0
        for batch in pf.iter_batches(batch_size=2_048):
            for row in batch.to_pylist():
                n += 1
                yield RawRow(source, n, data=row)

    return pf.schema_arrow.names, rows()


def _hf_rows(path: Path, source: str) -> tuple[list[str], Iterator[RawRow]]:
    import datasets  # imported here: it is slow to import and only this reader needs it

    loaded = datasets.load_from_disk(str(path))
    parts = list(loaded.items()) if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    columns: dict[str, None] = {}
    for _, ds in parts:
        columns.update(dict.fromkeys(ds.column_names))

    def rows() -> Iterator[RawRow]:
        for split, ds in parts:
            src = f"{source}[{split}]" if split else source
            for i, row in enumerate(ds, start=1):
                yield RawRow(src, i, data=row)

    return list(columns), rows()


def open_source(f: InputFile, source: str, max_record_bytes: int) -> RawSource:
    """Open one input; raises :class:`IngestError` if the file as a whole is unusable."""
    if f.kind != "hf" and f.path.stat().st_size == 0:
        raise IngestError(f"{source}: file is empty")
    notes: dict[str, int] = {}
    if f.kind == "jsonl":
        columns, rows = _peek_columns(_jsonl_rows(f.path, source, max_record_bytes, notes))
    elif f.kind == "json":
        columns, rows = _json_rows(f.path, source)
    elif f.kind in ("csv", "tsv"):
        columns, rows = _csv_rows(
            f.path, source, "\t" if f.kind == "tsv" else ",", max_record_bytes
        )
    elif f.kind == "parquet":
        columns, rows = _parquet_rows(f.path, source)
    else:
        columns, rows = _hf_rows(f.path, source)
    return RawSource(source, f.kind, columns, rows, notes)
