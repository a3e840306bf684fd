"""augment: counterfactual children for the groups the before-audit named, entity swaps, noise.

    python stages/augment.py --params params.yaml --input data/interim/clean.parquet \
        --audit audits/audit_before.json --surrogates data/interim/scrub_pii_surrogates.parquet \
        --out data/interim/augment.parquet \
        --ledger data/ledger/augment.jsonl --metrics metrics/augment.json
"""

from pathlib import Path

from provena import augment
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    augment.run(
        args.input,
        args.audit,
        params.augment,
        params.audit_data,
        out=args.out,
        ledger=args.ledger,
        metrics=args.metrics,
        surrogates=args.surrogates,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--audit", "--out", "--ledger", "--metrics"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument(
        "--surrogates", type=Path, help="scrub_pii's surrogates file: what entity swaps change"
    )
    run_stage("augment", main, parser)
