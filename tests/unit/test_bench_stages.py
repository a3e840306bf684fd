"""bench/bench_stages.py: the stage commands it runs are dvc.yaml's, on scaled params."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_stages", ROOT / "bench" / "bench_stages.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_commands_are_dvc_yaml_resolved_with_foreach_items():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cmds = bench.stage_commands(yaml.safe_load((ROOT / "dvc.yaml").read_text()), params)
    assert set(bench.STAGES) <= set(cmds)
    assert cmds["audit_data@after"].startswith(
        "python stages/audit_data.py --params params.yaml --when after "
        "--input data/interim/augment.parquet --out audits/audit_after.json"
    )
    assert cmds["audit_data@before"].endswith("--report-html reports/audit_before.html")
    assert "--gold data/raw/default/_gold/pii_spans.jsonl" in cmds["scrub_pii"]
    assert "${" not in " ".join(cmds.values())


def test_scaled_params_split_the_size_and_keep_the_rest():
    text = "synth:\n  seed: 1\n  n_clinical: 6000  # why\n  n_support: 6000\nsplit:\n  seed: 0\n"
    out = bench.scaled_params(text, 10_001)
    assert (
        out
        == "synth:\n  seed: 1\n  n_clinical: 5000  # why\n  n_support: 5001\nsplit:\n  seed: 0\n"
    )


def test_scaled_params_refuse_a_params_file_without_the_counts():
    with pytest.raises(SystemExit, match=r"expected one synth\.n_support line, found 0"):
        bench.scaled_params("synth:\n  n_clinical: 5\n", 10)
