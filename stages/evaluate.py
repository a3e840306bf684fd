"""evaluate: the adapter against its base, with deltas; its fairness by group; privacy probes.

    python stages/evaluate.py --params params.yaml --test data/processed/test.parquet \
        --gold data/processed/gold.parquet --train data/processed/train.parquet \
        --pii-ledger data/ledger/scrub_pii.jsonl --base-dir models/base \
        --adapter-dir models/adapter --predictions data/eval/predictions.jsonl \
        --metrics metrics/evaluate.json --model-fairness audits/model_fairness.json \
        --privacy-probes audits/privacy_probes.json --model-page reports/model.html
"""

from pathlib import Path

from provena import evaluate
from provena.stage import run_stage, stage_parser

FLAGS = (
    "test gold train pii-ledger base-dir adapter-dir predictions metrics model-fairness "
    "privacy-probes model-page"
)


def main(args, params) -> None:
    paths = evaluate.EvaluatePaths(
        {"test": args.test, "gold": args.gold}, args.base_dir, args.adapter_dir,
        args.predictions, args.metrics, args.train, args.pii_ledger, args.model_fairness,
        args.privacy_probes, args.model_page,
    )  # fmt: skip
    evaluate.run(
        params.evaluate,
        paths,
        quantization=params.train.quantization,
        max_seq_len=params.train.max_seq_len,
        use_chat_template=params.train.use_chat_template,
        scrub_pii=params.scrub_pii,
        attributes=params.audit_data.attributes,
        intersections=params.audit_data.intersections,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in FLAGS.split():
        parser.add_argument(f"--{flag}", type=Path, required=True)
    run_stage("evaluate", main, parser)
