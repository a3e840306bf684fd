"""bench/bench_stages.py: the stage commands it runs are dvc.yaml's, on scaled params."""

import importlib.util
import os
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


def test_executor_params_set_a_local_ray_with_this_machines_cores():
    text = "split:\n  seed: 0\nexecutor: {}\n\nreport_diff: {}\n"
    assert bench.executor_params(text, "local") == text
    out = bench.executor_params(text, "ray")
    assert yaml.safe_load(out)["executor"] == {"kind": "ray", "num_cpus": os.cpu_count()}
    assert yaml.safe_load(out)["report_diff"] == {}
    with pytest.raises(SystemExit, match="expected one top-level executor line, found 0"):
        bench.executor_params("split: {}\n", "ray")


def _row(stage, size=200_000, executor=None, **kw):
    row = {"size": size, "stage": stage, "seconds": 10.0, "records_in": 1}
    row.update(peak_rss_mb=100.0, tree_peak_rss_mb=150.0)
    row.update(kw)
    if executor:
        row["executor"] = executor
    return row


def test_targets_hold_every_curation_stage_to_2000_records_per_core_and_the_time_goals():
    rates = {s: 2_500 for s in bench.STAGES}
    rates["augment"] = 1_999
    runs = [_row(s, records_per_cpu_s=rates[s], seconds=100.0) for s in bench.STAGES]
    runs.append(_row("augment", executor="ray", records_per_cpu_s=9_999))  # not a local row
    runs.append(_row("augment", size=10_000, records_per_cpu_s=9_999))  # not the largest size
    got = {t["name"]: t for t in bench.targets({"runs": runs, "budget_mb": 2048})}
    per_core = {n: t for n, t in got.items() if "per core" in n}
    assert sorted(n.split(":")[0] for n in per_core) == sorted(bench.PER_CORE_STAGES)
    assert "scrub_pii" not in bench.PER_CORE_STAGES and "synth" not in bench.PER_CORE_STAGES
    aug = got["augment: records/s per core at 200,000 records"]
    assert (aug["measured"], aug["met"]) == (1_999, False)
    assert got["clean: records/s per core at 200,000 records"]["met"] is True
    scrub = got["scrub_pii: seconds at 200,000 records"]
    assert (scrub["measured"], scrub["met"]) == (100.0, True)
    others = got["the other curation stages together: seconds at 200,000 records"]
    assert others["measured"] == 100.0 * len(bench.PER_CORE_STAGES)
    assert others["met"] is True


def test_targets_say_not_measured_where_a_row_lacks_cpu_seconds_or_is_missing():
    runs = [_row(s) for s in bench.STAGES if s != "split"]
    got = {t["name"]: t for t in bench.targets({"runs": runs, "budget_mb": 2048})}
    assert got["clean: records/s per core at 200,000 records"]["met"] is None
    assert got["split: peak memory at 200,000 records"]["met"] is None
    assert got["the other curation stages together: seconds at 200,000 records"]["met"] is None


def test_speed_targets_read_the_current_code_only_at_the_largest_size_it_was_measured_at():
    old = [_row(s, records_per_cpu_s=50, seconds=9_999.0, code="older code") for s in bench.STAGES]
    new = [_row(s, size=50_000, records_per_cpu_s=3_000) for s in bench.STAGES]
    got = {t["name"]: t for t in bench.targets({"runs": old + new, "budget_mb": 2048})}
    assert got["clean: records/s per core at 50,000 records"]["met"] is True
    assert not any("per core at 200,000" in n for n in got)
    assert got["scrub_pii: seconds at 200,000 records"]["measured"] is None  # older code only
    assert got["clean: peak memory at 200,000 records"]["met"] is True  # memory: any row


def test_rows_are_keyed_by_executor_and_labelled_with_it():
    local, ray = _row("clean"), _row("clean", executor="ray")
    assert bench.run_key(local) != bench.run_key(ray)
    assert bench.stage_label(local) == "clean"
    assert bench.stage_label(ray) == "clean (ray)"


def test_a_new_row_replaces_only_the_row_of_its_own_size_and_key():
    rows = [_row("clean", size=10_000), _row("clean", size=50_000), _row("augment", size=50_000)]
    new = _row("clean", size=50_000, seconds=1.0)
    got = bench.merge_row(rows, new)
    assert len(got) == 3 and new in got
    assert [r["size"] for r in got if r["stage"] == "clean"] == [10_000, 50_000]
    ray = _row("clean", size=50_000, executor="ray")
    assert len(bench.merge_row(got, ray)) == 4  # another executor: a row of its own
