"""synth: write the bundled default dataset and its ground truth (gold PII spans, defect labels).

python stages/synth.py --params params.yaml --out data/raw/default --metrics metrics/synth.json
"""

from pathlib import Path

from provena.stage import run_stage, stage_parser
from provena.synth import generate, write_dataset


def main(args, params) -> None:
    write_dataset(generate(params.synth), args.out, args.metrics)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    run_stage("synth", main, parser)
