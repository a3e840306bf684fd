"""scrub_pii: detect and replace PII in every record; residual scan; PII report.

    python stages/scrub_pii.py --params params.yaml --input data/interim/ingest.parquet \
        --gold data/raw/default/_gold/pii_spans.jsonl --out data/interim/scrub_pii.parquet \
        --ledger data/ledger/scrub_pii.jsonl --quarantine data/quarantine/scrub_pii.jsonl \
        --metrics metrics/scrub_pii.json --report-json audits/pii_report.json \
        --report-html reports/pii_report.html \
        --surrogates data/interim/scrub_pii_surrogates.parquet
"""

from pathlib import Path

from provena import scrub_pii
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    scrub_pii.run(
        args.input,
        params.scrub_pii,
        out=args.out,
        ledger=args.ledger,
        quarantine=args.quarantine,
        metrics=args.metrics,
        report_json=args.report_json,
        report_html=args.report_html,
        executor=params.executor,
        gold_paths=args.gold,
        labels=params.meta_labels(),  # meta keys other stages read: free text left as it is
        surrogates=args.surrogates,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--out", "--ledger", "--quarantine", "--metrics"):
        parser.add_argument(flag, type=Path, required=True)
    for flag in ("--report-json", "--report-html"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--gold", type=Path, action="append", default=[], help="gold spans")
    parser.add_argument("--surrogates", type=Path, help="where the replacements stand")
    run_stage("scrub_pii", main, parser)
