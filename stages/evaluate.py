"""evaluate: perplexity and task metrics of the adapter and of its base, with deltas.

    python stages/evaluate.py --params params.yaml --test data/processed/test.parquet \
        --gold data/processed/gold.parquet --base-dir models/base --adapter-dir models/adapter \
        --predictions data/eval/predictions.jsonl --metrics metrics/evaluate.json
"""

from pathlib import Path

from provena import evaluate
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    paths = evaluate.EvaluatePaths(
        {"test": args.test, "gold": args.gold}, args.base_dir, args.adapter_dir,
        args.predictions, args.metrics,
    )  # fmt: skip
    evaluate.run(params, paths)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ["test", "gold", "base-dir", "adapter-dir", "predictions", "metrics"]:
        parser.add_argument(f"--{flag}", type=Path, required=True)
    run_stage("evaluate", main, parser)
