"""File I/O at the edges of the stages: atomic writes, record files, ledgers and metrics.

Every output is written to a temporary file beside its target and moved into place only when
complete, so a stage killed mid-run never leaves a partial file that a later stage could read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from provena.errors import UserError
from provena.records import RECORD_SCHEMA, Record, from_row, to_row


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_temp_files(path: str | Path) -> list[Path]:
    """Temporary files of ``path`` left by writers that died (SIGKILL, power loss): named
    ``.<name>.<pid>.<random>.tmp`` by :func:`atomic_path`, with that process gone."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]{{8}}\.tmp$")
    stale = []
    for p in path.parent.iterdir():
        m = pattern.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            stale.append(p)
    return sorted(stale)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    The temporary name starts with a dot (ingest's directory walk skips dot files) and holds
    the writer's pid, so that the next write of ``path`` removes what a killed writer left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_files(path):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole.

    Readers see the previous complete folder or the new one: the old folder is renamed aside,
    the new one renamed into place, and only then is the old one removed (between the two
    renames ``path`` is briefly absent, never partial). A folder left by a killed writer
    (``.<name>.<pid>.dir``/``.old``, that process gone) is removed by the next write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.(?:dir|old)$")
    for p in path.parent.iterdir():
        m = pattern.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.dir"
    old = path.parent / f".{path.name}.{os.getpid()}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    with atomic_path(path) as tmp:
        kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with open(tmp, mode, **kwargs) as fh:
            yield fh


def display_path(path: str | Path, root: str | Path) -> str:
    """``path`` relative to ``root`` (posix) when inside it, else as given: how outputs,
    ledgers and reports name files."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def file_md5(path: str | Path) -> str:
    """The file's MD5, as DVC records it for a file output in dvc.lock."""
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dumps_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, sort_keys=True, indent=2, default=str)
        fh.write("\n")


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(dumps_line(row))
            n += 1
    return n


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number"}


def _json_kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return _JSON_KINDS.get(type(value), type(value).__name__)


def read_jsonl_lines(
    path: str | Path, *, required: Iterable[str] = (), name: str | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank line of a JSONL file, counting from 1.

    A line that is not UTF-8, not valid JSON, not a JSON object, or lacks a key of
    ``required`` raises a one-line :class:`UserError` ``PATH, line N: <what is wrong>``
    (the first bad line; the lines before it have been yielded); a missing file raises
    ``PATH: no such file``. Callers that want a message of their own for a missing file check
    it first. ``name``: how the errors name the file (default: ``path`` as given)."""
    path = Path(path)
    required = tuple(required)
    where = name or str(path)
    if not path.is_file():
        raise UserError(f"{where}: no such file")
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(
                    f"{where}, line {n}: not UTF-8 text (byte {err.start + 1} is 0x"
                    f"{raw[err.start]:02x})"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line.rstrip())  # an error at the end: a column of this line
            except json.JSONDecodeError as err:
                raise UserError(
                    f"{where}, line {n}: not valid JSON ({err.msg} at column {err.colno})"
                ) from None
            if not isinstance(row, dict):
                raise UserError(f"{where}, line {n}: not a JSON object (got {_json_kind(row)})")
            missing = [k for k in required if k not in row]
            if missing:
                keys = ", ".join(repr(k) for k in missing)
                noun = "keys" if len(missing) > 1 else "key"
                raise UserError(f"{where}, line {n}: no {noun} {keys}")
            yield n, row


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file, blank lines skipped; a bad line is an error naming the
    file and line (:func:`read_jsonl_lines`)."""
    for _, row in read_jsonl_lines(path):
        yield row


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL, CSV or Parquet table of any columns (not only records), in order:
    what ``provena scrub`` and ``provena dedup`` read. An empty file is an error."""
    import pyarrow.csv as pcsv

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = list(read_jsonl(path))
    elif suffix == ".csv":
        rows = pcsv.read_csv(path).to_pylist()
    elif suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        raise UserError(
            f"{path}: unsupported file type '{path.suffix}'; use .jsonl, .csv or .parquet"
        )
    if not rows:
        raise UserError(f"{path}: file holds no rows")
    return rows


def write_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write rows as JSONL, CSV or Parquet (by the file's suffix), atomically."""
    import pyarrow.csv as pcsv

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        write_jsonl(path, rows)
        return
    if suffix not in (".csv", ".parquet"):
        raise UserError(
            f"{path}: unsupported output type '{path.suffix}'; use .jsonl, .csv or .parquet"
        )
    table = pa.Table.from_pylist(rows)
    with atomic_path(path) as tmp:
        (pcsv.write_csv if suffix == ".csv" else pq.write_table)(table, tmp)


def table_columns(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every column some row has, in the order first seen."""
    return list(dict.fromkeys(k for r in rows for k in r))


def check_columns(path: str | Path, rows: list[dict[str, Any]], wanted: Iterable[str]) -> list[str]:
    """``wanted`` as a list, once each column is known to be in some row of ``path``."""
    present = table_columns(rows)
    wanted = list(wanted)
    missing = [c for c in wanted if c not in present]
    if missing:
        raise UserError(
            f"{path}: no column {', '.join(repr(m) for m in missing)}; "
            f"columns present: {', '.join(present)}"
        )
    return wanted


class RecordWriter:
    """Streams records into a Parquet file (JSONL when the name ends in .jsonl), atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        self._tmp = self._ctx.__enter__()
        self._jsonl = self.path.suffix == ".jsonl"
        self._fh: IO[str] | None = None
        self._pq: pq.ParquetWriter | None = None
        if self._jsonl:
            self._fh = open(self._tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        else:
            self._pq = pq.ParquetWriter(self._tmp, RECORD_SCHEMA, compression="zstd")
        self.count = 0

    def write(self, records: Iterable[Record]) -> None:
        rows = [to_row(r) for r in records]
        if not rows:
            return
        self.count += len(rows)
        if self._fh is not None:
            for row in rows:
                row["meta"] = json.loads(row["meta"])
                self._fh.write(dumps_line(row))
        else:
            assert self._pq is not None
            self._pq.write_table(pa.Table.from_pylist(rows, schema=RECORD_SCHEMA))

    def close(self, ok: bool = True) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._pq is not None:
            if self.count == 0:  # an empty table still gets the schema
                self._pq.write_table(RECORD_SCHEMA.empty_table())
            self._pq.close()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(ok=exc_type is None)


class LinesWriter:
    """Streams JSON lines (ledger, quarantine) into a file, atomically."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ctx = atomic_path(self.path)
        self._fh = open(self._ctx.__enter__(), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self.count = 0

    def write(self, rows: Iterable[Any]) -> None:
        for row in rows:
            self._fh.write(dumps_line(row))
            self.count += 1

    def __enter__(self) -> LinesWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._fh.close()
        self._ctx.__exit__(exc_type, exc, tb)


def read_records(path: str | Path, batch_size: int = 5_000) -> Iterator[list[Record]]:
    """Yield batches of records from a Parquet or JSONL record file."""
    path = Path(path)
    if path.suffix == ".jsonl":
        batch: list[Record] = []
        for row in read_jsonl(path):
            batch.append(row)  # type: ignore[arg-type]
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    pf = pq.ParquetFile(path)
    for rb in pf.iter_batches(batch_size=batch_size):
        yield [from_row(r) for r in rb.to_pylist()]
