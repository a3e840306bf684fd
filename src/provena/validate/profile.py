"""``provena suite init``: a starting Great Expectations suite that fits the user's data.

:func:`profile_suite` profiles the curated table (the validate stage's input, or any record
file) as the validate stage sees it (:func:`provena.validate.build_table`, the same derived
columns) and writes one expectation per property below, each with a stable ``meta.name``, a
severity and a description that says where its bound came from:

- the record's shape (critical): the columns, text types, no nulls, unique ids, no empty output,
  records that fit ``validate.max_seq_len`` and no residual PII shape in any text (the shipped
  suite's own ``fits_max_seq_len`` and ``no_residual_pii``, reused as they are): the contract
  every curated table keeps, whatever the data;
- what the data looks like (warning, for the user to tighten): the record count, instruction
  and output lengths (99% of rows inside the 0.5% and 99.5% quantiles widened by
  :data:`MARGIN`; the median within :data:`MARGIN` of what was seen),
  the languages seen, the share of exact duplicate texts and of prompts answered more than once
  (at most what was seen plus :data:`DUPLICATE_SLACK`), the values of each recorded attribute,
  and, only when some record names a task family, the families and their shares.

The suite is plain JSON in the format of ``expectations/curated.json``, checked to load in
Great Expectations before it is written; nothing in it depends on the date or the machine, so
the same table gives the same file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from provena.config import ValidateConfig
from provena.errors import UserError
from provena.io import atomic_open, display_path, file_md5, read_jsonl_lines, read_records
from provena.records import Record, record_id
from provena.tokens import TokenCounter
from provena.validate import (
    BASE_COLUMNS,
    STAGE,
    build_table,
    run_suite,
    suite_columns,
    suite_parameters,
    verdict,
)

#: length bounds are widened by this share of what was seen (50%: a 200-character 99.5%
#: quantile allows 300)
MARGIN = 0.5
#: the row bounds: 99% of rows (``mostly``) between these quantiles, widened by MARGIN
ROW_QUANTILES = (0.005, 0.995)
ROW_MOSTLY = 0.99
#: duplicate shares may grow by this much (1 point) over what was seen
DUPLICATE_SLACK = 0.01
#: a family's share may move by half of itself, and at least this much (2 points)
SHARE_MIN_SLACK = 0.02

#: reused as they are from the shipped suite (expectations/curated.json; a test keeps them equal)
FITS_MAX_SEQ_LEN = {
    "type": "expect_column_values_to_be_between",
    "kwargs": {
        "column": "n_tokens",
        "min_value": 1,
        "max_value": {"$PARAMETER": "max_seq_len"},
        "mostly": 0.99,
    },
    "meta": {"name": "fits_max_seq_len"},
    "severity": "critical",
    "description": "records fit the training sequence length (validate.max_seq_len), 99% at least",
}
NO_RESIDUAL_PII = {
    "type": "expect_column_values_to_not_match_regex_list",
    "kwargs": {"column": "text", "regex_list": {"$PARAMETER": "residual_pii_patterns"}},
    "meta": {"name": "no_residual_pii"},
    "severity": "critical",
    "description": "no SSN, card number, IBAN or IP address shape is left in any text "
    "(validate.residual_pii_patterns)",
}


@dataclass
class InitResult:
    """What ``provena suite init`` wrote and found."""

    out: Path
    suite: dict[str, Any]
    records: int
    #: what was left out and why (no family, no language to tell, ...)
    notes: list[str] = field(default_factory=list)
    #: the written suite run on the profiled table (Provena's results, one per expectation)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def verdict(self) -> dict[str, Any]:
        return verdict(self.results)


# ------------------------------------------------------------------------------- reading


def _jsonl_records(path: Path) -> list[Record]:
    """A JSONL file of curated records, each line checked (file and line in every error)."""
    out: list[Record] = []
    for n, row in read_jsonl_lines(path):
        where = f"{path}, line {n}"
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str):
                raise UserError(f"{where}: field {key!r} missing or not a string")
        for key in ("id", "source", "input"):
            if row.get(key) is not None and not isinstance(row[key], str):
                raise UserError(f"{where}: field {key!r} is not a string")
        meta = row.get("meta") or {}
        if isinstance(meta, str):  # as Parquet rows hold it
            try:
                meta = json.loads(meta)
            except ValueError as err:
                raise UserError(f"{where}: field 'meta' is not a JSON object ({err})") from None
        if not isinstance(meta, dict):
            raise UserError(f"{where}: field 'meta' is not an object")
        inp = row.get("input") or ""
        out.append(
            {
                **row,
                # what the pipeline's records hold; a file without ids gets the pipeline's
                # content hash (provena.records.record_id)
                "id": row.get("id") or record_id(row["instruction"], inp, row["output"]),
                "source": row.get("source") or path.name,
                "input": inp,
                "meta": meta,
            }
        )
    return out


def read_curated(path: Path) -> list[Record]:
    """The records of a curated table: Parquet (as the pipeline writes it) or JSONL."""
    if not path.is_file():
        raise UserError(
            f"{path}: no such file (the curated table is the validate stage's input, "
            "data/interim/clean.parquet after `dvc repro clean`; or name one with --data)"
        )
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        records = _jsonl_records(path)
    elif path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (pa.ArrowException, OSError) as err:
            raise UserError(f"{path}: not a Parquet file ({err})") from None
        missing = [c for c in ("id", "instruction", "input", "output", "meta") if c not in names]
        if missing:
            raise UserError(
                f"{path}: not a record table: no column {', '.join(missing)} "
                f"(columns: {', '.join(names)})"
            )
        records = [r for batch in read_records(path) for r in batch]
    else:
        raise UserError(f"{path}: unsupported file type '{path.suffix}'; use .parquet or .jsonl")
    if not records:
        raise UserError(f"{path}: holds no record to profile")
    return records


# ----------------------------------------------------------------------------- profiling


def _e(name: str, type_: str, kwargs: dict[str, Any], severity: str, description: str):
    return {
        "type": type_,
        "kwargs": kwargs,
        "meta": {"name": name},
        "severity": severity,
        "description": description,
    }


def _widen(lo: float, hi: float) -> tuple[int, int]:
    """[lo, hi] widened by MARGIN, to whole numbers (never below 0)."""
    return max(0, math.floor(lo * (1 - MARGIN))), math.ceil(hi * (1 + MARGIN))


def _quantile(s: pd.Series, q: float) -> float:
    # "nearest": a length some record has
    return float(s.quantile(q, interpolation="nearest"))


def _down(x: float, digits: int = 3) -> float:
    return math.floor(x * 10**digits) / 10**digits


def _up(x: float, digits: int = 3) -> float:
    return math.ceil(x * 10**digits) / 10**digits


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _counts(s: pd.Series) -> str:
    counts = s.dropna().value_counts()
    return ", ".join(f"{k} ({v:,})" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _lengths(df: pd.DataFrame, column: str, what: str, n: int) -> list[dict[str, Any]]:
    s = df[column]
    qlo, qhi = (_quantile(s, q) for q in ROW_QUANTILES)
    lo, hi = _widen(qlo, qhi)
    median = float(s.median())
    mlo, mhi = max(0.0, _down(median * (1 - MARGIN), 1)), _up(median * (1 + MARGIN), 1)
    base = column.removesuffix("_chars")
    return [
        _e(
            f"{base}_length",
            "expect_column_values_to_be_between",
            {"column": column, "min_value": lo, "max_value": hi, "mostly": ROW_MOSTLY},
            "warning",
            f"99% of {what} are {lo:,} to {hi:,} characters: the 0.5% and 99.5% quantiles of "
            f"the {n:,} records profiled ({int(qlo):,} and {int(qhi):,}), widened by "
            f"{MARGIN:.0%}",
        ),
        # the median, not Great Expectations' expect_column_quantile_values_to_be_between:
        # on pandas, 1.24 returns a numpy bool as its success, which its own results store
        # cannot serialise (TypeError: Object of type bool is not JSON serializable)
        _e(
            f"{base}_length_median",
            "expect_column_median_to_be_between",
            {"column": column, "min_value": mlo, "max_value": mhi},
            "warning",
            f"the median length of {what} stays within {MARGIN:.0%} of the {median:,g} "
            "characters profiled (a shift in the data's shape)",
        ),
    ]


def _unique_share(df: pd.DataFrame, column: str, what: str, n: int) -> dict[str, Any]:
    unique = df[column].nunique() / n
    floor = max(0.0, _down(unique - DUPLICATE_SLACK))
    repeat = {
        "texts": "repeat another record's instruction, input and output",
        "prompts": "repeat another record's instruction and input (a prompt answered twice)",
    }[what]
    return _e(
        f"duplicate_{what}",
        "expect_column_proportion_of_unique_values_to_be_between",
        {"column": column, "min_value": floor},
        "warning",
        f"at most {_pct(1 - floor)} of records {repeat}, case and whitespace aside: "
        f"{_pct(1 - unique)} of the {n:,} records profiled, plus {DUPLICATE_SLACK * 100:g} point",
    )


def profile_suite(
    records: list[Record], cfg: ValidateConfig, root: Path, *, name: str
) -> tuple[dict[str, Any], list[str], pd.DataFrame]:
    """The suite, what was left out (notes), and the table it was profiled on."""
    derived = {"language", "text_key", "prompt_key"}
    count = TokenCounter(cfg.tokenizer, root, "validate.tokenizer")
    df = build_table(records, cfg, count, derived=derived)
    n = len(df)
    notes: list[str] = []
    fam = cfg.family_key
    families = sorted(df[fam].dropna().unique()) if fam in df else []
    attrs = [c for c in cfg.columns_from_meta if c != fam and df[c].notna().any()]
    for c in cfg.columns_from_meta:
        if c != fam and c not in attrs:
            notes.append(f"no record has meta {c!r}: no expectation on its values")
    languages = sorted(df["language"].dropna().unique())
    others = sorted({k for r in records for k in r["meta"]} - set(cfg.columns_from_meta))
    if others:
        notes.append(
            f"meta {', '.join(others)}: not columns of the validated table; add a key to "
            "validate.columns_from_meta to check its values"
        )

    columns = [
        *BASE_COLUMNS,
        *(c for c in cfg.columns_from_meta if c in attrs or (c == fam and families)),
        *(["language"] if languages else []),
        "text_key",
        "prompt_key",
    ]
    exps = [
        _e(
            "columns_present",
            "expect_table_columns_to_match_set",
            {"column_set": columns, "exact_match": False},
            "critical",
            "the table has the record fields and the derived columns this suite reads",
        ),
        _e(
            "row_count",
            "expect_table_row_count_to_be_between",
            {"min_value": max(1, n // 2)},
            "warning",
            f"at least half as many records as the {n:,} profiled",
        ),
    ]
    for c in ("id", "instruction", "output"):
        exps.append(
            _e(
                f"{c}_is_text",
                "expect_column_values_to_be_of_type",
                {"column": c, "type_": "str"},
                "critical",
                f"{c}s are strings",
            )
        )
    for c in ("id", "instruction", "input", "output"):
        exps.append(
            _e(
                f"{c}_not_null",
                "expect_column_values_to_not_be_null",
                {"column": c},
                "critical",
                f"every record has an {c}" if c[0] in "aeiou" else f"every record has a {c}",
            )
        )
    exps += [
        _e(
            "unique_ids",
            "expect_column_values_to_be_unique",
            {"column": "id"},
            "critical",
            "no two records share an id",
        ),
        _e(
            "output_not_empty",
            "expect_column_values_to_be_between",
            {"column": "output_chars", "min_value": 1},
            "critical",
            "no output is empty",
        ),
        json.loads(json.dumps(FITS_MAX_SEQ_LEN)),
        json.loads(json.dumps(NO_RESIDUAL_PII)),
        *_lengths(df, "instruction_chars", "instructions", n),
        *_lengths(df, "output_chars", "outputs", n),
    ]
    if languages:
        told = int(df["language"].notna().sum())
        exps.append(
            _e(
                "language_values",
                "expect_column_values_to_be_in_set",
                {"column": "language", "value_set": languages},
                "warning",
                f"records are in the languages seen in the {n:,} profiled (py3langid on input "
                f"and output; {told:,} long enough to tell): {_counts(df['language'])}; remove "
                "a language you do not want",
            )
        )
    else:
        notes.append(
            "no record has enough text to tell its language (validate.language_min_letters): "
            "no expectation on languages"
        )
    exps += [
        _unique_share(df, "text_key", "texts", n),
        _unique_share(df, "prompt_key", "prompts", n),
    ]
    for c in attrs:
        exps.append(
            _e(
                f"{c}_values",
                "expect_column_values_to_be_in_set",
                {"column": c, "value_set": sorted(df[c].dropna().unique())},
                "warning",
                f"{c} holds only the values seen in the {n:,} records profiled: {_counts(df[c])}",
            )
        )
    if families:
        named = df[fam].notna().mean()
        exps.append(
            _e(
                "family_not_null",
                "expect_column_values_to_not_be_null",
                {"column": fam, **({} if named == 1 else {"mostly": _down(named)})},
                "warning",
                "every record names its task family"
                if named == 1
                else f"{_pct(_down(named))} of records at least name their task family "
                f"({_pct(named)} in the {n:,} profiled)",
            )
        )
        exps.append(
            _e(
                "family_values",
                "expect_column_values_to_be_in_set",
                {"column": fam, "value_set": families},
                "warning",
                f"every task family is one seen in the {n:,} records profiled: {_counts(df[fam])}",
            )
        )
        for f in families:
            share = float(df[f"is_{f}"].mean())
            slack = max(SHARE_MIN_SLACK, share * 0.5)
            lo, hi = max(0.0, _down(share - slack)), min(1.0, _up(share + slack))
            exps.append(
                _e(
                    f"share_{f}",
                    "expect_column_mean_to_be_between",
                    {"column": f"is_{f}", "min_value": lo, "max_value": hi},
                    "warning",
                    f"task family {f} is {_pct(lo)} to {_pct(hi)} of records: {_pct(share)} in "
                    f"the {n:,} profiled, give or take half of that (at least "
                    f"{SHARE_MIN_SLACK * 100:g} points)",
                )
            )
    else:
        notes.append(
            f"no record names a task family (meta {fam!r}, validate.family_key): no family "
            "expectation"
        )
    suite = {
        "name": name,
        "meta": {
            "about": "A starting suite written by `provena suite init` from the profile of a "
            "curated table: the record's shape is critical; lengths, languages, duplicate "
            "shares, attribute values and task families are warnings with bounds from the data "
            "(each description says how). Edit it: tighten a bound, make a warning critical, "
            "add your own expectations; then point validate.suite at it.",
            "profiled": {"records": n},
        },
        "expectations": exps,
    }
    return suite, notes, df


def _load_in_gx(suite: dict[str, Any], path: Path) -> None:
    """Great Expectations builds every expectation of the suite (types and arguments)."""
    from provena.validate import _context  # also switches usage statistics off

    _context(None)
    import great_expectations as gx

    try:
        gx.ExpectationSuite(**suite)
    except Exception as err:
        raise AssertionError(f"{path}: the profiled suite does not load: {err}") from err


def init_suite(
    data: Path,
    out: Path,
    cfg: ValidateConfig,
    *,
    root: Path,
    force: bool = False,
) -> InitResult:
    """Profile ``data`` and write the suite to ``out``; then run it on the same table."""
    if out.exists() and not force:
        raise UserError(f"{out} exists: pass --force to overwrite it (or name another --out)")
    records = read_curated(data)
    suite, notes, df = profile_suite(records, cfg, root, name=out.stem)
    suite["meta"]["profiled"] = {
        "path": display_path(data, root),
        "md5": file_md5(data),
        "records": len(df),
    }
    _load_in_gx(suite, out)
    results = run_suite(df, suite, suite_parameters(cfg), None, cfg)
    with atomic_open(out) as fh:
        fh.write(json.dumps(suite, indent=2, ensure_ascii=False) + "\n")
    missing = suite_columns(suite) - set(df.columns)
    if missing:  # build_table builds what the suite reads: a bug if not
        raise AssertionError(f"{STAGE}: the profiled table lacks {sorted(missing)}")
    return InitResult(out=out, suite=suite, records=len(df), notes=notes, results=results)
