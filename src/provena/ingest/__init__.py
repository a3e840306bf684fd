"""ingest: map any source onto the record schema, normalize its text, quarantine what is bad.

The core, :func:`ingest_rows`, is pure: raw rows and a column mapping in, records, quarantine
entries, ledger lines and counts out. :func:`run` does the file I/O around it for the DVC
stage and for ``provena ingest``, so both run the same code.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provena.config import SHAPE_KEYS, IngestConfig
from provena.errors import IngestError
from provena.io import LinesWriter, RecordWriter, display_path, write_json
from provena.normalize import TextNormalizer
from provena.progress import progress
from provena.records import (
    Message,
    StageResult,
    StageStats,
    ledger_line,
    make_record,
    quarantine_entry,
    stage_metrics,
)
from provena.sources import InputFile, RawRow, discover, open_source, raw_excerpt

STAGE = "ingest"
log = logging.getLogger(__name__)

#: Column names that reveal a chat shape when ``shape: auto``; (messages, role, content).
CHAT_LAYOUTS = (("messages", "role", "content"), ("conversations", "from", "value"))


@dataclass(frozen=True)
class ColumnMapping:
    """Where each record field comes from in one input file."""

    shape: str
    columns: dict[str, str | None]
    config_key: str  # where in params.yaml the mapping was set, for error messages

    def describe(self) -> str:
        return f"{self.shape} " + json.dumps(self.columns)


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Glob with path semantics: ``*`` and ``?`` stay within one folder, ``**/`` spans any."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(rel_path: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(rel_path) is not None


def _rule_for(rel_path: str, cfg: IngestConfig) -> tuple[int, Any] | None:
    for i, rule in enumerate(cfg.sources):
        if glob_match(rel_path, rule.glob):
            return i, rule
    return None


def resolve_mapping(
    source: str, rel_path: str, columns: list[str], cfg: IngestConfig
) -> ColumnMapping:
    """Pick the shape and columns for one file; raise naming the file and any missing column."""
    found = _rule_for(rel_path, cfg)
    if found is None:
        raise IngestError(
            f"{source}: no entry in ingest.sources matches it (globs: "
            f"{[r.glob for r in cfg.sources]})"
        )
    idx, rule = found
    present = set(columns)
    shape = rule.shape
    if shape == "auto":
        shape = _detect_shape(source, columns, cfg)
    if rule.columns is not None:
        mapping = dict(getattr(cfg.columns, shape).model_dump())
        mapping.update(rule.columns)
        key = f"ingest.sources[{idx}].columns"
    elif rule.shape == "auto" and shape == "messages":
        mapping = dict(cfg.columns.messages.model_dump())
        for layout in CHAT_LAYOUTS:
            if layout[0] in present and mapping["messages"] not in present:
                mapping = dict(zip(("messages", "role", "content"), layout, strict=True))
        key = "ingest.columns.messages"
    else:
        mapping = dict(getattr(cfg.columns, shape).model_dump())
        key = f"ingest.columns.{shape}"
    for field, required in SHAPE_KEYS[shape].items():
        col = mapping.get(field)
        if shape == "messages" and field != "messages":
            continue  # role/content are keys inside each message, checked per row
        if col and col not in present and required:
            raise IngestError(
                f"{source}: column '{col}' not found (mapped to '{field}' by {key}.{field}); "
                f"columns present: {', '.join(columns) or '(none)'}"
            )
        if col and col not in present:
            mapping[field] = None  # an optional column this file does not have
    return ColumnMapping(shape, mapping, key)


def _detect_shape(source: str, columns: list[str], cfg: IngestConfig) -> str:
    present = set(columns)
    if cfg.columns.messages.messages in present or any(lay[0] in present for lay in CHAT_LAYOUTS):
        return "messages"
    if cfg.columns.dolly.output in present and cfg.columns.dolly.instruction in present:
        return "dolly"
    if cfg.columns.alpaca.output in present and cfg.columns.alpaca.instruction in present:
        return "alpaca"
    raise IngestError(
        f"{source}: cannot tell the shape from its columns ({', '.join(columns) or 'none'}); "
        "expected alpaca (instruction/input/output), dolly (instruction/context/response) or "
        "chat (messages with role/content). Map the columns in ingest.sources with an explicit "
        "shape and columns."
    )


class _RowProblem(Exception):
    def __init__(self, rule: str, reason: str):
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


def _text(row: dict[str, Any], field: str, col: str | None, required: bool) -> str:
    if col is None:
        return ""
    value = row.get(col)
    if value is None:
        if required:
            raise _RowProblem(
                "missing_field", f"field '{field}' (column '{col}') is missing or null"
            )
        return ""
    if not isinstance(value, str):
        raise _RowProblem(
            "wrong_type",
            f"field '{field}' (column '{col}') must be text, got {type(value).__name__}",
        )
    return value


def _messages(row: dict[str, Any], m: ColumnMapping, aliases: dict[str, str]) -> list[Message]:
    col = m.columns["messages"]
    value = row.get(col)  # type: ignore[arg-type]
    if isinstance(value, str):  # CSV cells hold JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _RowProblem(
                "bad_messages", f"column '{col}' is text that is not a JSON list"
            ) from None
    if not isinstance(value, list) or not value:
        raise _RowProblem("bad_messages", f"column '{col}' must be a non-empty list of messages")
    out: list[Message] = []
    rkey, ckey = m.columns["role"], m.columns["content"]
    for i, msg in enumerate(value, start=1):
        if not isinstance(msg, dict):
            raise _RowProblem("bad_messages", f"message {i} is not an object")
        role, content = msg.get(rkey), msg.get(ckey)
        if not isinstance(role, str) or not isinstance(content, str):
            raise _RowProblem("bad_messages", f"message {i} needs text '{rkey}' and '{ckey}'")
        role = aliases.get(role.lower(), role.lower())
        if role not in ("system", "user", "assistant"):
            raise _RowProblem("bad_messages", f"message {i} has unknown role '{role}'")
        out.append(Message(role=role, content=content))
    if out[-1]["role"] != "assistant":
        raise _RowProblem("bad_messages", "the last message is not from the assistant")
    if not any(x["role"] == "user" for x in out):
        raise _RowProblem("bad_messages", "no user message")
    return out


def chat_to_fields(messages: list[Message]) -> tuple[str, str, str]:
    """Map a chat onto (instruction, input, output).

    output is the last assistant turn; instruction is the system prompt, or else the first
    user turn; input is what remains before the answer (one user turn as is, several turns as
    ``role: content`` blocks). The full list is kept in ``messages`` as well.
    """
    *prior, last = messages
    system = [m["content"] for m in prior if m["role"] == "system"]
    turns = [m for m in prior if m["role"] != "system"]
    if system:
        instruction = "\n\n".join(system)
    else:
        instruction, turns = turns[0]["content"], turns[1:]
    if len(turns) == 1 and turns[0]["role"] == "user":
        input_ = turns[0]["content"]
    else:
        input_ = "\n\n".join(f"{m['role']}: {m['content']}" for m in turns)
    return instruction, input_, last["content"]


def _check_size(texts: list[str], limit: int) -> None:
    # a cheap upper bound first: a character is at most 4 bytes in UTF-8
    if sum(len(t) for t in texts) * 4 <= limit:
        return
    size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    if size > limit:
        raise _RowProblem(
            "record_too_large",
            f"record text is {size:,} bytes, over ingest.max_record_bytes ({limit:,})",
        )


def _meta(row: dict[str, Any], used: set[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in row.items():
        if key in used or value is None:
            continue
        if key == "meta":
            if isinstance(value, str) and value.strip().startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    value = json.loads(value)
            if isinstance(value, dict):
                meta.update(value)
                continue
        meta[key] = value
    return meta


def ingest_rows(
    rows: Iterable[RawRow],
    mapping: ColumnMapping | None,
    normalizer: TextNormalizer,
    *,
    role_aliases: dict[str, str] | None = None,
    max_record_bytes: int | None = None,
) -> StageResult:
    """Map raw rows onto records and normalize their text. Pure: no file I/O.

    ``max_record_bytes`` caps the UTF-8 size of a record's text; JSONL lines are capped as
    they are read, but a JSON array, Parquet or HF dataset row arrives here whole.
    """
    result = StageResult()
    stats: StageStats = result.stats
    aliases = {k.lower(): v for k, v in (role_aliases or {}).items()}
    for raw in rows:
        stats.records_in += 1
        try:
            if raw.data is None:
                raise _RowProblem(raw.rule or "unreadable", raw.error or "unreadable row")
            assert mapping is not None  # rows that parse imply the file's columns were read
            row = raw.data
            messages: list[Message] | None = None
            if mapping.shape == "messages":
                messages = _messages(row, mapping, aliases)
                used = {mapping.columns["messages"]}
            else:
                cols = mapping.columns
                fields = [
                    _text(row, "instruction", cols["instruction"], True),
                    _text(row, "input", cols.get("input"), False),
                    _text(row, "output", cols["output"], True),
                ]
                used = {c for c in cols.values() if c}
            if max_record_bytes is not None:
                texts = [m["content"] for m in messages] if messages is not None else fields
                _check_size(texts, max_record_bytes)
        except _RowProblem as p:
            stats.records_quarantined += 1
            stats.quarantined_by_rule[p.rule] += 1
            row_kept: dict[str, Any] = {}
            if raw.data is not None and p.rule == "record_too_large":
                # cut like an oversized JSONL line: quarantine must not hold 10 MB rows whole
                row_kept["raw"] = raw_excerpt(json.dumps(raw.data, ensure_ascii=False, default=str))
            elif raw.data is not None:
                row_kept["record"] = raw.data
            elif raw.raw is not None:
                row_kept["raw"] = raw.raw
            result.rejected.append(
                quarantine_entry(
                    stage=STAGE,
                    source=raw.source,
                    rule=p.rule,
                    reason=p.reason,
                    line=raw.line,
                    **row_kept,
                )
            )
            continue

        changed: dict[str, list[str]] = {}

        def norm(text: str, field: str, changed: dict[str, list[str]] = changed) -> str:
            new, rules = normalizer(text)
            for r in rules:
                changed.setdefault(r, []).append(field)
            return new

        if messages is not None:
            messages = [
                Message(role=m["role"], content=norm(m["content"], f"messages[{i}]"))
                for i, m in enumerate(messages)
            ]
            instruction, input_, output = chat_to_fields(messages)
        else:
            instruction, input_, output = (
                norm(t, f) for t, f in zip(fields, ("instruction", "input", "output"), strict=True)
            )
        rec = make_record(
            source=raw.source,
            instruction=instruction,
            input=input_,
            output=output,
            messages=messages,
            meta=_meta(row, used),
        )
        stats.records_kept += 1
        result.kept.append(rec)
        for rule, flds in changed.items():
            stats.changed_by_rule[rule] += 1
            result.ledger.append(
                ledger_line(
                    id=rec["id"],
                    stage=STAGE,
                    action="normalized",
                    rule=rule,
                    reason=f"{rule} changed " + ", ".join(flds),
                    fields=flds,
                    source=raw.source,
                    line=raw.line,
                )
            )
    for entry in result.rejected:
        result.ledger.append(
            ledger_line(
                id=None,
                stage=STAGE,
                action="quarantined",
                rule=entry["rule"],
                reason=entry["reason"],
                source=entry["source"],
                line=entry["line"],
            )
        )
    return result


def run(
    inputs: list[Path],
    cfg: IngestConfig,
    *,
    out: Path,
    ledger: Path | None = None,
    quarantine: Path | None = None,
    metrics: Path | None = None,
    base: Path | None = None,
) -> dict[str, Any]:
    """Ingest files or folders into one record file; write ledger, quarantine and metrics.

    ``ledger`` and ``quarantine`` default to ``OUT.ledger.jsonl`` and ``OUT.quarantine.jsonl``
    beside ``out``. ``base`` is the folder that source names are shown relative to (the
    project root for the stage); globs in ``ingest.sources`` match paths relative to each
    input folder.
    """
    stem = out.with_suffix("")
    ledger = ledger or stem.with_name(stem.name + ".ledger.jsonl")
    quarantine = quarantine or stem.with_name(stem.name + ".quarantine.jsonl")
    base = base or Path.cwd()
    files, skipped = discover(inputs)
    for s in skipped:
        log.warning("skipping %s: %s", s["path"], s["reason"])
    normalizer = TextNormalizer(cfg.normalize)
    totals = StageStats()
    per_file: list[dict[str, Any]] = []
    blank_lines = 0
    with RecordWriter(out) as rw, LinesWriter(ledger) as lw, LinesWriter(quarantine) as qw:
        bar = progress(desc="ingest", unit=" rec", unit_scale=True)
        for f in files:
            source = display_path(f.path, base)
            root = next((r for r in inputs if r == f.path or r in f.path.parents), f.path)
            rel = f.path.name if root == f.path else f.path.relative_to(root).as_posix()
            src = open_source(InputFile(f.path, f.kind), source, cfg.max_record_bytes)
            mapping = resolve_mapping(source, rel, src.columns, cfg) if src.columns else None
            fstats = StageStats()
            for chunk in _chunks(src.rows, cfg.chunk_size):
                res = ingest_rows(
                    chunk,
                    mapping,
                    normalizer,
                    role_aliases=cfg.role_aliases,
                    max_record_bytes=cfg.max_record_bytes,
                )
                rw.write(res.kept)
                qw.write(res.rejected)
                lw.write(res.ledger)
                fstats.merge(res.stats)
                bar.update(len(chunk))
            blank_lines += src.notes.get("blank_lines", 0)
            if fstats.records_in == 0:
                raise IngestError(f"{source}: file holds no records")
            totals.merge(fstats)
            per_file.append(
                {
                    "source": source,
                    "kind": f.kind,
                    "shape": mapping.shape if mapping else None,
                    "records_in": fstats.records_in,
                    "records_kept": fstats.records_kept,
                    "records_quarantined": fstats.records_quarantined,
                }
            )
            log.info(
                "%s: %s, %d in, %d kept, %d quarantined",
                source,
                mapping.describe() if mapping else "no readable rows",
                fstats.records_in,
                fstats.records_kept,
                fstats.records_quarantined,
            )
        bar.close()
    report = stage_metrics(
        STAGE,
        totals,
        files=per_file,
        files_skipped=skipped,
        blank_lines_skipped=blank_lines,
    )
    if metrics is not None:
        write_json(metrics, report)
    return report


def _chunks(rows: Iterable[RawRow], size: int) -> Iterable[list[RawRow]]:
    chunk: list[RawRow] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
