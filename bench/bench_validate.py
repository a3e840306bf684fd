"""Benchmark: the validate stage's Great Expectations run against the same checks in pandas.

Both sides check the same table (the validated table of ``--records`` synthetic records:
``validate.build_table``; above 100,000 records, the 100,000 repeated: :func:`tiled`) for the
same 21 expectations of ``expectations/curated.json``; the pandas side is what a team would
write without a framework (vectorized where pandas allows, ``jsonschema`` per extraction row
as Great Expectations does). Both must reach the same
pass/fail per expectation. Reported: Great Expectations' import time, its validation time
with and without Data Docs, the pandas time, and the ratio, so the cost of the framework is
known. Each side runs in a fresh process. Both wall seconds and the process's CPU seconds
are measured (the machine is shared: CPU time is what other jobs on the cores do not move);
the goal is Great Expectations at most 2x the pandas time at each size.

    python bench/bench_validate.py [--records 100000 1000000] [--out bench/results/validate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"

LOAD = r"""
import json, sys, time
import pandas as pd
df = pd.read_parquet(sys.argv[1])
from provena.config import ValidateConfig
from provena import validate
cfg = ValidateConfig()
suite = validate.load_suite(validate.Path(sys.argv[2]))
params = validate.suite_parameters(cfg)
"""

GX = r"""
t0 = time.perf_counter()
import os
os.environ["GX_ANALYTICS_ENABLED"] = "False"
import great_expectations  # noqa: F401
t_import = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
results = validate.run_suite(df, suite, params, None)
t_plain, c_plain = time.perf_counter() - t0, time.process_time() - c0
import tempfile
with tempfile.TemporaryDirectory() as tmp:
    t0, c0 = time.perf_counter(), time.process_time()
    validate.run_suite(df, suite, params, validate.Path(tmp))
    t_docs, c_docs = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"import_s": round(t_import, 2), "validate_s": round(t_plain, 2),
                  "validate_cpu_s": round(c_plain, 2),
                  "validate_with_docs_s": round(t_docs, 2),
                  "validate_with_docs_cpu_s": round(c_docs, 2),
                  "success": {r["name"]: r["success"] for r in results}}))
"""

PANDAS = r"""
import re
import jsonschema
t0, c0 = time.perf_counter(), time.process_time()
E = {e["meta"]["name"]: e["kwargs"] for e in suite["expectations"]}
ok = {}
ok["columns_present"] = set(E["columns_present"]["column_set"]) <= set(df.columns)
ok["row_count"] = len(df) >= E["row_count"]["min_value"]
ok["id_is_text"] = bool(df["id"].dropna().map(lambda v: isinstance(v, str)).all())
ok["output_is_text"] = bool(df["output"].dropna().map(lambda v: isinstance(v, str)).all())
for name, col in (("id_not_null", "id"), ("output_not_null", "output"),
                  ("instruction_not_null", "instruction"), ("family_not_null", "family")):
    ok[name] = bool(df[col].notna().all())
ok["unique_ids"] = not df["id"].dropna().duplicated(keep=False).any()
out_len = df["output"].dropna().str.len()
ok["output_not_empty"] = bool((out_len >= 1).all())
ok["output_length"] = bool((out_len <= E["output_length"]["max_value"]).all())
ins_len = df["instruction"].dropna().str.len()
k = E["instruction_length"]
ok["instruction_length"] = bool(((ins_len >= k["min_value"]) & (ins_len <= k["max_value"])).all())
for name, col in (("gender_values", "gender"), ("age_band_values", "age_band"),
                  ("family_values", "family")):
    ok[name] = bool(df[col].dropna().isin(E[name]["value_set"]).all())
pii = "|".join(f"(?:{p})" for p in params["residual_pii_patterns"])
ok["no_residual_pii"] = not df["text"].str.contains(pii, regex=True).any()
fits = (df["n_tokens"] >= 1) & (df["n_tokens"] <= params["max_seq_len"])
ok["fits_max_seq_len"] = fits.mean() >= E["fits_max_seq_len"]["mostly"]
ext = df[df["family"] == "clinical_extraction"]
def parses(v):
    try:
        json.loads(v)
        return True
    except ValueError:
        return False
ok["extraction_output_is_json"] = bool(ext["output"].map(parses).all())
validator = jsonschema.Draft7Validator(E["extraction_output_schema"]["json_schema"])
ok["extraction_output_schema"] = bool(ext["output_json"].map(
    lambda v: validator.is_valid(json.loads(v))).all())
for name in ("share_clinical_extraction", "share_support_reply"):
    k = E[name]
    ok[name] = bool(k["min_value"] <= df[k["column"]].mean() <= k["max_value"])
t, c = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"validate_s": round(t, 2), "validate_cpu_s": round(c, 2),
                  "success": {n: bool(v) for n, v in ok.items()}}))
"""


#: tables above this many records are the table of this many repeated (generating a million
#: synthetic records takes longer than the whole bench on shared cores)
GENERATED = 100_000


def tiled(n: int) -> Path:
    """The table of ``n`` records made of the generated one repeated: ids suffixed (they stay
    unique) and each repeat's ``output_json`` given one more space after its first colon, so
    no value repeats more often than in the generated table (a check that validates each
    distinct value once gains nothing from the repeats); the same JSON, so the same verdict."""
    import pandas as pd

    path = CACHE / f"validate_table_{n}.parquet"
    base = pd.read_parquet(table(GENERATED))
    parts = []
    for k in range(-(-n // len(base))):
        part = base.copy()
        if k:
            part["id"] = part["id"] + f"-{k}"
            part["output_json"] = part["output_json"].str.replace(":", ":" + " " * k, n=1)
        parts.append(part)
    pd.concat(parts, ignore_index=True).head(n).to_parquet(path)
    return path


def table(n: int) -> Path:
    path = CACHE / f"validate_table_{n}.parquet"
    if path.is_file():
        return path
    if n > GENERATED:
        return tiled(n)
    from provena import validate
    from provena.config import ValidateConfig, load_params
    from provena.records import make_record
    from provena.synth import generate
    from provena.tokens import TokenCounter

    cfg = load_params(ROOT / "params.yaml").synth
    base = int(n / 1.07) + 1
    ds = generate(cfg.model_copy(update={"n_clinical": base // 2, "n_support": base - base // 2}))
    records = []
    seen = set()
    for d in ds.drafts:
        rec = make_record(
            source="synth",
            instruction=d.fields["instruction"],
            input=d.fields["input"],
            output=d.fields["output"],
            meta=d.meta,
        )
        if rec["id"] in seen or not rec["output"]:  # as clean leaves it: no copies, no empties
            continue
        seen.add(rec["id"])
        records.append(rec)
    records = records[:n]
    df = validate.build_table(records, ValidateConfig(), TokenCounter(None, ROOT, "t"))
    CACHE.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)
    return path


def side(code: str, data: Path) -> dict:
    suite = ROOT / "expectations" / "curated.json"
    proc = subprocess.run(
        [sys.executable, "-c", LOAD + code, str(data), str(suite)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: the goal: Great Expectations at most this many times the pandas check's time
GOAL_RATIO = 2.0


def targets(result: dict) -> list[dict]:
    """The goals of the validate issues, as ``{name, goal, measured, met}``: at each size, the
    same verdicts on both sides and Great Expectations within 2x the pandas time (CPU seconds:
    the machine's cores are shared, wall seconds move with the other jobs on them)."""
    out = []
    for run in result["runs"]:
        n, same = run["records"], run.get("same_results")
        out += [
            {
                "name": f"pass/fail per expectation, Great Expectations vs pandas, {n:,} records",
                "goal": "the same on every expectation",
                "measured": None if same is None else ("the same" if same else "different"),
                "met": same,
            },
            {
                "name": f"Great Expectations / pandas CPU time, {n:,} records",
                "goal": f"<= {GOAL_RATIO}x",
                "measured": run["gx_over_pandas_cpu"],
                "met": run["gx_over_pandas_cpu"] <= GOAL_RATIO,
            },
        ]
    return out


def bench(n: int) -> dict:
    t0 = time.perf_counter()
    data = table(n)
    built = time.perf_counter() - t0
    gx = side(GX, data)
    pd_ = side(PANDAS, data)
    agree = gx.pop("success") == pd_.pop("success")
    if not agree:
        print(f"{n:,} records: the two sides disagree on some expectation", file=sys.stderr)
    return {
        "records": n,
        "table_s": round(built, 1),
        "great_expectations": gx,
        "pandas": pd_,
        "same_results": agree,
        "gx_over_pandas": round(gx["validate_s"] / pd_["validate_s"], 2),
        "gx_over_pandas_cpu": round(gx["validate_cpu_s"] / pd_["validate_cpu_s"], 2),
        "gx_with_docs_over_pandas": round(gx["validate_with_docs_s"] / pd_["validate_s"], 2),
        "gx_with_docs_over_pandas_cpu": round(
            gx["validate_with_docs_cpu_s"] / pd_["validate_cpu_s"], 2
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "validate.json")
    args = ap.parse_args()
    old = json.loads(args.out.read_text()) if args.out.is_file() else {}
    runs = {r["records"]: r for r in old.get("runs", [])}  # a size run before stays
    for n in args.records:
        runs[n] = bench(n)
        print(json.dumps(runs[n], indent=2), flush=True)
    result = {
        "runs": [runs[n] for n in sorted(runs)],
        "seconds_include": "the checks only (the table is built once and loaded by both sides); "
        "Great Expectations' import is reported apart; *_cpu_s: the process's CPU seconds",
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    result = {"targets": targets(result), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if not all(r["same_results"] for r in result["runs"]):
        raise SystemExit("the two sides disagree on some expectation")


if __name__ == "__main__":
    main()
