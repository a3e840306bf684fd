"""Benchmark: Provena's near-deduplication against a plain datasketch MinHashLSH script.

The baseline is what a user writes from datasketch's documentation: one ``MinHash`` per record
(``update_batch`` over its shingles), ``MinHashLSH.insert``, then ``query`` every record and
keep candidates whose estimated Jaccard (``MinHash.jaccard``) reaches the threshold. Provena's
side is :class:`provena.dedup.Deduplicator` with exact matching off, so both do the same job:
the same shingles (word n-grams of the normalized text), permutations, seed, bands and rows.

Both run in fresh processes on the same records (the synthetic default dataset's text, with
its planted copies, generated at the requested size and cached under bench/.cache). Each side
reports its time for the dedup work alone (after loading the texts), its peak RSS, and its
peak RSS above what loading the texts took; the script compares the duplicate pairs found
(pair-level agreement = shared pairs / pairs found by either).

    python bench/bench_dedup.py [--sizes 50000 200000] [--out bench/results/dedup.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"

COMMON = r"""
import json, sys, time
import pyarrow.parquet as pq
texts = []
for batch in pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=10_000, columns=["text"]):
    texts += batch.column(0).to_pylist()
    if len(texts) >= int(sys.argv[2]):
        break
texts = texts[: int(sys.argv[2])]
cfg = json.loads(sys.argv[4])
def rss():
    return int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmRSS")))
loaded = rss()
t0 = time.perf_counter()
"""

BASELINE = r"""
from datasketch import MinHash, MinHashLSH
from provena.dedup import shingles
lsh = MinHashLSH(num_perm=cfg["num_perm"], params=(cfg["bands"], cfg["rows"]))
minhashes = []
for i, text in enumerate(texts):
    m = MinHash(num_perm=cfg["num_perm"], seed=cfg["seed"])
    m.update_batch(shingles(text, cfg["ngram"]))
    lsh.insert(i, m)
    minhashes.append(m)
pairs = []
for i, m in enumerate(minhashes):
    for j in lsh.query(m):
        if j > i and m.jaccard(minhashes[j]) >= cfg["threshold"]:
            pairs.append((i, j))
"""

PROVENA = r"""
from provena.config import DedupConfig
from provena.dedup import Deduplicator
dd = Deduplicator(DedupConfig(exact=False, ngram=cfg["ngram"], num_perm=cfg["num_perm"],
                              threshold=cfg["threshold"], bands=cfg["bands"], rows=cfg["rows"],
                              seed=cfg["seed"], chunk_size=cfg["chunk_size"]))
step = cfg["chunk_size"]
for s in range(0, len(texts), step):
    dd.add(range(s, min(s + step, len(texts))), texts[s : s + step])
pairs = [(a, b) for a, b, _ in dd.near_pairs()]
"""

REPORT = r"""
secs = time.perf_counter() - t0
peak = int(next(ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM")))
with open(sys.argv[3], "w") as fh:
    json.dump(sorted(map(list, pairs)), fh)
print(json.dumps({"records": len(texts), "seconds": round(secs, 2),
                  "peak_rss_mb": round(peak / 1024, 1),
                  "peak_above_loaded_mb": round((peak - loaded) / 1024, 1)}))
"""


def dataset(n: int) -> Path:
    """At least n records of the default dataset's text (instruction, input, output)."""
    path = CACHE / f"dedup_text_{n}.parquet"
    if path.is_file():
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    from provena.config import load_params
    from provena.synth import generate

    cfg = load_params(ROOT / "params.yaml").synth
    base = int(n / 1.07) + 1  # the generator adds ~7% planted copies
    cfg = cfg.model_copy(update={"n_clinical": base // 2, "n_support": base - base // 2})
    ds = generate(cfg)
    texts = [
        "\n\n".join(d.fields[f] for f in ("instruction", "input", "output") if d.fields[f])
        for d in ds.drafts
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts[:n]}), path)
    return path


def side(code: str, data: Path, n: int, pairs_out: Path, cfg: dict) -> dict:
    script = COMMON + code + REPORT
    proc = subprocess.run(
        [sys.executable, "-c", script, str(data), str(n), str(pairs_out), json.dumps(cfg)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def targets(result: dict) -> list[dict]:
    """The goals of the clean issue, per size, as ``{name, goal, measured, met}``: at least as
    fast as plain datasketch, no more peak memory, pair-level agreement at least 0.99, and
    memory that grows at most linearly with the records (never with their square)."""
    out = []
    for run in result.get("runs", []):
        n = f"{run['records']:,} records"
        out += [
            {
                "name": f"{n}: records/s, Provena / datasketch",
                "goal": ">= 1x the baseline",
                "measured": run["speed_ratio"],
                "met": run["speed_ratio"] >= 1.0,
            },
            {
                "name": f"{n}: peak RSS, Provena / datasketch",
                "goal": "<= 1x the baseline",
                "measured": run["memory_ratio"],
                "met": run["memory_ratio"] <= 1.0,
            },
            {
                "name": f"{n}: pair-level agreement",
                "goal": ">= 0.99",
                "measured": run["pair_agreement"],
                "met": run["pair_agreement"] >= 0.99,
            },
        ]
    growth = result.get("peak_memory_growth") or {}
    records_x, memory_x = growth.get("records_x"), growth.get("provena_above_loaded_x")
    measured = records_x is not None and records_x > 1 and memory_x is not None
    out.append(
        {
            "name": "growth of peak memory above the loaded texts, smallest to largest size",
            "goal": f"<= {records_x}x for {records_x}x the records (linear, not quadratic)"
            if measured
            else "at most linear in the records (needs two sizes)",
            "measured": memory_x if measured else None,
            "met": memory_x <= records_x if measured else None,
        }
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dedup.json")
    args = ap.parse_args()

    from provena.config import load_params
    from provena.dedup import lsh_params

    dcfg = load_params(ROOT / "params.yaml").clean.dedup
    bands, rows = lsh_params(dcfg)
    cfg = {
        "ngram": dcfg.ngram,
        "num_perm": dcfg.num_perm,
        "threshold": dcfg.threshold,
        "bands": bands,
        "rows": rows,
        "seed": dcfg.seed,
        "chunk_size": dcfg.chunk_size,
    }
    data = dataset(max(args.sizes))
    runs = []
    for n in sorted(args.sizes):
        t0 = time.perf_counter()
        tmp = CACHE / "pairs"
        tmp.mkdir(parents=True, exist_ok=True)
        prov = side(PROVENA, data, n, tmp / "provena.json", cfg)
        base = side(BASELINE, data, n, tmp / "baseline.json", cfg)
        a = {tuple(p) for p in json.loads((tmp / "provena.json").read_text())}
        b = {tuple(p) for p in json.loads((tmp / "baseline.json").read_text())}
        union = a | b
        runs.append(
            {
                "records": n,
                "provena": prov,
                "baseline_datasketch": base,
                "records_per_s": {
                    "provena": round(n / prov["seconds"]),
                    "baseline": round(n / base["seconds"]),
                },
                "speed_ratio": round(base["seconds"] / prov["seconds"], 2),
                "memory_ratio": round(prov["peak_rss_mb"] / base["peak_rss_mb"], 2),
                "memory_ratio_above_loaded": round(
                    prov["peak_above_loaded_mb"] / base["peak_above_loaded_mb"], 2
                ),
                "pairs": {"provena": len(a), "baseline": len(b), "shared": len(a & b)},
                "pair_agreement": round(len(a & b) / len(union), 4) if union else 1.0,
            }
        )
        print(json.dumps(runs[-1]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    small, large = runs[0], runs[-1]
    result = {
        "input": "text of the synthetic default dataset (instruction, input, output), with its "
        "planted exact and near copies",
        "params": cfg,
        "runs": runs,
        "peak_memory_growth": {
            "records_x": round(large["records"] / small["records"], 2),
            "provena_above_loaded_x": round(
                large["provena"]["peak_above_loaded_mb"] / small["provena"]["peak_above_loaded_mb"],
                2,
            ),
        },
        "seconds_include": "dedup work only: shingling, hashing, indexing, querying (not imports "
        "or loading the texts)",
    }
    result = {"targets": targets(result), **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
