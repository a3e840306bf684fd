"""ingest: read every raw source, map it onto the record schema, normalize, quarantine bad rows.

    python stages/ingest.py --params params.yaml --input data/raw \
        --out data/interim/ingest.parquet --ledger data/ledger/ingest.jsonl \
        --quarantine data/quarantine/ingest.jsonl --metrics metrics/ingest.json
"""

from pathlib import Path

from provena import ingest
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    ingest.run(
        [args.input],
        params.ingest,
        out=args.out,
        ledger=args.ledger,
        quarantine=args.quarantine,
        metrics=args.metrics,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--out", "--ledger", "--quarantine", "--metrics"):
        parser.add_argument(flag, type=Path, required=True)
    run_stage("ingest", main, parser)
