"""split: stratified train / validation / test and a held-out gold set, no near-copy across them.

    python stages/split.py --params params.yaml --input data/interim/augment.parquet \
        --train data/processed/train.parquet --validation data/processed/validation.parquet \
        --test data/processed/test.parquet --gold data/processed/gold.parquet \
        --ledger data/ledger/split.jsonl --quarantine data/quarantine/split.jsonl \
        --metrics metrics/split.json --funnel-html reports/funnel.html \
        --funnel-input ingest=metrics/ingest.json  # one per data stage (provena.funnel)
"""

from pathlib import Path

from provena import funnel, split
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
    if args.funnel_html:  # the last data stage: the funnel over every stage's metrics
        inputs = dict(item.split("=", 1) for item in args.funnel_input)
        funnel.write({k: Path(v) for k, v in inputs.items()}, args.funnel_html)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--ledger", "--quarantine", *(f"--{s}" for s in split.ALL_SPLITS)):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--funnel-html", type=Path)
    parser.add_argument("--funnel-input", action="append", default=[], metavar="STAGE=PATH")
    run_stage("split", main, parser)
