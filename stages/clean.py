"""clean: quality filters, exact and near-duplicate removal, the clean report.

    python stages/clean.py --params params.yaml --input data/interim/scrub_pii.parquet \
        --pii-ledger data/ledger/scrub_pii.jsonl --labels data/raw/default/_gold/labels.jsonl \
        --out data/interim/clean.parquet --ledger data/ledger/clean.jsonl \
        --quarantine data/quarantine/clean.jsonl --metrics metrics/clean.json \
        --report-json reports/clean_report.json --report-html reports/clean_report.html
"""

from pathlib import Path

from provena import clean
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    clean.run(
        args.input,
        params.clean,
        out=args.out,
        ledger=args.ledger,
        quarantine=args.quarantine,
        metrics=args.metrics,
        report_json=args.report_json,
        report_html=args.report_html,
        executor=params.executor,
        labels=args.labels,
        root=args.params.resolve().parent,
        pii_ledger=args.pii_ledger,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for name in ("input", "out", "ledger", "quarantine", "metrics", "report-json", "report-html"):
        parser.add_argument(f"--{name}", type=Path, required=True)
    parser.add_argument("--labels", type=Path, action="append", default=[], help="gold labels")
    parser.add_argument("--pii-ledger", type=Path, help="scrub_pii's ledger (outputs it changed)")
    run_stage("clean", main, parser)
