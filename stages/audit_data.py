"""audit_data: representation and outcome disparities across sensitive groups (fairlearn).

Runs twice (dvc.yaml `foreach`): before augment, on the validated records, and after it.

    python stages/audit_data.py --params params.yaml --when before \
        --input data/interim/clean.parquet --out audits/audit_before.json \
        --metrics metrics/audit_data_before.json --report-html reports/audit_before.html
"""

from pathlib import Path

from provena import audit_data
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    audit_data.run(
        args.input,
        params.audit_data,
        when=args.when,
        out_json=args.out,
        metrics=args.metrics,
        report_html=args.report_html,
        before_json=args.before,
        root=args.params.resolve().parent,
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--when", required=True, help="before or after (augment)")
    for flag in ("--input", "--out", "--metrics", "--report-html"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--before", type=Path, help="the before-audit, shown side by side")
    run_stage("audit_data", main, parser)
