"""synth: write the bundled default dataset and its ground truth (gold PII spans, defect labels).

With ``synth.enabled: false`` (a run on your own data only) it writes an empty out dir and
metrics that say it is disabled.

python stages/synth.py --params params.yaml --out data/raw/default --metrics metrics/synth.json
"""

from pathlib import Path

from provena.stage import run_stage, stage_parser
from provena.synth import generate, write_dataset, write_disabled


def main(args, params) -> None:
    if params.synth.enabled:
        write_dataset(generate(params.synth), args.out, args.metrics)
    else:
        write_disabled(args.out, args.metrics)


if __name__ == "__main__":
    parser = stage_parser(__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    run_stage("synth", main, parser)
