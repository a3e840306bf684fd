"""validate: the curated table against a Great Expectations suite, with a verdict by severity.

The suite is JSON in ``expectations/`` (versioned in git). Each expectation carries a
``severity`` (Great Expectations 1.x: ``critical``, ``warning`` or ``info``) and a stable name
in ``meta.name``: a failed critical expectation fails the verdict; warnings are shown, not
fatal. Values that depend on other settings are suite parameters filled from params.yaml
(``{"$PARAMETER": "max_seq_len"}``), so the suite and the training config cannot drift apart.

The validated table is the curated records plus derived columns the suite checks
(:func:`build_table`): meta fields as columns, lengths, token counts, the extraction output as
JSON, one 0/1 column per task family (so a family's share is a column mean).

Memory stays bounded as the data grows: the text columns (:data:`TEXT_COLUMNS`, nearly all of
the table's bytes) are only ever checked row by row, so above ``validate.chunk_rows`` records
the expectations on them run on one chunk of rows at a time and their counts are added up
(:func:`merge_results`); every other expectation runs once, on the whole table without its text
(a few hundred bytes a record). A suite whose expectation needs a text column as a whole (its
mean, its uniqueness) is refused at load, with the derived column to check instead.

Great Expectations is imported inside the functions that use it: its import alone takes
seconds, and nothing else in Provena should pay for it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from provena.config import ValidateConfig
from provena.errors import UserError
from provena.io import atomic_open, display_path, file_md5, read_records, write_json
from provena.progress import progress
from provena.records import Record, StageResult, stage_metrics
from provena.tokens import TokenCounter

STAGE = "validate"
log = logging.getLogger(__name__)

#: Columns of the validated table (besides one ``is_<family>`` column per family).
BASE_COLUMNS = (
    "id",
    "source",
    "instruction",
    "input",
    "output",
    "text",
    "output_json",
    "instruction_chars",
    "output_chars",
    "n_tokens",
)


#: the text columns: nearly all of the table's bytes, and checked only row by row
TEXT_COLUMNS = ("instruction", "input", "output", "text", "output_json")
#: map expectations that still compare rows with one another: never split into chunks
CROSS_ROW = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_values_to_be_unique",
    }
)
_BUILD_BATCH = 10_000  # records turned into columns (and counted in tokens) at a time


def _columns(records: list[Record], cfg: ValidateConfig, count_tokens: TokenCounter, text: bool):
    """One batch of records as lists per column (``n_tokens`` included)."""
    names = [c for c in BASE_COLUMNS if c != "n_tokens" and (text or c not in TEXT_COLUMNS)]
    cols: dict[str, list[Any]] = {c: [] for c in (*names, *cfg.columns_from_meta)}
    texts = []
    for rec in records:
        joined = "\n\n".join(rec[f] for f in ("instruction", "input", "output") if rec[f])
        texts.append(joined)
        cols["id"].append(rec["id"])
        cols["source"].append(sys.intern(rec["source"]))
        cols["instruction_chars"].append(len(rec["instruction"]))
        cols["output_chars"].append(len(rec["output"]))
        for key in cfg.columns_from_meta:
            value = rec["meta"].get(key)
            cols[key].append(None if value is None else sys.intern(str(value)))
        if text:
            try:
                json.loads(rec["output"])
                output_json = rec["output"]
            except ValueError:
                output_json = "null"  # not JSON: the schema expectation then fails on this row
            cols["instruction"].append(rec["instruction"])
            cols["input"].append(rec["input"])
            cols["output"].append(rec["output"])
            cols["text"].append(joined)
            cols["output_json"].append(output_json)
    cols["n_tokens"] = count_tokens(texts) if texts else []
    return cols


def build_table(
    records: Iterable[Record],
    cfg: ValidateConfig,
    count_tokens: TokenCounter,
    *,
    text: bool = True,
) -> pd.DataFrame:
    """The curated records as a DataFrame with the derived columns the suite checks.

    With ``text=False`` the text columns hold None (the table keeps its shape, so table-level
    expectations see every column): the whole table in a few hundred bytes a record.
    """
    order = [*BASE_COLUMNS, *cfg.columns_from_meta]
    cols: dict[str, list[Any]] = {c: [] for c in order}
    it = iter(records)
    while batch := list(itertools.islice(it, _BUILD_BATCH)):
        for name, values in _columns(batch, cfg, count_tokens, text).items():
            cols[name].extend(values)
    n = len(cols["id"])
    if not text:
        cols.update({c: [None] * n for c in TEXT_COLUMNS})
    # no records: an empty frame of object columns, as the suite expects
    df = pd.DataFrame(cols if n else [], columns=order)
    del cols
    df["n_tokens"] = df["n_tokens"].astype("int64")
    if cfg.family_key in df:
        for fam in sorted(df[cfg.family_key].dropna().unique()):
            df[f"is_{fam}"] = (df[cfg.family_key] == fam).astype("int64")
    return df


def text_chunks(
    records: Iterable[Record], table: pd.DataFrame, cfg: ValidateConfig, rows: int
) -> Iterator[pd.DataFrame]:
    """The full table ``rows`` records at a time: ``table`` (built with ``text=False`` from the
    same records) with its text columns filled for those rows, columns in the same order."""
    it = iter(records)
    start = 0
    while batch := list(itertools.islice(it, rows)):
        end = start + len(batch)
        chunk = table.iloc[start:end].copy()
        if list(chunk["id"]) != [r["id"] for r in batch]:
            raise UserError(f"{STAGE}: the input changed while it was read (rows {start}-{end})")
        texts = _columns(batch, cfg, lambda t: [0] * len(t), text=True)
        for c in TEXT_COLUMNS:
            chunk[c] = texts[c]
        yield chunk
        start = end


def load_suite(path: Path) -> dict[str, Any]:
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: expectation suite not found (validate.suite)") from None
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    names = [e.get("meta", {}).get("name") for e in suite.get("expectations", [])]
    missing = [i for i, n in enumerate(names) if not n]
    if missing:
        raise UserError(f"{path}: expectations {missing} have no meta.name (each needs one)")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{path}: expectation names used twice: {', '.join(dup)}")
    return suite


def suite_parameters(cfg: ValidateConfig) -> dict[str, Any]:
    patterns = list(cfg.residual_pii_patterns.values()) or [r"(?!)"]  # (?!) matches nothing
    return {"max_seq_len": cfg.max_seq_len, "residual_pii_patterns": patterns}


def _observed(result: dict[str, Any], column: str | None) -> dict[str, Any]:
    """What the expectation saw, without text values (ids of failing rows instead)."""
    out: dict[str, Any] = {}
    for key in ("observed_value", "element_count", "unexpected_count", "unexpected_percent"):
        if key in result and result[key] is not None:
            value = result[key]
            out[key] = round(value, 4) if isinstance(value, float) else value
    ids = result.get("unexpected_index_list") or result.get("partial_unexpected_index_list") or []
    if ids:
        out["unexpected_ids"] = [i["id"] if isinstance(i, dict) else i for i in ids[:10]]
    if column not in (None, "instruction", "input", "output", "text", "output_json"):
        values = result.get("partial_unexpected_list") or []
        if values:
            out["unexpected_values"] = values[:10]
    return out


def expectation_columns(e: dict[str, Any]) -> set[str]:
    """The columns an expectation reads: its column arguments and its row condition's."""
    kw = e.get("kwargs", {})
    cols = {kw[k] for k in ("column", "column_A", "column_B") if isinstance(kw.get(k), str)}
    cols.update(c for c in kw.get("column_list") or [] if isinstance(c, str))
    cond = kw.get("row_condition")
    if cond:
        text = json.dumps(cond)
        cols.update(c for c in TEXT_COLUMNS if re.search(rf"\b{c}\b", text))
    return cols


def reads_text(e: dict[str, Any]) -> bool:
    return bool(expectation_columns(e) & set(TEXT_COLUMNS))


def check_chunkable(suite: dict[str, Any], path: str | Path) -> None:
    """Every expectation on a text column must be row-wise (so it can run a chunk at a time)."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    row_wise = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    for e in suite["expectations"]:
        if not reads_text(e):
            continue
        try:
            impl = get_expectation_impl(e.get("type", ""))
        except Exception:  # an unknown type: the suite's load reports it
            continue
        if e["type"] in CROSS_ROW or not issubclass(impl, row_wise):
            cols = ", ".join(sorted(expectation_columns(e) & set(TEXT_COLUMNS)))
            raise UserError(
                f"{path}: expectation {e['meta']['name']!r} ({e['type']}) looks at the text "
                f"column(s) {cols} as a whole; Provena checks text columns row by row, a chunk "
                "of records at a time, so only row-wise expectations may read them. Check a "
                "derived column instead (instruction_chars, output_chars, n_tokens) or add one "
                "to validate.build_table"
            )


def _context(docs_dir: Path | None):
    """An ephemeral Great Expectations context, with a Data Docs site when asked."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics: no network
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # it resets it on import

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    actions = []
    if docs_dir is not None:
        ctx.add_data_docs_site(
            site_name="provena",
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir.resolve()),
                },
            },
        )
        actions.append(gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["provena"]))
    return ctx, actions


def _checkpoint(ctx, actions: list, name: str, suite: dict[str, Any]):
    import great_expectations as gx

    asset = ctx.data_sources.add_pandas(name).add_dataframe_asset("curated")
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    try:
        gx_suite = ctx.suites.add(gx.ExpectationSuite(**suite))
    except Exception as err:  # pydantic errors from an unknown expectation type or bad kwargs
        raise UserError(f"expectation suite {suite.get('name')!r} does not load: {err}") from None
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_def, suite=gx_suite)
    )
    return ctx.checkpoints.add(
        gx.Checkpoint(
            name=name,
            validation_definitions=[vd],
            actions=actions,
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": ["id"],
                "partial_unexpected_count": 10,
                "return_unexpected_index_query": False,
            },
        )
    )


def _raw_results(checkpoint, df: pd.DataFrame, params: dict[str, Any], run_name: str):
    """name -> what Great Expectations found, as plain data (before :func:`_plain`)."""
    from great_expectations.core.run_identifier import RunIdentifier

    res = checkpoint.run(
        batch_parameters={"dataframe": df},
        expectation_parameters=params,
        run_id=RunIdentifier(run_name=run_name),
    )
    vr = next(iter(res.run_results.values()))
    out = {}
    for r in vr.results:
        conf = r.expectation_config
        error = None
        if r.exception_info and r.exception_info.get("raised_exception"):
            error = str(r.exception_info.get("exception_message", "raised an exception"))
        elif r.exception_info and not r.success:
            msgs = [
                v.get("exception_message") for v in r.exception_info.values() if isinstance(v, dict)
            ]
            error = next((m for m in msgs if m), None)
        out[conf.meta.get("name")] = {
            "conf": conf,
            "success": bool(r.success),
            "result": dict(r.result or {}),
            "error": error,
        }
    return out


def merge_results(parts: list[dict[str, Any]], mostly: float = 1.0) -> dict[str, Any]:
    """One row-wise expectation's results on consecutive chunks, as if run on their union.

    Counts add up; percentages and the verdict are recomputed the way Great Expectations does
    (unexpected over the non-missing rows, or over all rows where it reports no missing count;
    success when the share of expected rows is at least ``mostly``); the first ten failing ids
    and values are the first ten of the chunks in order. A result without counts (a type check
    answered from the column's dtype) passes when every chunk's does.
    """
    first = parts[0]
    error = next((p["error"] for p in parts if p["error"]), None)
    if not all("unexpected_count" in p["result"] for p in parts):
        failing = next((p for p in parts if not p["success"]), first)
        return {**failing, "success": all(p["success"] for p in parts), "error": error}
    res: dict[str, Any] = {}
    for key in ("element_count", "unexpected_count", "missing_count"):
        if key in first["result"]:
            res[key] = sum(p["result"].get(key) or 0 for p in parts)
    for key in ("partial_unexpected_list", "partial_unexpected_index_list"):
        res[key] = [v for p in parts for v in p["result"].get(key) or []][:10]
    n, bad = res["element_count"], res["unexpected_count"]
    considered = n - res["missing_count"] if "missing_count" in res else n
    res["unexpected_percent"] = bad / considered * 100 if considered else None
    success = considered == 0 or (considered - bad) / considered >= mostly
    return {
        "conf": first["conf"],
        "success": bool(success) and error is None,
        "result": res,
        "error": error,
    }


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    conf = raw["conf"]
    name = conf.meta.get("name")
    column = conf.kwargs.get("column")
    return {
        "name": name,
        "expectation_type": conf.type,
        "column": column,
        "severity": str(getattr(conf.severity, "value", conf.severity)),
        "description": conf.description,
        "success": raw["success"],
        "observed": _observed(raw["result"], column),
        **({"error": raw["error"][:300]} if raw["error"] else {}),
    }


def run_suite(
    df: pd.DataFrame, suite: dict[str, Any], params: dict[str, Any], docs_dir: Path | None
) -> list[dict[str, Any]]:
    """Validate ``df`` against the suite; one plain dict per expectation, in suite order."""
    ctx, actions = _context(docs_dir)
    raw = _raw_results(_checkpoint(ctx, actions, STAGE, suite), df, params, "all records")
    return [_plain(raw[e["meta"]["name"]]) for e in suite["expectations"]]


def run_suite_chunked(
    table: pd.DataFrame,
    chunks: Iterable[pd.DataFrame],
    suite: dict[str, Any],
    params: dict[str, Any],
    docs_dir: Path | None,
) -> list[dict[str, Any]]:
    """Validate without holding the text of every record at once.

    ``table`` is the whole table without its text (``build_table(..., text=False)``): the
    expectations that read no text column run on it once. ``chunks`` are consecutive row ranges
    of the full table (:func:`text_chunks`): the expectations on text columns, all row-wise
    (:func:`check_chunkable`), run on each and their results are merged (:func:`merge_results`).
    Data Docs get one page for the table and one per chunk.
    """
    exps = suite["expectations"]
    table_suite = {**suite, "expectations": [e for e in exps if not reads_text(e)]}
    text_suite = {
        **suite,
        "name": f"{suite.get('name')} (text columns, by chunk)",
        "expectations": [e for e in exps if reads_text(e)],
    }
    ctx, actions = _context(docs_dir)
    raw = {}
    if table_suite["expectations"]:
        cp = _checkpoint(ctx, actions, STAGE, table_suite)
        raw.update(_raw_results(cp, table, params, "all records, text columns aside"))
    parts: dict[str, list[dict[str, Any]]] = {
        e["meta"]["name"]: [] for e in text_suite["expectations"]
    }
    if parts:
        cp = _checkpoint(ctx, actions, f"{STAGE}_text", text_suite)
        bar = progress(
            total=len(table), desc=f"{STAGE}: text columns", unit=" rec", unit_scale=True
        )
        start = 0
        with bar:
            for chunk in chunks:
                name = f"rows {start + 1}-{start + len(chunk)}"
                for k, v in _raw_results(cp, chunk, params, name).items():
                    parts[k].append(v)
                start += len(chunk)
                bar.update(len(chunk))
        if start != len(table):
            raise AssertionError(f"{STAGE}: {start} rows in chunks, {len(table)} in the table")
        for e in text_suite["expectations"]:
            name = e["meta"]["name"]
            mostly = e.get("kwargs", {}).get("mostly", 1.0)
            if isinstance(mostly, dict):  # {"$PARAMETER": name}
                mostly = params[mostly["$PARAMETER"]]
            raw[name] = merge_results(parts[name], mostly)
    return [_plain(raw[e["meta"]["name"]]) for e in exps]


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r for r in results if not r["success"]]
    critical = [r["name"] for r in failed if r["severity"] == "critical"]
    return {
        "verdict": "fail" if critical else "pass",
        "expectations": len(results),
        "passed": len(results) - len(failed),
        "failed_critical": critical,
        "failed_warning": [r["name"] for r in failed if r["severity"] == "warning"],
        "failed_info": [r["name"] for r in failed if r["severity"] == "info"],
    }


def run(
    inp: Path,
    cfg: ValidateConfig,
    *,
    root: Path,
    results_json: Path,
    verdict_json: Path,
    metrics: Path | None = None,
    docs_dir: Path | None = None,
    report_html: Path | None = None,
    report_inputs: dict[str, Path] | None = None,
) -> StageResult:
    """Validate a record file; write results, the verdict, metrics, Data Docs and the report.

    Returns the results (``report``: the verdict with one entry per expectation) and the
    metrics; validate keeps no records, so the books are empty."""
    suite_path = root / cfg.suite
    suite = load_suite(suite_path)
    check_chunkable(suite, suite_path)
    count = TokenCounter(cfg.tokenizer, root, "validate.tokenizer")

    def records() -> Iterator[Record]:
        return (r for b in read_records(inp) for r in b)

    # pass 1: the table without its text; pass 2: the text, validate.chunk_rows rows at a time
    df = build_table(records(), cfg, count, text=False)
    params, docs = suite_parameters(cfg), docs_dir if cfg.data_docs else None
    if len(df) <= cfg.chunk_rows:  # one chunk: the whole table, one Great Expectations run
        results = run_suite(
            next(text_chunks(records(), df, cfg, len(df) or 1), df), suite, params, docs
        )
    else:
        log.info(
            "%s: %d records, text columns checked %d at a time", STAGE, len(df), cfg.chunk_rows
        )
        chunks = text_chunks(records(), df, cfg, cfg.chunk_rows)
        results = run_suite_chunked(df, chunks, suite, params, docs)
    v = verdict(results)
    dataset = {
        "path": display_path(inp, root),
        "md5": file_md5(inp),
        "records": len(df),
    }
    head = {
        "stage": STAGE,
        "suite": suite.get("name"),
        "suite_path": cfg.suite,
        "suite_sha256": hashlib.sha256(suite_path.read_bytes()).hexdigest(),
        "dataset": dataset,
        "tokens": "tokenizer " + cfg.tokenizer if cfg.tokenizer else "estimated",
        "max_seq_len": cfg.max_seq_len,
    }
    result = StageResult(
        report={**head, **v, "results": results},
        metrics=stage_metrics(
            STAGE,
            records=len(df),
            verdict=v["verdict"],
            expectations=v["expectations"],
            passed=v["passed"],
            failed_critical=len(v["failed_critical"]),
            failed_warning=len(v["failed_warning"]),
        ),
    )
    write_json(results_json, result.report)
    write_json(verdict_json, {**head, **v})
    if metrics is not None:
        write_json(metrics, result.metrics)
    for r in results:
        if not r["success"]:
            log.warning(
                "%s expectation failed: %s (%s) %s",
                r["severity"],
                r["name"],
                r["expectation_type"],
                json.dumps(r.get("observed", {}))[:200],
            )
    log.info("validation verdict: %s (%d of %d passed)", v["verdict"], v["passed"], len(results))
    if report_html is not None:
        from provena.validate.report import build_quality_report, render_html

        report = build_quality_report(df, result.report, report_inputs or {}, cfg, root)
        with atomic_open(report_html) as fh:
            fh.write(render_html(report))
    return result
