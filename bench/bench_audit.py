"""Benchmark: audit_data's computation against a plain pandas + numpy script of the same tables.

Both sides start from the same Parquet record file (``--records`` synthetic records of the
default generator, written once to bench/.cache/) and end with the tables in memory:

- audit_data: :func:`provena.audit_data.audit_records` on :class:`provena.audit_data.RecordFile`,
  everything the stage computes (records read, the group frame, the audit with its fairlearn
  MetricFrames and bootstrap intervals, findings, the records behind each finding: a second
  read for their samples); the JSON and HTML writing is left out.
- plain: ``pd.read_parquet``, the meta JSON parsed, missing attributes inferred by the same
  rules, then per attribute and intersection the group shares with Wilson intervals, and per
  outcome the group rates (means) with percentile bootstrap intervals (``cfg.bootstrap``
  resamples of the rows, numpy; checked outcomes only, as the audit), the gap and ratio of
  each group to the best, the ratio with the audit's closed-form interval (Katz; delta method
  for means), and the counts of inferred attributes. No findings, no verdict texts, no checks
  of the input.

The plain side's point estimates (shares, rates, gaps, ratios) must equal the audit's; its
closed-form intervals within 1e-4 (rounding); its bootstrap intervals come from other draws,
so they are only compared loosely (each bound within half the audit's interval width). Each
side runs in a fresh process; times are CPU seconds of that process (``time.process_time``:
the machine is shared, wall time is reported beside), imports apart.

Then the whole stage (``stages/audit_data.py``, the command of dvc.yaml, default params) runs
on the same records (``@before``) and on them plus a quarter as many children as augment makes
them (``@after``, which audits the original records apart as well): its records per CPU-second
(the stage runs on one core: its records/s per core) and peak memory (``wait4``).

    nice -n 10 python bench/bench_audit.py [--records 200000] [--out bench/results/audit.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
#: audit_data's CPU time may be at most this many times the plain script's
GOAL_RATIO = 1.5
#: the whole stage's records per second per core (issue 22)
GOAL_PER_CORE = 2_000

AUDIT = r"""
import json, sys, time
from provena.config import AuditDataConfig
from provena import audit_data
import fairlearn.metrics  # noqa: F401  (imports apart: both sides import before timing)
cfg = AuditDataConfig()
c0, w0 = time.process_time(), time.perf_counter()
res = audit_data.audit_records(
    audit_data.RecordFile(sys.argv[1]), cfg, when="before", dataset={}
)
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
rep = res.report
tables = {f"inferred|{a}|{g}": n for a, per in rep["inferred"].items() for g, n in per.items()}
for name, block in [*rep["representation"].items(), *rep["intersections"].items()]:
    for g, e in block.get("groups", {}).items():
        if e["n"]:
            tables[f"share|{name}|{g}"] = e["share"]
            tables[f"share_ci|{name}|{g}"] = e["ci"]
for oname, o in rep["outcomes"].items():
    for attr, r in o["by_attribute"].items():
        comps = {"mean": r["value"]} if "value" in r else r.get("values", {})
        for label, c in comps.items():
            for g, e in c["by_group"].items():
                if g in c.get("too_small", {}):
                    continue
                tables[f"rate|{oname}|{attr}|{label}|{g}"] = e["value"]
                if "ci" in e:
                    tables[f"ci|{oname}|{attr}|{label}|{g}"] = e["ci"]
                vs = e.get("vs_highest")
                if vs:
                    tables[f"ratio|{oname}|{attr}|{label}|{g}"] = vs["ratio"]
                    tables[f"gap|{oname}|{attr}|{label}|{g}"] = vs["difference"]
                    if "ratio_ci" in vs:
                        tables[f"ratio_ci|{oname}|{attr}|{label}|{g}"] = vs["ratio_ci"]
print(json.dumps({"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "records": rep["records"],
                  "tables": tables}))
"""

PLAIN = r"""
import json, math, sys, time
from statistics import NormalDist
import numpy as np
import pandas as pd
from provena.config import AuditDataConfig
from provena.group_audit import AGE_BANDS
cfg = AuditDataConfig()
c0, w0 = time.process_time(), time.perf_counter()
df = pd.read_parquet(sys.argv[1], columns=["input", "output", "meta"])
meta = pd.DataFrame([json.loads(m) for m in df["meta"]], index=df.index)
for col in ["family", *cfg.attributes, "resolution", "icd10_chapter"]:
    if col not in meta:
        meta[col] = None
    meta[col] = meta[col].where(meta[col].notna() & (meta[col] != ""), "(missing)").astype(str)
recorded = {a: (meta[a] != "(missing)") for a in cfg.attributes}  # inferred ones: not judged
unknown = ~np.logical_and.reduce([recorded[a].to_numpy() for a in ("gender", "age_band")])
text = (df["input"] + "\n" + df["output"])[unknown]  # inferred only where a value is missing
f = text.str.count(r"(?i)\b(?:she|her|hers|herself|woman|girl|lady|mrs|ms|miss)\b\.?")
m = text.str.count(r"(?i)\b(?:he|him|his|himself|man|boy|gentleman|mr)\b\.?")
age = pd.to_numeric(text.str.extract(r"(?i)\b(\d{1,3})[- ]?(?:years?[- ]old|y/?o|yo)\b")[0])
band = pd.Series(None, index=text.index, dtype=object)
for lo, hi, name in AGE_BANDS:
    band[(age >= lo) & (age <= hi)] = name
gender = pd.Series(None, index=text.index, dtype=object)
gender[(f >= 2) & (m == 0)] = "female"
gender[(m >= 2) & (f == 0)] = "male"
tables = {}
for a, guess in (("gender", gender), ("age_band", band)):
    for grp, k in guess[~recorded[a][guess.index]].value_counts().items():
        tables[f"inferred|{a}|{grp}"] = int(k)
meta["output_chars"] = df["output"].str.len()
z = NormalDist().inv_cdf(0.5 + cfg.ci / 2)
rng = np.random.default_rng(cfg.seed)
lo_q, hi_q = (1 - cfg.ci) / 2, 1 - (1 - cfg.ci) / 2

def groups_of(data, attrs):
    out = data[attrs[0]]
    for a in attrs[1:]:
        out = out + " & " + data[a]
    return out

combos = [[a] for a in cfg.attributes] + [list(c) for c in cfg.intersections]
for attrs in combos:
    keep = np.logical_and.reduce([recorded[a].to_numpy() for a in attrs])
    g = groups_of(meta[keep], attrs)
    counts = g.value_counts()
    n = counts.sum()
    for grp, k in counts.items():
        p = int(k) / int(n)
        den = 1 + z * z / n
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        tables[f"share|{' x '.join(attrs)}|{grp}"] = round(p, 4)
        tables[f"share_ci|{' x '.join(attrs)}|{grp}"] = [
            round(max(0.0, (p + z * z / (2 * n)) / den - half), 4),
            round(min(1.0, (p + z * z / (2 * n)) / den + half), 4),
        ]
for spec in cfg.outcomes:
    fam = meta["family"] == spec.family
    for attrs in combos:
        keep = fam.to_numpy() & np.logical_and.reduce([recorded[a].to_numpy() for a in attrs])
        sub = meta[keep]
        g = groups_of(sub, attrs)
        sizes = g.value_counts()
        big = sizes[sizes >= cfg.min_group_size].index
        if len(big) < 2:
            continue
        inb = g.isin(big).to_numpy()
        codes, labels = pd.factorize(g[inb], sort=True)
        if spec.kind == "mean":
            cols = {"mean": sub[spec.field].to_numpy(dtype=float)[inb]}
        else:
            lab = sub[spec.field].to_numpy()[inb]
            cols = {str(v): (lab == v).astype(float)
                    for v in sorted(set(sub[spec.field]) - {"(missing)"})}
        G, nb = len(labels), len(codes)
        size = np.bincount(codes, minlength=G)
        B = cfg.bootstrap if spec.check else 0  # an unchecked outcome: values only
        boot = np.empty((B, G, len(cols)))
        vals = np.column_stack(list(cols.values()))
        zb = NormalDist().inv_cdf(0.5 + (1 - (1 - cfg.ci) / (G - 1)) / 2)  # Bonferroni
        for b in range(B):
            idx = rng.integers(0, nb, size=nb)
            c = codes[idx]
            cnt = np.bincount(c, minlength=G)
            for j in range(vals.shape[1]):
                boot[b, :, j] = np.bincount(c, weights=vals[idx, j], minlength=G) / cnt
        ci = np.nanquantile(boot, [lo_q, hi_q], axis=0) if B else None
        name = " x ".join(attrs)
        for j, (label, col) in enumerate(cols.items()):
            means = np.bincount(codes, weights=col, minlength=G) / size
            best = int(np.argmax(means))
            for k, grp in enumerate(labels):
                key = f"{spec.name}|{name}|{label}|{grp}"
                tables[f"rate|{key}"] = round(float(means[k]), 4)
                if B:
                    tables[f"ci|{key}"] = [round(float(q), 4) for q in ci[:, k, j]]
                if k != best and spec.check and means[best]:
                    tables[f"ratio|{key}"] = (
                        round(float(means[k] / means[best]), 4) if means[best] else None
                    )
                    tables[f"gap|{key}"] = round(float(means[best] - means[k]), 4)
                    x, y = col[codes == k], col[codes == best]
                    if spec.kind == "mean":  # delta-method ratio interval, as the audit's
                        vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
                        r, mb = x.mean() / y.mean(), y.mean()
                        se = math.sqrt(vx / mb**2 + (r**2) * vy / mb**2)
                        rci = [max(0.0, r - zb * se), r + zb * se]
                    else:  # Katz ratio interval, as the audit's
                        kx, ky, nx, ny = float(x.sum()), float(y.sum()), len(x), len(y)
                        if kx == 0 or ky == 0:
                            kx, ky, nx, ny = kx + 0.5, ky + 0.5, nx + 1, ny + 1
                        se = math.sqrt(max(0.0, 1 / kx - 1 / nx + 1 / ky - 1 / ny))
                        log_r = math.log((kx / nx) / (ky / ny))
                        rci = [math.exp(log_r - zb * se), math.exp(log_r + zb * se)]
                    tables[f"ratio_ci|{key}"] = [round(v, 4) for v in rci]
cpu, wall = time.process_time() - c0, time.perf_counter() - w0
print(json.dumps({"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "records": len(df),
                  "tables": tables}))
"""


def records_file(n: int) -> Path:
    """``n`` records of the default generator (half clinical, half support, planted copies
    and all), as the stages store them; written once."""
    path = CACHE / f"audit_records_{n}.parquet"
    if path.is_file():
        return path
    from provena.config import load_params
    from provena.io import RecordWriter
    from provena.records import make_record
    from provena.synth import generate

    cfg = load_params(ROOT / "params.yaml").synth
    ds = generate(cfg.model_copy(update={"n_clinical": n // 2, "n_support": n - n // 2}))
    recs = [
        make_record(
            source=f"synth/{d.family}",
            instruction=d.fields["instruction"],
            input=d.fields["input"],
            output=d.fields["output"],
            meta=d.meta,
        )
        for d in ds.drafts[:n]
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    with RecordWriter(path) as w:
        for i in range(0, len(recs), 10_000):
            w.write(recs[i : i + 10_000])
    return path


def after_file(n: int) -> Path:
    """The records of :func:`records_file` plus children as augment makes them (a
    ``parent_id``, the gender flipped): a quarter as many, from male support replies, so that
    the audit runs its after-augmentation path (original records audited apart)."""
    path = CACHE / f"audit_records_{n}_after.parquet"
    if path.is_file():
        return path
    from provena.io import RecordWriter, read_records
    from provena.records import make_record

    recs = [r for b in read_records(records_file(n)) for r in b]
    kids = []
    for r in recs:
        m = r["meta"]
        if len(kids) < n // 4 and m.get("family") == "support_reply" and m.get("gender") == "male":
            kids.append(
                make_record(
                    source=r["source"],
                    instruction=r["instruction"],
                    input=r["input"],
                    output=r["output"] + " ",
                    meta={**m, "gender": "female"},
                    parent_id=r["id"],
                    op="counterfactual:gender=female",
                )
            )
    rows = recs + kids
    with RecordWriter(path) as w:
        for i in range(0, len(rows), 10_000):
            w.write(rows[i : i + 10_000])
    return path


def stage(when: str, data: Path, tmp: Path) -> dict:
    """The whole audit_data stage (its dvc.yaml command, default params) on ``data``: wall and
    CPU seconds of the process, records per CPU-second (the stage runs on one core: that is
    its records/s per core) and its peak memory."""
    import time

    cmd = [
        sys.executable,
        "stages/audit_data.py",
        "--params",
        "params.yaml",
        "--when",
        when,
        "--input",
        str(data),
        "--out",
        str(tmp / f"audit_{when}.json"),
        "--metrics",
        str(tmp / f"metrics_{when}.json"),
        "--report-html",
        str(tmp / f"audit_{when}.html"),
    ]
    if when == "after":
        cmd += ["--before", str(tmp / "audit_before.json")]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"audit_data@{when} failed: {proc.stderr.read().decode()[-2000:]}")
    records = json.loads((tmp / f"metrics_{when}.json").read_text())["records"]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "records": records,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "records_per_cpu_s": round(records / cpu),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def side(code: str, data: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, str(data)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(audit: dict, plain: dict) -> dict:
    """Point estimates equal; closed-form intervals (Wilson, Katz, delta) within 1e-4
    (rounding); bootstrap bounds within half the audit's interval width (other draws: a loose
    check that both sides bootstrap the same quantity)."""
    a, p = audit["tables"], plain["tables"]
    kind = {k: k.split("|")[0] for k in a}
    missing = [k for k in a if k not in p]
    unequal, apart, far = [], [], []
    for k in a:
        if k not in p:
            continue
        if kind[k] in ("share_ci", "ratio_ci"):
            if any(abs(x - y) > 1e-4 for x, y in zip(a[k], p[k], strict=True)):
                apart.append(k)
        elif kind[k] == "ci":
            width = a[k][1] - a[k][0]
            if any(abs(x - y) > width / 2 + 1e-4 for x, y in zip(a[k], p[k], strict=True)):
                far.append(k)
        elif a[k] != p[k]:
            unequal.append(k)
    return {
        "values_compared": len(a),
        "missing_in_plain": missing[:5],
        "unequal_points": unequal[:5],
        "closed_form_intervals_apart": apart[:5],
        "bootstrap_bounds_apart": far[:5],
        "same": not (missing or unequal or apart or far),
    }


def targets(result: dict) -> list[dict]:
    """The goals of issue 22 for audit_data, as ``{name, goal, measured, met}``: its
    computation at most 1.5x the plain script's time, the same tables, and the whole stage at
    2,000 records/s per core or more."""
    check = result["check"]
    out = [
        {
            "name": f"audit_data's computation vs a plain pandas + numpy script, "
            f"{result['records']:,} records",
            "goal": f"<= {GOAL_RATIO}x",
            "measured": result["audit_over_plain"],
            "met": result["audit_over_plain"] <= GOAL_RATIO,
        },
        {
            "name": "the plain script's tables equal the audit's",
            "goal": "point estimates equal, closed-form intervals within 1e-4, bootstrap "
            "bounds within half the interval's width",
            "measured": "the same" if check["same"] else "different",
            "met": check["same"],
        },
    ]
    for when, st in result.get("stage", {}).items():
        out.append(
            {
                "name": f"audit_data@{when} stage, {st['records']:,} records: records/s per core",
                "goal": f">= {GOAL_PER_CORE:,}",
                "measured": st["records_per_cpu_s"],
                "met": st["records_per_cpu_s"] >= GOAL_PER_CORE,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "audit.json")
    ap.add_argument("--no-stage", action="store_true", help="skip the whole-stage runs")
    ap.add_argument("--prepare", action="store_true", help="only write the input files")
    args = ap.parse_args()
    if args.prepare:
        records_file(args.records)
        after_file(args.records)
        return
    # the inputs are written by a process of their own: a process forked from one that held
    # the records in memory would carry that peak into its own ru_maxrss
    prep = [sys.executable, __file__, "--records", str(args.records), "--prepare"]
    subprocess.run(prep, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    data = records_file(args.records)
    audit = side(AUDIT, data)
    plain = side(PLAIN, data)
    check = compare(audit, plain)
    ratio = round(audit["cpu_s"] / plain["cpu_s"], 2)
    result = {
        "records": audit["records"],
        "audit_data": {k: audit[k] for k in ("cpu_s", "wall_s")},
        "plain": {k: plain[k] for k in ("cpu_s", "wall_s")},
        "audit_over_plain": ratio,
        "records_per_cpu_s": round(audit["records"] / audit["cpu_s"]),
        "check": check,
        "seconds_include": "computation: from the Parquet file to the tables in memory, one "
        "process each, imports apart, CPU seconds (process_time), wall beside; stage: the whole "
        "audit_data process (imports, JSON and HTML written), CPU seconds from wait4",
    }
    if not args.no_stage:
        with tempfile.TemporaryDirectory() as tmp:
            result["stage"] = {
                "before": stage("before", data, Path(tmp)),
                "after": stage("after", after_file(args.records), Path(tmp)),
            }
    result = {"targets": targets(result), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if not check["same"]:
        raise SystemExit("the plain script's tables differ from the audit's")


if __name__ == "__main__":
    main()
