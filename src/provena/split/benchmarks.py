"""The user's benchmark files (``split.decontaminate_against``) and the records that copy them.

Files are found and read by the readers ingest uses (:mod:`provena.sources`): JSONL, JSON
arrays, CSV, TSV, Parquet and ``save_to_disk`` folders. A row's fields come from the first
column of each list in ``split.decontamination.columns`` that the file has; in a chat file
(``messages`` with role/content, or ShareGPT's ``conversations`` with from/value) the turns
before the last answer are the prompt (the first turn the instruction, the others the input)
and the last answer is the output. A row that cannot be read stops the stage with its file
and line: a benchmark row left unread would be a benchmark row left unchecked.

:class:`NearCopies` indexes each record's text (``decontamination.fields``) and then every
benchmark row's same fields in one MinHash LSH (:mod:`provena.dedup`, exact copies included
as similarity 1); a record with a benchmark row at or above the threshold is a :class:`Hit`
on its most similar row.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provena.config import BenchmarkColumns, DecontaminationConfig
from provena.dedup import Deduplicator
from provena.errors import IngestError, UserError
from provena.io import display_path, file_md5
from provena.sources import RECORD_SUFFIXES, InputFile, discover, open_source

PARAM = "split.decontaminate_against"
#: a benchmark row's size limit: a safety net against a damaged file, not a filter
MAX_ROW_BYTES = 64 << 20
#: chat layouts: (column, role key, content key); the roles that answer
CHAT_LAYOUTS = (("messages", "role", "content"), ("conversations", "from", "value"))
ANSWER_ROLES = frozenset({"assistant", "gpt", "bot", "model", "chatgpt"})
#: how each kind of file numbers its rows in a reason: a text line, or the n-th item
LINE_WORD = {"jsonl": "line", "csv": "line", "tsv": "line"}


@dataclass(frozen=True)
class BenchmarkRow:
    source: str  # the file, relative to the project root
    line: int  # its line (JSONL, CSV, TSV) or item number (JSON array, Parquet, save_to_disk)
    kind: str  # jsonl | json | csv | tsv | parquet | hf
    text: str  # the compared fields, joined

    def where(self) -> str:
        return f"{self.source} {LINE_WORD.get(self.kind, 'row')} {self.line}"


@dataclass
class Benchmarks:
    """Every row of the benchmark files, and what was read: each file with its hash, so the
    metrics name exactly which versions a run was checked against."""

    rows: list[BenchmarkRow] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    row: int  # the record's row in the input
    bench: BenchmarkRow
    similarity: float


def _has_magic(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def find_files(patterns: Sequence[str], root: Path) -> tuple[list[InputFile], list[str]]:
    """The files ``patterns`` name (paths, folders or globs relative to ``root``), sorted and
    each once, and the files a glob matched that are no benchmark (not a format ingest reads).

    A pattern that matches nothing, and a file named outright in another format, are errors."""
    found: dict[Path, InputFile] = {}
    skipped: list[str] = []
    for pattern in patterns:
        base = Path(pattern) if Path(pattern).is_absolute() else root / pattern
        if _has_magic(pattern):
            matches = [Path(p) for p in sorted(glob.glob(str(base), recursive=True))]
        else:
            matches = [base] if base.exists() else []
        if not matches:
            raise UserError(f"{PARAM}: {pattern!r} matches no file or folder (under {root})")
        for path in matches:
            if (
                path.is_file()
                and _has_magic(pattern)
                and path.suffix.lower() not in RECORD_SUFFIXES
            ):
                skipped.append(display_path(path, root))
                continue
            try:
                files, inner = discover([path])
            except IngestError as err:
                raise UserError(f"{PARAM}: {err}") from None
            skipped += [display_path(s["path"], root) for s in inner]
            for f in files:
                found.setdefault(f.path.resolve(), f)
    return sorted(found.values(), key=lambda f: str(f.path)), sorted(set(skipped))


def _hashes(f: InputFile, root: Path) -> dict[str, Any]:
    if f.kind != "hf":
        return {"md5": file_md5(f.path)}
    return {
        "files": {
            p.relative_to(f.path).as_posix(): file_md5(p)
            for p in sorted(f.path.rglob("*"))
            if p.is_file()
        }
    }


def _text(value: Any, where: str, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise UserError(f"{PARAM}: {where}: column '{column}' holds {type(value).__name__}, not text")


def _chat(value: Any, where: str, layout: tuple[str, str, str]) -> dict[str, str]:
    col, rkey, ckey = layout
    if isinstance(value, str):  # a CSV cell holds JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError(f"{PARAM}: {where}: column '{col}' is not a JSON list") from None
    if not isinstance(value, list) or not all(
        isinstance(m, dict) and isinstance(m.get(ckey), str) for m in value
    ):
        raise UserError(
            f"{PARAM}: {where}: column '{col}' must be a list of messages with text '{ckey}'"
        )
    turns = [(str(m.get(rkey, "")).lower(), m[ckey]) for m in value]
    last = max((i for i, (role, _) in enumerate(turns) if role in ANSWER_ROLES), default=None)
    prompt = turns if last is None else turns[:last]
    return {
        "instruction": prompt[0][1] if prompt else "",
        "input": "\n\n".join(t for _, t in prompt[1:]),
        "output": "" if last is None else turns[last][1],
    }


def _columns(source: str, present: list[str], cols: BenchmarkColumns) -> dict[str, str | None]:
    have = set(present)

    def first(names: list[str]) -> str | None:
        return next((c for c in names if c in have), None)

    mapping = {
        "instruction": first(cols.instruction),
        "input": first(cols.input),
        "output": first(cols.output),
    }
    if mapping["instruction"] is None:
        raise UserError(
            f"{PARAM}: {source}: no instruction column: looked for "
            f"{', '.join(cols.instruction)} (split.decontamination.columns.instruction) or a "
            f"chat column (messages, conversations); columns present: "
            f"{', '.join(present) or '(none)'}"
        )
    return mapping


def read_file(
    f: InputFile, source: str, cols: BenchmarkColumns, fields: Sequence[str]
) -> Iterator[BenchmarkRow]:
    """Each row of one benchmark file as the text compared (rows whose fields are all empty
    are left out: there is nothing to compare)."""
    try:
        src = open_source(f, source, MAX_ROW_BYTES)
    except IngestError as err:
        raise UserError(f"{PARAM}: {err}") from None
    chat = next((lay for lay in CHAT_LAYOUTS if lay[0] in src.columns), None)
    mapping = None if chat else _columns(source, src.columns, cols)
    for raw in src.rows:
        where = f"{raw.source} {LINE_WORD.get(f.kind, 'row')} {raw.line}"
        if raw.data is None:
            raise UserError(f"{PARAM}: {where}: {raw.error}")
        if chat is not None:
            values = _chat(raw.data.get(chat[0]), where, chat)
        else:
            assert mapping is not None
            values = {k: _text(raw.data.get(c), where, c) if c else "" for k, c in mapping.items()}
        text = "\n\n".join(values[k] for k in fields if values[k])
        if text.strip():
            yield BenchmarkRow(raw.source, raw.line, f.kind, text)


def load(patterns: Sequence[str], cfg: DecontaminationConfig, root: Path) -> Benchmarks:
    """Every row of the files ``patterns`` name, and each file with its hash and row count."""
    out = Benchmarks()
    files, skipped = find_files(patterns, root)
    for f in files:
        source = display_path(f.path, root)
        rows = list(read_file(f, source, cfg.columns, cfg.fields))
        if not rows:
            raise UserError(f"{PARAM}: {source}: holds no row with text to compare")
        out.rows += rows
        out.files.append({"path": source, "kind": f.kind, "rows": len(rows), **_hashes(f, root)})
    if skipped:
        out.files.append({"skipped": skipped, "why": "not a format ingest reads"})
    return out


class NearCopies:
    """Records fed with :meth:`add` (rows 0, 1, ... in order), then :meth:`hits` against the
    benchmark rows: one LSH over both, so a near pair is found whichever side it starts from."""

    def __init__(self, cfg: DecontaminationConfig):
        self.cfg = cfg
        self.dd = Deduplicator(cfg.dedup_config())
        self._rows: list[int] = []
        self._texts: list[str] = []
        self.n = 0

    def add(self, row: int, text: str) -> None:
        self._rows.append(row)
        self._texts.append(text)
        self.n = row + 1
        if len(self._rows) >= self.cfg.chunk_size:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self.dd.add(self._rows, self._texts)
            self._rows, self._texts = [], []

    def hits(self, bench: Sequence[BenchmarkRow]) -> dict[int, Hit]:
        """Each record with a near copy among ``bench``: its most similar row (the first of
        equals, in file order)."""
        self._flush()
        if not bench:
            return {}
        n = self.n
        for start in range(0, len(bench), self.cfg.chunk_size):
            part = bench[start : start + self.cfg.chunk_size]
            self.dd.add(range(n + start, n + start + len(part)), [b.text for b in part])
        best: dict[int, tuple[float, int]] = {}
        for a, b, sim in self.dd.near_pairs():
            rec, other = (a, b) if a < b else (b, a)
            if rec >= n or other < n:
                continue  # two records, or two benchmark rows
            j = other - n
            cur = best.get(rec)
            if cur is None or (-sim, j) < (-cur[0], cur[1]):
                best[rec] = (sim, j)
        return {r: Hit(r, bench[j], round(sim, 4)) for r, (sim, j) in sorted(best.items())}
