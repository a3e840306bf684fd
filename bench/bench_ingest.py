"""Benchmark: Provena's ingest against the script a user would otherwise write.

The baseline is pandas ``read_json(lines=True)`` plus ftfy and ``html.unescape`` on each text
column, written to Parquet: the usual hand-rolled normalization. Both run in fresh processes
on the same alpaca-shaped JSONL file from the synthetic default dataset; the script reports
records/s, peak memory (max RSS) and their ratios. The baseline has no quarantine: a single
malformed line makes it fail, so the file used here has none.

    python bench/bench_ingest.py [--records 50000] [--out bench/results/ingest.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import html, sys, ftfy, pandas as pd
df = pd.read_json(sys.argv[1], lines=True)
for col in ("instruction", "input", "output"):
    df[col] = df[col].fillna("").map(lambda s: html.unescape(ftfy.fix_text(s)).strip())
df["meta"] = df["meta"].map(lambda m: __import__("json").dumps(m, sort_keys=True))
df.to_parquet(sys.argv[2])
print(len(df))
"""

PROVENA = r"""
import sys
from pathlib import Path
from provena import ingest
from provena.config import IngestConfig
out = Path(sys.argv[2])
r = ingest.run([Path(sys.argv[1])], IngestConfig(), out=out, metrics=None,
               ledger=out.with_suffix(".ledger.jsonl"), quarantine=out.with_suffix(".q.jsonl"))
print(r["records_kept"])
"""


# VmHWM is this process's own peak RSS; ru_maxrss would include the parent's, inherited at fork.
PEAK = (
    "\nprint(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')))\n"
)


def _timed(code: str, src: Path, out: Path) -> dict:
    """Run one side in a fresh process; it reports its own record count and peak RSS (KiB)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code + PEAK, str(src), str(out)], capture_output=True, text=True
    )
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    records, peak_kib = proc.stdout.split()[-2:]
    return {
        "records": int(records),
        "seconds": round(secs, 2),
        "peak_rss_mb": round(int(peak_kib) / 1024, 1),
    }


def targets(result: dict) -> list[dict]:
    """The goals this bench checks, as ``{name, goal, measured, met}`` (no issue set a figure:
    ingest should be at least as fast as the pandas baseline and use no more memory)."""
    speed, memory = result.get("speed_ratio"), result.get("memory_ratio")
    return [
        {
            "name": "records/s, Provena / pandas + ftfy",
            "goal": ">= 1x the baseline",
            "measured": speed,
            "met": None if speed is None else speed >= 1.0,
        },
        {
            "name": "peak RSS, Provena / pandas + ftfy",
            "goal": "<= 1x the baseline",
            "measured": memory,
            "met": None if memory is None else memory <= 1.0,
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=50_000, help="clinical records to generate")
    ap.add_argument("--out", type=Path, default=Path("bench/results/ingest.json"))
    args = ap.parse_args()

    from provena.config import load_params
    from provena.synth import CLINICAL_FILE, generate, write_dataset

    cfg = load_params(Path(__file__).resolve().parents[1] / "params.yaml").synth
    cfg = cfg.model_copy(update={"n_clinical": args.records, "n_support": 10})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_dataset(generate(cfg), tmp / "raw")
        src = tmp / "raw" / CLINICAL_FILE
        prov = _timed(PROVENA, src, tmp / "provena.parquet")
        base = _timed(BASELINE, src, tmp / "baseline.parquet")
    result = {
        "input": f"{prov['records']} alpaca-shaped clinical records (synthetic default dataset)",
        "provena": prov,
        "baseline_pandas_ftfy": base,
        "records_per_s": {
            "provena": round(prov["records"] / prov["seconds"]),
            "baseline": round(base["records"] / base["seconds"]),
        },
        "speed_ratio": round(
            (prov["records"] / prov["seconds"]) / (base["records"] / base["seconds"]), 2
        ),
        "memory_ratio": round(prov["peak_rss_mb"] / base["peak_rss_mb"], 2),
        "seconds_include": "interpreter start and imports, for both sides",
    }
    result = {"targets": targets(result), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
