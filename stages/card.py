"""card: the model card (Hugging Face README format) and the auditor's bundle for the adapter.

    python stages/card.py --params params.yaml --adapter-dir models/adapter \
        --metrics-dir metrics --pii-report audits/pii_report.json \
        --validation-verdict reports/validation_verdict.json \
        --audit-before audits/audit_before.json --audit-after audits/audit_after.json \
        --evaluate-metrics metrics/evaluate.json --model-fairness audits/model_fairness.json \
        --privacy-probes audits/privacy_probes.json --signoffs audits/signoffs \
        --train data/processed/train.parquet --out-dir models/card
"""

from pathlib import Path

from provena import card
from provena.stage import run_stage, stage_parser

FLAGS = (
    "adapter-dir metrics-dir pii-report validation-verdict audit-before audit-after "
    "evaluate-metrics model-fairness privacy-probes signoffs train out-dir"
)


def main(args, params) -> None:
    root = args.params.resolve().parent
    paths = card.CardPaths(
        args.adapter_dir, args.metrics_dir, args.pii_report, args.validation_verdict,
        args.audit_before, args.audit_after, args.evaluate_metrics, args.model_fairness,
        args.privacy_probes, root / params.card.review_ratings, args.out_dir, args.signoffs,
        args.train,
    )  # fmt: skip
    card.run(params.card, paths, root=root)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in FLAGS.split():
        parser.add_argument(f"--{flag}", type=Path, required=True)
    run_stage("card", main, parser)
