"""validate: the curated table against the Great Expectations suite; verdict, Data Docs, report.

    python stages/validate.py --params params.yaml --input data/interim/clean.parquet \
        --results reports/validation.json --verdict reports/validation_verdict.json \
        --metrics metrics/validate.json --docs reports/data_docs \
        --report-html reports/data_quality.html --report-input metrics_clean=metrics/clean.json
"""

from pathlib import Path

from provena import validate
from provena.stage import run_stage, stage_parser


def main(args, params) -> None:
    inputs = dict(item.split("=", 1) for item in args.report_input)
    validate.run(
        args.input,
        params.validate_,
        root=args.params.resolve().parent,
        results_json=args.results,
        verdict_json=args.verdict,
        metrics=args.metrics,
        docs_dir=args.docs,
        report_html=args.report_html,
        report_inputs={k: Path(v) for k, v in inputs.items()},
    )


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    for flag in ("--input", "--results", "--verdict", "--metrics", "--docs", "--report-html"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--report-input", action="append", default=[], metavar="KEY=PATH")
    run_stage("validate", main, parser)
