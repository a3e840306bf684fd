"""Benchmark: what clean drops from real general-knowledge data it did not generate.

The AlpacaEval answers in ``../shared/benchdata/instruct/alpaca_eval/`` (805 instructions, each
answered by two models: 1,610 records; see its README) go through the pipeline's own stage
code, as a user's data would: ingest (params.yaml's ingest section), scrub_pii (its section:
the ``general`` profile, since no profile glob matches these files), then clean with
params.yaml's clean section and scrub_pii's ledger. The target is the share of records clean
drops (at most 2%); every drop is written, with its rule, its reason and the record's
instruction and output, to ``bench/results/clean_realdata.drops.jsonl`` for a person to judge.

Beside it, the same scrubbed records through clean with the instruction-blind settings
(``short_output.by_instruction: false``, ``language.follow_instruction: false``, Gopher's
n-gram shares on): what the filters dropped before they read the instruction.

With ``--default-data DIR`` (a project folder whose ``data/`` holds the default pipeline's
``interim/scrub_pii.parquet``, ``ledger/scrub_pii.jsonl`` and ``raw/default/_gold/labels.jsonl``,
as ``dvc pull`` or ``dvc repro`` leaves them), clean also runs on the default data and its drops
are scored against the planted defects: precision and recall at least 0.95.

Without ``../shared/benchdata`` the script says so and exits 0 without writing anything.

    python bench/bench_clean_realdata.py [--default-data DIR] \\
        [--out bench/results/clean_realdata.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ALPACA = ROOT.parent / "shared" / "benchdata" / "instruct" / "alpaca_eval"
MAX_DROP_SHARE = 0.02
MIN_GOLD = 0.95
#: the settings of clean's filters before they read the instruction
BLIND = {
    "short_output": {"by_instruction": False},
    "language": {"follow_instruction": False},
    "repetition": {
        "max_top_ngram_char_share": {2: 0.2, 3: 0.18, 4: 0.16},
        "max_dup_ngram_char_share": {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.1},
    },
}


def _clean(inp: Path, cfg: Any, folder: Path, **kw: Any) -> dict[str, Any]:
    from provena import clean

    folder.mkdir(parents=True, exist_ok=True)
    return clean.run(
        inp,
        cfg,
        out=folder / "clean.parquet",
        ledger=folder / "ledger.jsonl",
        quarantine=folder / "quarantine.jsonl",
        metrics=folder / "metrics.json",
        root=ROOT,
        **kw,
    )


def _drops(folder: Path) -> list[dict[str, Any]]:
    from provena.io import read_jsonl

    return [
        {
            "id": q["id"],
            "rule": q["rule"],
            "reason": q["reason"],
            "instruction": q["record"]["instruction"][:300],
            "output": q["record"]["output"][:300],
        }
        for q in read_jsonl(folder / "quarantine.jsonl")
    ]


def alpaca(tmp: Path) -> dict[str, Any]:
    from provena import ingest, scrub_pii
    from provena.config import CleanConfig, load_params

    params = load_params(ROOT / "params.yaml")
    t0 = time.perf_counter()
    ingested = tmp / "ingest.parquet"
    ingest.run([ALPACA], params.ingest, out=ingested, base=ROOT.parent)
    scrubbed = tmp / "scrub_pii.parquet"
    pii_ledger = tmp / "scrub_pii.ledger.jsonl"
    scrub_pii.run(
        ingested,
        params.scrub_pii,
        out=scrubbed,
        ledger=pii_ledger,
        quarantine=tmp / "scrub_pii.quarantine.jsonl",
        metrics=None,
        report_json=None,
        report_html=None,
    )
    prep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = _clean(scrubbed, params.clean, tmp / "clean", pii_ledger=pii_ledger)
    clean_s = time.perf_counter() - t0
    blind_cfg = CleanConfig.model_validate(
        {**params.clean.model_dump(), "filters": _merged(params.clean.filters.model_dump(), BLIND)}
    )
    blind = _clean(scrubbed, blind_cfg, tmp / "blind", pii_ledger=pii_ledger)
    books, blind_books = report["books"], blind["books"]
    return {
        "records_in": books["records_in"],
        "records_dropped": books["records_quarantined"],
        "drop_share": round(books["records_quarantined"] / books["records_in"], 4),
        "dropped_by_rule": dict(sorted(books["quarantined_by_rule"].items())),
        "instruction_blind": {
            "records_dropped": blind_books["records_quarantined"],
            "drop_share": round(blind_books["records_quarantined"] / blind_books["records_in"], 4),
            "dropped_by_rule": dict(sorted(blind_books["quarantined_by_rule"].items())),
        },
        "ingest_and_scrub_s": round(prep_s, 1),
        "clean_s": round(clean_s, 1),
        "drops": _drops(tmp / "clean"),
    }


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s keys, nested dicts merged key by key."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(base.get(k) or {}, v) if isinstance(v, dict) else v
    return out


def default_data(project: Path, tmp: Path) -> dict[str, Any]:
    from provena.config import load_params

    data = project / "data"
    needed = [
        data / "interim" / "scrub_pii.parquet",
        data / "ledger" / "scrub_pii.jsonl",
        data / "raw" / "default" / "_gold" / "labels.jsonl",
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"--default-data {project}: missing {', '.join(missing)}")
    params = load_params(ROOT / "params.yaml")
    report = _clean(
        needed[0], params.clean, tmp / "default", pii_ledger=needed[1], labels=[needed[2]]
    )
    gold = report["gold_evaluation"]
    return {
        "records_in": report["books"]["records_in"],
        "dropped_by_rule": dict(sorted(report["books"]["quarantined_by_rule"].items())),
        "gold_precision": gold["precision"],
        "gold_recall": gold["recall"],
        "gold_false_positives": gold["false_positives"],
        "per_defect_recall": {d: v["recall"] for d, v in gold["per_defect"].items()},
    }


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    a = result["alpaca_eval"]
    out = [
        {
            "name": "AlpacaEval answers (1,610 records): share clean drops",
            "goal": f"<= {MAX_DROP_SHARE}",
            "measured": a["drop_share"],
            "met": a["drop_share"] <= MAX_DROP_SHARE,
        }
    ]
    d = result.get("default_data")
    for key, label in (("gold_precision", "precision"), ("gold_recall", "recall")):
        out.append(
            {
                "name": f"default data: planted defects caught, {label}",
                "goal": f">= {MIN_GOLD}",
                "measured": None if d is None else d[key],
                "met": None if d is None else d[key] >= MIN_GOLD,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--default-data", type=Path, default=None, help="a project folder")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "clean_realdata.json")
    args = ap.parse_args()
    if not ALPACA.is_dir():
        print(f"skipped: {ALPACA} is not there (see ../shared/benchdata/README.md)")
        return
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        a = alpaca(Path(tmp) / "alpaca")
        d = default_data(args.default_data, Path(tmp)) if args.default_data else None
    drops = a.pop("drops")
    result: dict[str, Any] = {"alpaca_eval": a}
    if d is not None:
        result["default_data"] = d
    result = {
        "targets": targets(result),
        **result,
        "input": "AlpacaEval answers of text-davinci-003 and llama-2-7b-chat (805 instructions "
        "each), through ingest, scrub_pii and clean with params.yaml",
        "drops_file": "bench/results/clean_realdata.drops.jsonl: every record dropped, with "
        "its rule, reason, instruction and output, to judge by hand",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    drops_path = args.out.with_name(args.out.stem + ".drops.jsonl")
    rules = Counter(x["rule"] for x in drops)
    drops.sort(key=lambda x: (-rules[x["rule"]], x["rule"], x["id"]))
    drops_path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in drops))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
