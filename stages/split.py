"""split: stratified train / validation / test and a held-out gold set, no near-copy across them.

    python stages/split.py --params params.yaml --input data/interim/augment.parquet \
        --train data/processed/train.parquet --validation data/processed/validation.parquet \
        --test data/processed/test.parquet --gold data/processed/gold.parquet \
        --ledger data/ledger/split.jsonl --quarantine data/quarantine/split.jsonl \
        --metrics metrics/split.json
"""

from pathlib import Path

from provena import split
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    split.run(
        args.input,
        params.split,
        out={s: getattr(args, s) for s in split.ALL_SPLITS},
        ledger=args.ledger,
        quarantine=args.quarantine,
        metrics=args.metrics,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--ledger", "--quarantine", *(f"--{s}" for s in split.ALL_SPLITS)):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    run_stage("split", main, parser)
