"""validate: the curated table against a Great Expectations suite, with a verdict by severity.

The suite is JSON in ``expectations/`` (versioned in git). Each expectation carries a
``severity`` (Great Expectations 1.x: ``critical``, ``warning`` or ``info``) and a stable name
in ``meta.name``: a failed critical expectation fails the verdict; warnings are shown, not
fatal. Values that depend on other settings are suite parameters filled from params.yaml
(``{"$PARAMETER": "max_seq_len"}``), so the suite and the training config cannot drift apart.

The validated table is the curated records plus derived columns the suite checks
(:func:`build_table`): meta fields as columns, lengths, token counts, the extraction output as
JSON, one 0/1 column per task family (so a family's share is a column mean), and, only when
the suite reads them (:data:`OPTIONAL_COLUMNS`), each record's language and hashes of its text
and of its prompt (for duplicate rates).

An expectation with no evidence is "not judged", never passed (:func:`not_applicable`,
:func:`_plain`): the task-family expectations when no record names a family, a row-wise
expectation that found no value to check (an empty column, a row condition no record meets),
an aggregate over a column with no value. Each is recorded with its reason; the verdict is
``not_judged`` when no critical expectation could be judged.

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
from provena.normalize import normalize_for_match
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

#: derived columns built only when the suite reads one (they cost a pass over the text):
#: ``language`` (py3langid on input and output, placeholders removed; null when the text has
#: fewer than ``validate.language_min_letters`` letters or the guess is below
#: ``validate.language_min_confidence``), ``text_key`` (a hash of instruction, input and output
#: as exact dedup compares them: case, width and whitespace aside) and ``prompt_key`` (the same
#: of instruction and input: one prompt answered twice shares it)
OPTIONAL_COLUMNS = ("language", "text_key", "prompt_key")
#: scrub_pii's placeholders (``<PERSON>``): not words of any language
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")


def _key(*parts: str) -> str:
    joined = "\x1f".join(normalize_for_match(p) for p in parts)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=8).hexdigest()


class _Language:
    """py3langid, loaded once (half a second) and only when the suite reads ``language``."""

    _model = None

    def __init__(self, cfg: ValidateConfig):
        self.min_letters, self.min_conf = cfg.language_min_letters, cfg.language_min_confidence

    def __call__(self, rec: Record) -> str | None:
        if _Language._model is None:
            from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

            _Language._model = LanguageIdentifier.from_modelpath(
                MODEL_DIR / MODEL_FILE, norm_probs=True
            )
        # the instruction is often one fixed English template: a record's language is that of
        # its content (as clean's language rule judges it)
        text = _PLACEHOLDER.sub(" ", "\n".join(rec[f] for f in ("input", "output") if rec[f]))
        if sum(map(str.isalpha, text)) < self.min_letters:
            return None
        lang, prob = _Language._model.classify(text)
        return sys.intern(lang) if prob >= self.min_conf else None


def _columns(
    records: list[Record],
    cfg: ValidateConfig,
    count_tokens: TokenCounter,
    text: bool,
    extra: tuple[str, ...] = (),
):
    """One batch of records as lists per column (``n_tokens`` included, and the
    :data:`OPTIONAL_COLUMNS` named in ``extra``)."""
    names = [c for c in BASE_COLUMNS if c != "n_tokens" and (text or c not in TEXT_COLUMNS)]
    cols: dict[str, list[Any]] = {c: [] for c in (*names, *cfg.columns_from_meta, *extra)}
    language = _Language(cfg) if "language" in extra else None
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
        if language is not None:
            cols["language"].append(language(rec))
        if "text_key" in extra:
            cols["text_key"].append(_key(rec["instruction"], rec["input"], rec["output"]))
        if "prompt_key" in extra:
            cols["prompt_key"].append(_key(rec["instruction"], rec["input"]))
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
    derived: Iterable[str] = (),
) -> pd.DataFrame:
    """The curated records as a DataFrame with the derived columns the suite checks.

    With ``text=False`` the text columns hold None (the table keeps its shape, so table-level
    expectations see every column): the whole table in a few hundred bytes a record.
    ``derived``: the columns the suite reads (:func:`suite_columns`): the
    :data:`OPTIONAL_COLUMNS` among them are built, and an ``is_<family>`` column is built for a
    family no record has (all 0), so a suite's family share is judged, not an error, when
    other families exist.
    """
    wanted = set(derived)
    extra = tuple(c for c in OPTIONAL_COLUMNS if c in wanted)
    order = [*BASE_COLUMNS, *cfg.columns_from_meta, *extra]
    cols: dict[str, list[Any]] = {c: [] for c in order}
    it = iter(records)
    while batch := list(itertools.islice(it, _BUILD_BATCH)):
        for name, values in _columns(batch, cfg, count_tokens, text, extra).items():
            cols[name].extend(values)
    n = len(cols["id"])
    if not text:
        cols.update({c: [None] * n for c in TEXT_COLUMNS})
    # no records: an empty frame of object columns, as the suite expects
    df = pd.DataFrame(cols if n else [], columns=order)
    del cols
    df["n_tokens"] = df["n_tokens"].astype("int64")
    if cfg.family_key in df:
        seen = sorted(df[cfg.family_key].dropna().unique())
        named = sorted(
            c[3:] for c in wanted if c.startswith("is_") and c not in df and c[3:] not in seen
        )
        for fam in [*seen, *named]:
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
        texts = _columns(batch, cfg, lambda t: [0] * len(t), text=True)  # no optional columns
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


def _named_columns(e: dict[str, Any]) -> set[str]:
    """Every column an expectation's arguments name (``column_set`` included)."""
    kw = e.get("kwargs", {})
    cols = {kw[k] for k in ("column", "column_A", "column_B") if isinstance(kw.get(k), str)}
    for key in ("column_list", "column_set"):
        value = kw.get(key)
        if isinstance(value, list):
            cols.update(c for c in value if isinstance(c, str))
    return cols


def suite_columns(suite: dict[str, Any]) -> set[str]:
    """The columns a suite names: what :func:`build_table`'s ``derived`` needs to know."""
    return set().union(*(_named_columns(e) for e in suite.get("expectations", [])))


def family_dependent(e: dict[str, Any], cfg: ValidateConfig) -> bool:
    """Whether an expectation is about task families: it reads the family column or an
    ``is_<family>`` column, or its row condition names the family column (a table's column
    list naming it is not: the column is there, family or not)."""
    kw = e.get("kwargs", {})
    cols = _named_columns({"kwargs": {k: v for k, v in kw.items() if k != "column_set"}})
    if cfg.family_key in cols:
        return True
    if any(c.startswith("is_") and c not in cfg.columns_from_meta for c in cols):
        return True
    cond = e.get("kwargs", {}).get("row_condition")
    return bool(cond) and re.search(rf"\b{re.escape(cfg.family_key)}\b", json.dumps(cond))


def _is_map(e: dict[str, Any]) -> bool:
    """A row-wise expectation (its result counts rows, so a lack of evidence shows there)."""
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        MulticolumnMapExpectation,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        impl = get_expectation_impl(e.get("type", ""))
    except Exception:  # an unknown type: the suite's load reports it
        return True
    return issubclass(
        impl, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    )


def not_applicable(
    suite: dict[str, Any], table: pd.DataFrame, cfg: ValidateConfig
) -> dict[str, str]:
    """name -> why it cannot be judged on ``table``, for the expectations not run at all.

    - task-family expectations (:func:`family_dependent`) when no record names a family:
      family checks apply only when families exist;
    - an aggregate expectation (a mean, a set of distinct values, ...) over a column that holds
      no value in any record: there is nothing to aggregate.

    Row-wise expectations with nothing to check are found after the run, from their counts
    (:func:`_plain`). ``table`` may be the table without its text (the text columns are never
    aggregated: :func:`check_chunkable`)."""
    has_family = cfg.family_key in table and bool(table[cfg.family_key].notna().any())
    out = {}
    for e in suite["expectations"]:
        name = e["meta"]["name"]
        column = e.get("kwargs", {}).get("column")
        if not has_family and family_dependent(e, cfg):
            out[name] = (
                f"no record names a task family (meta {cfg.family_key!r}, validate.family_key):"
                " family checks apply only when families exist"
            )
        elif (
            isinstance(column, str)
            and column in table
            and column not in TEXT_COLUMNS
            and not table[column].notna().any()
            and not _is_map(e)
        ):
            out[name] = f"column {column!r} holds no value in any record: nothing to aggregate"
    return out


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
    """An ephemeral Great Expectations context, and whether it has a Data Docs site (when
    asked; what an earlier run wrote there is removed first: the site shows this run only).
    The pages are written by :func:`_raw_results` (:func:`provena.validate.docs.publish`), not
    by a checkpoint action: what they show is made reproducible and free of record text first.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics: no network
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # it resets it on import
    from provena.validate.metrics import register

    register()  # the same metrics, done once rather than once per row (validate/metrics.py)

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        from provena.validate.docs import clear

        clear(docs_dir)
        ctx.add_data_docs_site(
            site_name="provena",
            site_config={
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,  # no tutorial pop-up or footer (links to the web)
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir.resolve()),
                },
            },
        )
    return ctx, docs_dir is not None


def _checkpoint(ctx, name: str, suite: dict[str, Any]):
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
            actions=[],
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": ["id"],
                "partial_unexpected_count": 10,
                "return_unexpected_index_query": False,
            },
        )
    )


def _raw_results(
    checkpoint,
    df: pd.DataFrame,
    params: dict[str, Any],
    run_name: str,
    docs_ctx=None,
):
    """name -> what Great Expectations found, as plain data (before :func:`_plain`); with
    ``docs_ctx`` (the context, when it has a Data Docs site), the run's pages are written.

    The run time is fixed (:data:`provena.validate.docs.RUN_TIME`), not the clock: it names
    the Data Docs page, which must not change between two runs on the same data."""
    from great_expectations.core.run_identifier import RunIdentifier

    from provena.validate.docs import RUN_TIME, publish

    res = checkpoint.run(
        batch_parameters={"dataframe": df},
        expectation_parameters=params,
        run_id=RunIdentifier(run_name=run_name, run_time=RUN_TIME),
    )
    if docs_ctx is not None:
        publish(docs_ctx, res, "provena", withhold=lambda conf: reads_text(conf.to_json_dict()))
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


def _no_evidence(raw: dict[str, Any]) -> str | None:
    """Why a row-wise expectation's result is no evidence (it checked no row), or None."""
    res, conf = raw["result"], raw["conf"]
    if raw["error"] or "unexpected_count" not in res or "element_count" not in res:
        return None
    considered = res["element_count"] - (res.get("missing_count") or 0)
    if considered > 0:
        return None
    if res["element_count"] and conf.kwargs.get("column"):
        return f"column {conf.kwargs['column']!r} holds no value in any record: no row to check"
    if conf.kwargs.get("row_condition"):
        return "no record meets its row condition: no row to check"
    return "the table has no record: no row to check"


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    conf = raw["conf"]
    name = conf.meta.get("name")
    column = conf.kwargs.get("column")
    why = _no_evidence(raw)
    return {
        "name": name,
        "expectation_type": conf.type,
        "column": column,
        "severity": str(getattr(conf.severity, "value", conf.severity)),
        "description": conf.description,
        "success": None if why else raw["success"],
        "observed": _observed(raw["result"], column),
        **({"not_judged": why} if why else {}),
        **({"error": raw["error"][:300]} if raw["error"] else {}),
    }


def _skipped(e: dict[str, Any], reason: str) -> dict[str, Any]:
    """The result of an expectation not run (:func:`not_applicable`): not judged, never a pass."""
    return {
        "name": e["meta"]["name"],
        "expectation_type": e.get("type"),
        "column": e.get("kwargs", {}).get("column"),
        "severity": str(e.get("severity") or "critical"),
        "description": e.get("description"),
        "success": None,
        "observed": {},
        "not_judged": reason,
    }


def _split_off(
    suite: dict[str, Any], table: pd.DataFrame, cfg: ValidateConfig | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The suite to run, and the expectations left out as not applicable, with why."""
    skipped = not_applicable(suite, table, cfg or ValidateConfig())
    run = [e for e in suite["expectations"] if e["meta"]["name"] not in skipped]
    return {**suite, "expectations": run}, skipped


def _in_order(
    suite: dict[str, Any], raw: dict[str, Any], skipped: dict[str, str]
) -> list[dict[str, Any]]:
    return [
        _skipped(e, skipped[n]) if (n := e["meta"]["name"]) in skipped else _plain(raw[n])
        for e in suite["expectations"]
    ]


def run_suite(
    df: pd.DataFrame,
    suite: dict[str, Any],
    params: dict[str, Any],
    docs_dir: Path | None,
    cfg: ValidateConfig | None = None,
    data_md5: str | None = None,
) -> list[dict[str, Any]]:
    """Validate ``df`` against the suite; one plain dict per expectation, in suite order
    (``cfg``: the family column; default: the library's; ``data_md5``: the validated file's
    hash, which names the Data Docs run: :func:`provena.validate.docs.run_name`)."""
    from provena.validate.docs import make_offline, run_name

    runnable, skipped = _split_off(suite, df, cfg)
    raw = {}
    if runnable["expectations"]:
        ctx, docs = _context(docs_dir)
        cp = _checkpoint(ctx, STAGE, runnable)
        raw = _raw_results(cp, df, params, run_name("all records", data_md5), ctx if docs else None)
        if docs_dir is not None:
            make_offline(docs_dir)
    return _in_order(suite, raw, skipped)


def run_suite_chunked(
    table: pd.DataFrame,
    chunks: Iterable[pd.DataFrame],
    suite: dict[str, Any],
    params: dict[str, Any],
    docs_dir: Path | None,
    cfg: ValidateConfig | None = None,
    data_md5: str | None = None,
) -> list[dict[str, Any]]:
    """Validate without holding the text of every record at once.

    ``table`` is the whole table without its text (``build_table(..., text=False)``): the
    expectations that read no text column run on it once. ``chunks`` are consecutive row ranges
    of the full table (:func:`text_chunks`): the expectations on text columns, all row-wise
    (:func:`check_chunkable`), run on each and their results are merged (:func:`merge_results`).
    Data Docs get one page for the table and one per chunk (``data_md5`` names their runs, as
    in :func:`run_suite`).
    """
    from provena.validate.docs import make_offline, run_name

    whole, skipped = suite, {}
    suite, skipped = _split_off(suite, table, cfg)
    exps = suite["expectations"]
    table_suite = {**suite, "expectations": [e for e in exps if not reads_text(e)]}
    text_suite = {
        **suite,
        "name": f"{suite.get('name')} (text columns, by chunk)",
        "expectations": [e for e in exps if reads_text(e)],
    }
    ctx, docs = _context(docs_dir)
    docs_ctx = ctx if docs else None
    raw = {}
    if table_suite["expectations"]:
        cp = _checkpoint(ctx, STAGE, table_suite)
        raw.update(
            _raw_results(
                cp,
                table,
                params,
                run_name("all records, text columns aside", data_md5),
                docs_ctx,
            )
        )
    parts: dict[str, list[dict[str, Any]]] = {
        e["meta"]["name"]: [] for e in text_suite["expectations"]
    }
    if parts:
        cp = _checkpoint(ctx, f"{STAGE}_text", text_suite)
        bar = progress(
            total=len(table), desc=f"{STAGE}: text columns", unit=" rec", unit_scale=True
        )
        start = 0
        with bar:
            for chunk in chunks:
                name = run_name(f"rows {start + 1}-{start + len(chunk)}", data_md5)
                for k, v in _raw_results(cp, chunk, params, name, docs_ctx).items():
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
    if docs_dir is not None:
        make_offline(docs_dir)
    return _in_order(whole, raw, skipped)


def verdict(results: list[dict[str, Any]]) -> dict[str, Any]:
    """``fail`` when a critical expectation failed; ``not_judged`` when no critical expectation
    could be judged (no evidence is never a pass); else ``pass``. Expectations not judged are
    listed with their reason."""
    judged = [r for r in results if r["success"] is not None]
    failed = [r for r in judged if not r["success"]]
    critical = [r["name"] for r in failed if r["severity"] == "critical"]
    any_critical = any(r["severity"] == "critical" for r in judged)
    return {
        "verdict": "fail" if critical else ("pass" if any_critical else "not_judged"),
        "expectations": len(results),
        "passed": len(judged) - len(failed),
        "failed_critical": critical,
        "failed_warning": [r["name"] for r in failed if r["severity"] == "warning"],
        "failed_info": [r["name"] for r in failed if r["severity"] == "info"],
        "not_judged": [
            {"name": r["name"], "reason": r.get("not_judged")}
            for r in results
            if r["success"] is None
        ],
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
    df = build_table(records(), cfg, count, text=False, derived=suite_columns(suite))
    params, docs = suite_parameters(cfg), docs_dir if cfg.data_docs else None
    md5 = file_md5(inp)
    if len(df) <= cfg.chunk_rows:  # one chunk: the whole table, one Great Expectations run
        whole = next(text_chunks(records(), df, cfg, len(df) or 1), df)
        results = run_suite(whole, suite, params, docs, cfg, data_md5=md5)
    else:
        log.info(
            "%s: %d records, text columns checked %d at a time", STAGE, len(df), cfg.chunk_rows
        )
        chunks = text_chunks(records(), df, cfg, cfg.chunk_rows)
        results = run_suite_chunked(df, chunks, suite, params, docs, cfg, data_md5=md5)
    v = verdict(results)
    dataset = {
        "path": display_path(inp, root),
        "md5": md5,
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
            not_judged=len(v["not_judged"]),
        ),
    )
    write_json(results_json, result.report)
    write_json(verdict_json, {**head, **v})
    if metrics is not None:
        write_json(metrics, result.metrics)
    for r in results:
        if r["success"] is None:
            log.info(
                "%s expectation not judged: %s (%s)", r["severity"], r["name"], r["not_judged"]
            )
        elif not r["success"]:
            log.warning(
                "%s expectation failed: %s (%s) %s",
                r["severity"],
                r["name"],
                r["expectation_type"],
                json.dumps(r.get("observed", {}))[:200],
            )
    log.info(
        "validation verdict: %s (%d of %d passed, %d not judged)",
        v["verdict"],
        v["passed"],
        len(results),
        len(v["not_judged"]),
    )
    if report_html is not None:
        from provena.validate.report import build_quality_report, render_html

        report = build_quality_report(df, result.report, report_inputs or {}, cfg, root)
        with atomic_open(report_html) as fh:
            fh.write(render_html(report))
    return result
