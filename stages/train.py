"""train: a LoRA adapter (QLoRA on CUDA) on the split, behind the gate, with its lineage manifest.

    python stages/train.py --params params.yaml --train data/processed/train.parquet \
        --validation data/processed/validation.parquet \
        --validation-verdict reports/validation_verdict.json --audit audits/audit_after.json \
        --pii-metrics metrics/scrub_pii.json --signoffs audits/signoffs --base-dir models/base \
        --adapter-dir models/adapter \
        --checkpoint-dir models/checkpoints --live-dir dvclive --metrics metrics/train.json
"""

from pathlib import Path

from provena import train
from provena.stage import run_stage, stage_parser
from provena.train.gate import GateReports

FLAGS = (
    "train validation validation-verdict audit pii-metrics signoffs base-dir adapter-dir "
    "checkpoint-dir"
)


def main(args, params) -> None:
    reports = GateReports(args.validation_verdict, args.audit, args.pii_metrics, args.signoffs)
    paths = train.TrainPaths(
        args.train, args.validation, reports, args.base_dir, args.adapter_dir,
        args.checkpoint_dir, args.live_dir, args.metrics, args.params,
    )  # fmt: skip
    train.run(params.train, paths, audit_data=params.audit_data, root=args.params.resolve().parent)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in [*FLAGS.split(), "live-dir", "metrics"]:
        parser.add_argument(f"--{flag}", type=Path, required=True)
    run_stage("train", main, parser)
