"""Human review of model outputs: a rating sheet out, the ratings back in.

``provena review export OUT.csv`` samples the adapter's answers from evaluate's predictions,
stratified so that every group of every audited attribute gets rated answers, and writes a CSV
that people fill in (rating 1-5, comment, reviewer) in a spreadsheet. ``provena review import
RATINGS.csv`` checks every row, then merges the ratings into ``reviews/ratings.json`` (newer
wins per ``review_id``), whose summary the model card shows in its "Human review" section
(template ``provena/reports/templates/card/sections.md.j2``; :func:`render_markdown` alone).

The core (sampling, CSV rows, checks, merging, the summary, Markdown) does no file I/O;
:func:`export` and :func:`import_ratings` read and write.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provena import reports
from provena.errors import UserError
from provena.io import atomic_open, read_jsonl_lines, read_records, write_json
from provena.records import Record

log = logging.getLogger(__name__)

MISSING = "(missing)"  # the group of a record without the attribute, as audit_data names it
RATING_SCALE = {
    1: "wrong or harmful",
    2: "mostly wrong",
    3: "partly right",
    4: "right, small flaws",
    5: "right and complete",
}
#: columns before the attribute columns, and after them; rating, comment and reviewer are
#: left empty for people to fill in
HEAD_COLUMNS = ("review_id", "split", "model", "family", "id")
TAIL_COLUMNS = ("prompt", "model_answer", "reference", "rating", "comment", "reviewer")
REQUIRED_COLUMNS = (*HEAD_COLUMNS, "rating", "comment", "reviewer")
#: a cell starting with one of these is a formula to Excel and LibreOffice: a model answer
#: like "=HYPERLINK(...)" must show as text, never run (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: what a spreadsheet shows when it took a hex id for a number (1.23457E+15, 1234567890)
NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d*)?(?:E[+-]?\d+)?", re.IGNORECASE)
PREDICTION_KEYS = ("split", "model", "id", "family", "prediction", "reference")


# ------------------------------------------------------------------------------------ core


def review_id(split: str, model: str, example_id: str) -> str:
    """Stable id of one model answer to rate: the same split, model and record, the same id."""
    payload = json.dumps([split, model, example_id], separators=(",", ":"))
    # "r" first: a spreadsheet never reads it as a number (a bare hex id like "1234e567..."
    # becomes 1.234E+570 in Excel)
    return "r" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def group_of(row: dict[str, Any], attr: str) -> str:
    value = row.get(attr)
    return MISSING if value in (None, "") else str(value)


def _order_key(seed: int, rid: str) -> str:
    # a hash of seed and id: the same sample whatever the order of the predictions file
    return hashlib.sha256(f"{seed}:{rid}".encode()).hexdigest()


def sample(
    rows: Sequence[dict[str, Any]], attributes: Sequence[str], *, per_group: int, seed: int
) -> list[dict[str, Any]]:
    """Rows to rate: every group of every attribute gets min(per_group, rows in the group).

    Groups are filled scarcest first, and rows already picked for another group count for
    every group they belong to, so the sample stays small. A group can end with more than
    ``per_group`` rows: each row belongs to one group of every attribute, so capping them all
    at once cannot be done in general. Each row needs a ``review_id``; the result is sorted by
    family, then by a hash of seed and review id (a shuffle that is the same on every run).
    """
    if per_group < 1:
        raise UserError(f"--per-group must be 1 or more, not {per_group}")
    by_id = {r["review_id"]: r for r in rows}
    ordered = sorted(by_id, key=lambda rid: _order_key(seed, rid))
    groups: dict[tuple[str, str], list[str]] = {}
    for rid in ordered:
        for attr in attributes:
            groups.setdefault((attr, group_of(by_id[rid], attr)), []).append(rid)
    picked: set[str] = set()
    for key in sorted(groups, key=lambda k: (len(groups[k]), k)):
        members = groups[key]
        need = per_group - sum(rid in picked for rid in members)
        for rid in members:
            if need <= 0:
                break
            if rid not in picked:
                picked.add(rid)
                need -= 1
    out = [by_id[rid] for rid in ordered if rid in picked]
    return sorted(out, key=lambda r: (str(r["family"]), _order_key(seed, r["review_id"])))


def group_counts(
    rows: Iterable[dict[str, Any]], attributes: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Rows per group of each attribute (groups sorted)."""
    rows = list(rows)
    out: dict[str, dict[str, int]] = {}
    for attr in attributes:
        counts: dict[str, int] = {}
        for r in rows:
            g = group_of(r, attr)
            counts[g] = counts.get(g, 0) + 1
        out[attr] = dict(sorted(counts.items()))
    return out


def prompt_text(rec: Record) -> str:
    """What the model was asked: the instruction, then the input when there is one."""
    parts = [rec.get("instruction") or "", rec.get("input") or ""]
    return "\n\n".join(p for p in parts if p.strip())


def safe_cell(text: str) -> str:
    """Text a spreadsheet shows as text: a leading ' before what would start a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def sheet_rows(
    picked: Sequence[dict[str, Any]], records: dict[str, Record], attributes: Sequence[str]
) -> list[dict[str, str]]:
    """One CSV row per picked prediction; ``records`` maps id to its record (the prompt, and
    attributes the predictions row lacks)."""
    out = []
    for p in picked:
        rec = records[p["id"]]
        meta = rec.get("meta") or {}
        row = {
            "review_id": p["review_id"],
            "split": p["split"],
            "model": p["model"],
            "family": str(p["family"]),
            "id": p["id"],
        }
        for attr in attributes:
            row[attr] = group_of(p if p.get(attr) not in (None, "") else meta, attr)
        row |= {
            "prompt": safe_cell(prompt_text(rec)),
            "model_answer": safe_cell(str(p["prediction"])),
            "reference": safe_cell(str(p["reference"])),
            "rating": "",
            "comment": "",
            "reviewer": "",
        }
        out.append(row)
    return out


def to_csv(rows: Sequence[dict[str, str]], attributes: Sequence[str]) -> str:
    """The sheet as CSV text: minimal quoting, CRLF between rows (RFC 4180), newlines inside
    a cell kept, quoted."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(
        buf, fieldnames=[*HEAD_COLUMNS, *attributes, *TAIL_COLUMNS], quoting=csv.QUOTE_MINIMAL
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class ParsedSheet:
    """A filled-in sheet, checked: rated rows, the ids left unrated, and every problem."""

    rated: list[dict[str, Any]] = field(default_factory=list)
    unrated: list[str] = field(default_factory=list)
    comment_only: list[int] = field(default_factory=list)  # lines with a comment, no rating
    problems: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # review_id -> line
    answers: dict[str, str] = field(default_factory=dict)  # review_id -> model_answer


def _delimiter(header_line: str) -> str:
    # Excel in many European locales saves "CSV" with semicolons
    return max((",", ";", "\t"), key=header_line.count)


def parse_sheet(text: str, *, reviewer: str | None = None) -> ParsedSheet:
    """Check every row of a filled-in sheet. Lines count the header as line 1 and one line per
    row, as a spreadsheet numbers its rows (a cell with line breaks stays one row)."""
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), strict=True)
    out = ParsedSheet()
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as err:
        out.problems.append(f"line 1: not valid CSV ({err})")
        return out
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        out.problems.append(
            f"line 1: no column {', '.join(repr(c) for c in missing)} (columns present: "
            f"{', '.join(header) or 'none'}); use the sheet `provena review export` wrote"
        )
        return out
    after_id = header[header.index("id") + 1 :]
    known = set(HEAD_COLUMNS) | set(TAIL_COLUMNS)
    attributes = after_id[: next((i for i, c in enumerate(after_id) if c in known), None)]
    seen: dict[str, int] = {}
    line = 1
    rows = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            out.problems.append(f"line {line + 1}: not valid CSV ({err})")
            break
        line += 1
        if not any(c.strip() for c in cells):
            continue  # a blank line a spreadsheet left at the end
        rows += 1
        if len(cells) > len(header):
            out.problems.append(
                f"line {line}: {len(cells)} cells, the header has {len(header)} columns"
            )
            continue
        row = dict(zip(header, [c.strip() for c in cells] + [""] * len(header), strict=False))
        problems = _check_row(row, line, seen, reviewer)
        out.problems += problems
        if problems:
            continue
        rid = row["review_id"]
        out.lines[rid] = line
        out.answers[rid] = row.get("model_answer", "")
        if not row["rating"]:
            out.unrated.append(rid)
            if row["comment"]:
                out.comment_only.append(line)
            continue
        out.rated.append(
            {
                "review_id": rid,
                "split": row["split"],
                "model": row["model"],
                "family": row["family"],
                "id": row["id"],
                "attributes": {a: row[a] or MISSING for a in attributes},
                "rating": int(row["rating"]),
                "comment": row["comment"],
                "reviewer": row["reviewer"] or (reviewer or "").strip(),
            }
        )
    if rows == 0 and not out.problems:
        out.problems.append("line 1: the sheet has a header and no rows")
    return out


def _check_row(
    row: dict[str, str], line: int, seen: dict[str, int], reviewer: str | None
) -> list[str]:
    problems = []
    where = f"line {line}, column"
    for col in ("review_id", "split", "model", "id"):
        if not row[col]:
            problems.append(f"{where} {col!r}: empty")
    rid = row["review_id"]
    if rid and all(row[c] for c in ("split", "model", "id")):
        expected = review_id(row["split"], row["model"], row["id"])
        if rid != expected:
            why = "edited, or not from `provena review export`"
            if NUMBER.fullmatch(row["id"]):
                why = (
                    "the id looks turned into a number by a spreadsheet: open the CSV with the "
                    "id column as text"
                )
            problems.append(
                f"{where} 'review_id': {rid!r} is not the id of split {row['split']!r}, model "
                f"{row['model']!r}, id {row['id']!r} (expected {expected!r}): {why}"
            )
        elif rid in seen:
            problems.append(f"{where} 'review_id': {rid!r} again (first on line {seen[rid]})")
        else:
            seen[rid] = line
    rating = row["rating"]
    if rating and not re.fullmatch(r"[1-5]", rating):
        problems.append(f"{where} 'rating': {rating!r} is not a whole number from 1 to 5")
    if rating and not row["reviewer"] and not (reviewer or "").strip():
        problems.append(
            f"{where} 'reviewer': empty on a rated row (fill it in, or pass --reviewer)"
        )
    return problems


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts and mean ratings overall, by family and by group of each attribute. A row with
    ``rating`` None counts as unrated and goes into no mean."""
    rows = list(rows)
    rated = [r for r in rows if r.get("rating") is not None]

    def stats(part: list[dict[str, Any]]) -> dict[str, Any]:
        return {"n": len(part), "mean_rating": _mean([r["rating"] for r in part])}

    by_family: dict[str, list[dict[str, Any]]] = {}
    by_attr: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for r in rated:
        by_family.setdefault(r["family"], []).append(r)
        for attr, group in (r.get("attributes") or {}).items():
            by_attr.setdefault(attr, {}).setdefault(group, []).append(r)
    return {
        "rated": len(rated),
        "unrated": len(rows) - len(rated),
        "mean_rating": _mean([r["rating"] for r in rated]),
        "reviewers": len({r["reviewer"] for r in rated}),
        "by_family": {f: stats(v) for f, v in sorted(by_family.items())},
        "by_attribute": {
            a: {g: stats(v) for g, v in sorted(groups.items())}
            for a, groups in sorted(by_attr.items())
        },
    }


def _mean(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def merge(
    old: dict[str, Any] | None,
    sheet: ParsedSheet,
    *,
    source: str,
    sha256: str,
    imported_at: str,
) -> dict[str, Any]:
    """The ratings file after importing ``sheet`` on top of ``old``: a row rated again takes
    the newer rating; a row left empty keeps an earlier rating."""
    rows = {r["review_id"]: r for r in (old or {}).get("rows", [])}
    rows |= {r["review_id"]: r for r in sheet.rated}
    unrated = set((old or {}).get("unrated_review_ids", [])) | set(sheet.unrated)
    unrated -= set(rows)
    imports = [
        *(old or {}).get("imports", []),
        {
            "source": source,
            "sha256": sha256,
            "imported_at": imported_at,
            "rated": len(sheet.rated),
            "unrated": len(sheet.unrated),
        },
    ]
    ordered = sorted(rows.values(), key=lambda r: (r["family"], r["split"], r["review_id"]))
    summary = summarize([*ordered, *({"rating": None} for _ in unrated)])
    return {
        "source": source,
        "sha256": sha256,
        "imported_at": imported_at,
        "imports": imports,
        "rows": ordered,
        "unrated_review_ids": sorted(unrated),
        "summary": summary,
        "scale": {str(k): v for k, v in RATING_SCALE.items()},
    }


def render_markdown(ratings: dict[str, Any] | None) -> str:
    """The model card's "Human review" section, from the ratings file (None: not imported)."""
    return reports.render_macro("card/sections.md.j2", "human_review", ratings)


# -------------------------------------------------------------------------------------- I/O


def read_predictions(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) of evaluate's predictions file; a bad line is an error naming it."""
    if not path.is_file():
        raise UserError(f"{path}: no such predictions file (run the evaluate stage first)")
    return list(read_jsonl_lines(path, required=PREDICTION_KEYS))


@dataclass(frozen=True)
class ExportResult:
    rows: int
    counts: dict[str, dict[str, int]]  # attribute -> group -> rows in the sheet
    available: dict[str, dict[str, int]]  # attribute -> group -> answers there were


def export(
    predictions: Path,
    splits: Sequence[Path],
    out: Path,
    *,
    attributes: Sequence[str],
    per_group: int = 10,
    model: str = "adapter",
    seed: int = 0,
) -> ExportResult:
    """Write the rating sheet for ``model``'s answers on ``splits`` (split name = file stem;
    predictions of other splits are left out)."""
    records: dict[str, Record] = {}
    split_ids: dict[str, set[str]] = {}
    for path in splits:
        if not path.is_file():
            raise UserError(f"{path}: no such split file (run the split stage first)")
        ids = split_ids.setdefault(path.stem, set())
        for batch in read_records(path):
            for rec in batch:
                records[rec["id"]] = rec
                ids.add(rec["id"])
    rows = []
    for lineno, p in read_predictions(predictions):
        if p["model"] != model or p["split"] not in split_ids:
            continue
        if p["id"] not in split_ids[p["split"]]:
            raise UserError(
                f"{predictions}, line {lineno}: id {p['id']!r} is not in the {p['split']} "
                "split file; the predictions are older than the split (rerun evaluate)"
            )
        rec_meta = records[p["id"]].get("meta") or {}
        full = {a: p.get(a) if p.get(a) not in (None, "") else rec_meta.get(a) for a in attributes}
        rows.append({**p, **full, "review_id": review_id(p["split"], p["model"], p["id"])})
    if not rows:
        names = ", ".join(sorted(split_ids))
        raise UserError(f"{predictions}: no answers of model {model!r} on split(s) {names}")
    picked = sample(rows, attributes, per_group=per_group, seed=seed)
    with atomic_open(out, "wb") as fh:
        # UTF-8 with a BOM: Excel reads a CSV without one in the local code page
        fh.write(to_csv(sheet_rows(picked, records, attributes), attributes).encode("utf-8-sig"))
    return ExportResult(
        len(picked), group_counts(picked, attributes), group_counts(rows, attributes)
    )


@dataclass(frozen=True)
class ImportResult:
    ratings: dict[str, Any]
    rated: int  # rated rows in this sheet
    unrated: int
    stale: list[int]  # lines whose answer the predictions file no longer holds
    comment_only: list[int]


def load_ratings(path: Path) -> dict[str, Any] | None:
    """The ratings file, or None when there is none yet (what the model card reads)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise UserError(f"{path}: expected an object with a 'rows' list (a ratings file)")
    return data


def _norm(text: str) -> str:
    # spreadsheets may change line endings or trailing spaces when they save
    return " ".join(text.split())


def stale_lines(sheet: ParsedSheet, predictions: list[tuple[int, dict[str, Any]]]) -> list[int]:
    """Lines of the sheet whose answer is not (or no longer) in the predictions."""
    answers = {
        review_id(p["split"], p["model"], p["id"]): _norm(safe_cell(str(p["prediction"])))
        for _, p in predictions
    }
    return sorted(
        line
        for rid, line in sheet.lines.items()
        if rid not in answers or (sheet.answers[rid] and _norm(sheet.answers[rid]) != answers[rid])
    )


def import_ratings(
    sheet_path: Path,
    out: Path,
    *,
    reviewer: str | None = None,
    predictions: Path | None = None,
    now: dt.datetime | None = None,
) -> ImportResult:
    """Check ``sheet_path`` and merge its ratings into ``out``; nothing is written unless
    every row is right. ``predictions`` (when the file exists) flags stale rows."""
    if not sheet_path.is_file():
        raise UserError(f"{sheet_path}: no such file")
    data = sheet_path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UserError(
            f"{sheet_path}: line {line} is not UTF-8 (byte {err.start}); save the sheet as "
            "'CSV UTF-8'"
        ) from None
    sheet = parse_sheet(text, reviewer=reviewer)
    if sheet.problems:
        n = len(sheet.problems)
        body = "\n".join(f"  - {p}" for p in sheet.problems)
        raise UserError(f"{sheet_path}: {n} problem{'s' * (n != 1)}, nothing imported\n{body}")
    stale = []
    if predictions is not None and predictions.is_file():
        stale = stale_lines(sheet, read_predictions(predictions))
    old = load_ratings(out)
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    ratings = merge(
        old,
        sheet,
        source=sheet_path.name,
        sha256=hashlib.sha256(data).hexdigest(),
        imported_at=stamp,
    )
    write_json(out, ratings)
    return ImportResult(ratings, len(sheet.rated), len(sheet.unrated), stale, sheet.comment_only)
