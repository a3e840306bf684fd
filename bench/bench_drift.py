"""Benchmark: does ``provena drift`` stay quiet on data like the training data, and speak up on
data that is not?

Two batches go through ``provena drift`` (the CLI, in this process: ingest and scrub_pii in a
scratch folder with params.yaml, then the tests of the ``drift`` section) against a project's
training split (``--project DIR``: its ``data/processed/train.parquet`` and
``data/ledger/scrub_pii.jsonl``, as ``dvc repro`` or ``dvc pull`` leaves them; default: this
repository):

1. fresh default-shaped data: ``provena synth`` with params.yaml's synth section but another
   seed, ``--n`` base records (3,000 by default); the target is no drift;
2. the AlpacaEval answers in ``../shared/benchdata/instruct/alpaca_eval/`` (805 general
   knowledge instructions answered by two models: 1,610 records); the target is drift, with
   the features named. Without ``../shared/benchdata`` this part is not measured.

    nice -n 10 python bench/bench_drift.py [--project DIR] [--n 3000] [--seed 7] \\
        [--out bench/results/drift.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALPACA = ROOT.parent / "shared" / "benchdata" / "instruct" / "alpaca_eval"


def _drift(data: Path, project: Path, out: Path) -> dict[str, Any]:
    from provena.cli import main

    t0 = time.perf_counter()
    rc = main(
        [
            "drift",
            str(data),
            "--params",
            str(ROOT / "params.yaml"),
            "--reference",
            str(project / "data" / "processed" / "train.parquet"),
            "--reference-ledger",
            str(project / "data" / "ledger" / "scrub_pii.jsonl"),
            "--out",
            str(out),
        ]
    )
    if rc not in (0, 1):
        raise SystemExit(f"provena drift {data} failed (exit {rc})")
    report = json.loads(out.read_text())
    return {
        "exit_status": rc,
        "records": report["new"]["records"],
        "reference_records": report["reference"]["compared"],
        "drifted": report["drifted"],
        "statistics": {k: f["statistic"] for k, f in report["features"].items()},
        "drift_s": round(time.perf_counter() - t0, 1),
    }


def synth_batch(tmp: Path, n: int, seed: int) -> Path:
    from provena.config import load_params
    from provena.synth import generate, with_total, write_dataset

    cfg = load_params(ROOT / "params.yaml").synth.model_copy(update={"seed": seed})
    write_dataset(generate(with_total(cfg, n)), tmp / "raw" / "default")
    return tmp / "raw"


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    s, a = result["synth_other_seed"], result.get("alpaca_eval")
    return [
        {
            "name": "fresh default-shaped data (synth, another seed): features that drift",
            "goal": "none (exit 0)",
            "measured": ", ".join(s["drifted"]) or "none",
            "met": s["exit_status"] == 0 and not s["drifted"],
        },
        {
            "name": "AlpacaEval answers (general-knowledge QA): features that drift",
            "goal": "at least one, named (exit 1)",
            "measured": None if a is None else ", ".join(a["drifted"]) or "none",
            "met": None if a is None else a["exit_status"] == 1 and bool(a["drifted"]),
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--project", type=Path, default=ROOT, help="where data/processed lies")
    ap.add_argument("--n", type=int, default=3000, help="base records of the synth batch")
    ap.add_argument("--seed", type=int, default=7, help="the synth batch's seed")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "drift.json")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("PROVENA_NO_PROGRESS", "1")
    from provena.progress import setup_logging

    setup_logging()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = synth_batch(tmp / "synth", args.n, args.seed)
        result["synth_other_seed"] = {
            "seed": args.seed,
            **_drift(raw, args.project, tmp / "synth.json"),
        }
        if ALPACA.is_dir():
            result["alpaca_eval"] = _drift(ALPACA, args.project, tmp / "alpaca.json")
        else:
            print(f"AlpacaEval not measured: {ALPACA} is not there", file=sys.stderr)
    result = {
        "targets": targets(result),
        **result,
        "input": f"provena drift with params.yaml against {args.project.name}'s "
        "data/processed/train.parquet (original records)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
