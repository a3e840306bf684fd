"""validate: the curated table against a Great Expectations suite, with a verdict by severity.

The suite is JSON in ``expectations/`` (versioned in git). Each expectation carries a
``severity`` (Great Expectations 1.x: ``critical``, ``warning`` or ``info``) and a stable name
in ``meta.name``: a failed critical expectation fails the verdict; warnings are shown, not
fatal. Values that depend on other settings are suite parameters filled from params.yaml
(``{"$PARAMETER": "max_seq_len"}``), so the suite and the training config cannot drift apart.

The validated table is the curated records plus derived columns the suite checks
(:func:`build_table`): meta fields as columns, lengths, token counts, the extraction output as
JSON, one 0/1 column per task family (so a family's share is a column mean).

Great Expectations is imported inside the functions that use it: its import alone takes
seconds, and nothing else in Provena should pay for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from provena.config import ValidateConfig
from provena.errors import UserError
from provena.io import atomic_open, display_path, file_md5, read_records, write_json
from provena.records import Record
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


def build_table(records: Iterable[Record], cfg: ValidateConfig, count_tokens: TokenCounter):
    """The curated records as a DataFrame with the derived columns the suite checks."""
    # one list per column, not one dict per row: Great Expectations validates one DataFrame, so
    # the whole dataset is in memory here and per-row dicts would only add to it
    names = [c for c in BASE_COLUMNS if c != "n_tokens"]
    cols: dict[str, list[Any]] = {c: [] for c in (*names, *cfg.columns_from_meta)}
    for rec in records:
        text = "\n\n".join(rec[f] for f in ("instruction", "input", "output") if rec[f])
        try:
            json.loads(rec["output"])
            output_json = rec["output"]
        except ValueError:
            output_json = "null"  # not JSON: the schema expectation then fails on this row
        cols["id"].append(rec["id"])
        cols["source"].append(rec["source"])
        cols["instruction"].append(rec["instruction"])
        cols["input"].append(rec["input"])
        cols["output"].append(rec["output"])
        cols["text"].append(text)
        cols["output_json"].append(output_json)
        cols["instruction_chars"].append(len(rec["instruction"]))
        cols["output_chars"].append(len(rec["output"]))
        for key in cfg.columns_from_meta:
            value = rec["meta"].get(key)
            cols[key].append(None if value is None else str(value))
    # no records: an empty frame of object columns, as the suite expects
    df = pd.DataFrame(cols if cols["id"] else [], columns=[*BASE_COLUMNS, *cfg.columns_from_meta])
    del cols
    df["n_tokens"] = count_tokens(df["text"].tolist()) if len(df) else []
    df["n_tokens"] = df["n_tokens"].astype("int64")
    if cfg.family_key in df:
        for fam in sorted(df[cfg.family_key].dropna().unique()):
            df[f"is_{fam}"] = (df[cfg.family_key] == fam).astype("int64")
    return df


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


def run_suite(
    df: pd.DataFrame, suite: dict[str, Any], params: dict[str, Any], docs_dir: Path | None
) -> list[dict[str, Any]]:
    """Validate ``df`` against the suite; one plain dict per expectation, in suite order."""
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
    asset = ctx.data_sources.add_pandas("provena").add_dataframe_asset("curated")
    batch_def = asset.add_batch_definition_whole_dataframe("all")
    try:
        gx_suite = ctx.suites.add(gx.ExpectationSuite(**suite))
    except Exception as err:  # pydantic errors from an unknown expectation type or bad kwargs
        raise UserError(f"expectation suite {suite.get('name')!r} does not load: {err}") from None
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=STAGE, data=batch_def, suite=gx_suite)
    )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(
            name=STAGE,
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
    res = checkpoint.run(batch_parameters={"dataframe": df}, expectation_parameters=params)
    vr = next(iter(res.run_results.values()))
    by_name = {}
    for r in vr.results:
        conf = r.expectation_config
        name = conf.meta.get("name")
        column = conf.kwargs.get("column")
        error = None
        if r.exception_info and r.exception_info.get("raised_exception"):
            error = str(r.exception_info.get("exception_message", "raised an exception"))
        elif r.exception_info and not r.success:
            msgs = [
                v.get("exception_message") for v in r.exception_info.values() if isinstance(v, dict)
            ]
            error = next((m for m in msgs if m), None)
        by_name[name] = {
            "name": name,
            "expectation_type": conf.type,
            "column": column,
            "severity": str(getattr(conf.severity, "value", conf.severity)),
            "description": conf.description,
            "success": bool(r.success),
            "observed": _observed(r.result or {}, column),
            **({"error": error[:300]} if error else {}),
        }
    return [by_name[e["meta"]["name"]] for e in suite["expectations"]]


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
) -> dict[str, Any]:
    """Validate a record file; write results, the verdict, metrics, Data Docs and the report."""
    suite_path = root / cfg.suite
    suite = load_suite(suite_path)
    count = TokenCounter(cfg.tokenizer, root, "validate.tokenizer")
    df = build_table((r for b in read_records(inp) for r in b), cfg, count)
    results = run_suite(df, suite, suite_parameters(cfg), docs_dir if cfg.data_docs else None)
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
    write_json(results_json, {**head, **v, "results": results})
    write_json(verdict_json, {**head, **v})
    if metrics is not None:
        write_json(
            metrics,
            {
                "stage": STAGE,
                "records": len(df),
                "verdict": v["verdict"],
                "expectations": v["expectations"],
                "passed": v["passed"],
                "failed_critical": len(v["failed_critical"]),
                "failed_warning": len(v["failed_warning"]),
            },
        )
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
        from provena.quality_report import build_quality_report, render_html

        report = build_quality_report(
            df, {**head, **v, "results": results}, report_inputs or {}, cfg, root
        )
        with atomic_open(report_html) as fh:
            fh.write(render_html(report))
    return {**head, **v, "results": results}
