"""`dvc repro` end to end on the tiny profile, in a temporary copy of the repo, network cut."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY
from tests.offline import run_offline

pytestmark = pytest.mark.pipeline


def _copy_repo(dest: Path) -> Path:
    """Copy what git would ship (tracked and untracked-but-not-ignored files), plus .dvc/."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    shutil.copy2(TINY, dest / "params.yaml")
    (dest / "dvc.lock").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    return dest


def _dvc(repo: Path, *args: str) -> subprocess.CompletedProcess:
    proc = run_offline([sys.executable, "-m", "dvc", *args], cwd=repo)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


#: outputs that carry the run's time by design: Great Expectations' Data Docs pages, and the
#: train stage's throughput figures and manifest (its adapter weights are compared apart)
TIMED_OUTPUTS = (
    "data_docs",
    "models/adapter",
    "models/checkpoints",
    "metrics/train.json",
    "metrics/evaluate.json",  # its seconds; the predictions in data/eval/ are compared
    "dvclive",
)


def _out_hashes(repo: Path) -> dict[str, str]:
    """Hashes of every output in dvc.lock but those of :data:`TIMED_OUTPUTS`."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {
        o["path"]: o["md5"]
        for st in lock["stages"].values()
        for o in st.get("outs", [])
        if not any(t in o["path"] for t in TIMED_OUTPUTS)
    }


def _adapter_weights(repo: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(repo / "models" / "adapter" / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = _copy_repo(tmp_path_factory.mktemp("repo"))
    _dvc(repo, "repro")
    return repo


def test_repro_runs_every_stage_and_keeps_the_books(repo):
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    stages = set()
    for name, st in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"].items():
        stages |= {f"{name}@{k}" for k in st["foreach"]} if "foreach" in st else {name}
    assert set(lock["stages"]) == stages
    ingest = json.loads((repo / "metrics" / "ingest.json").read_text())
    synth = json.loads((repo / "metrics" / "synth.json").read_text())
    assert ingest["records_in"] == ingest["records_kept"] + ingest["records_quarantined"]
    assert ingest["records_kept"] == synth["records"]
    assert ingest["records_quarantined"] == synth["malformed_lines"] == 6
    for path in (
        "data/interim/ingest.parquet",
        "data/ledger/ingest.jsonl",
        "data/quarantine/ingest.jsonl",
        "data/raw/default/_gold/pii_spans.jsonl",
        "data/raw/default/_gold/labels.jsonl",
    ):
        assert (repo / path).is_file(), path
    quarantine = [
        json.loads(x) for x in (repo / "data/quarantine/ingest.jsonl").read_text().splitlines()
    ]
    assert all(
        q["source"] == "data/raw/default/support_legacy.jsonl" and q["line"] > 0 and q["reason"]
        for q in quarantine
    )


def test_dvc_metrics_show_lists_each_stage(repo):
    shown = json.loads(_dvc(repo, "metrics", "show", "--json").stdout)
    files = next(iter(shown.values()))["data"]
    assert {"metrics/synth.json", "metrics/ingest.json"} <= set(files)
    assert files["metrics/ingest.json"]["data"]["records_in"] > 300


def test_second_repro_has_nothing_to_do(repo):
    out = _dvc(repo, "repro").stdout
    assert "Running stage" not in out


def test_forced_rerun_gives_identical_output_hashes(repo):
    import torch

    before, weights = _out_hashes(repo), _adapter_weights(repo)
    _dvc(repo, "repro", "--force")
    assert _out_hashes(repo) == before
    after = _adapter_weights(repo)
    assert after.keys() == weights.keys()
    assert all(torch.equal(after[k], weights[k]) for k in weights)  # retrained, same weights


def test_each_stage_reads_what_the_previous_kept(repo):
    def metrics(stage):
        return json.loads((repo / "metrics" / f"{stage}.json").read_text())

    for prev, stage in itertools.pairwise(["ingest", "scrub_pii", "clean"]):
        assert metrics(stage)["records_in"] == metrics(prev)["records_kept"], stage
    m = metrics("clean")
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    assert m["gold_recall"] >= 0.95 and m["gold_precision"] >= 0.95
    assert (repo / "reports/clean_report.html").is_file()


def test_validate_passes_on_the_tiny_data_and_writes_its_verdict(repo):
    verdict = json.loads((repo / "reports/validation_verdict.json").read_text())
    clean = json.loads((repo / "metrics/clean.json").read_text())
    assert verdict["verdict"] == "pass", verdict
    assert verdict["dataset"]["records"] == clean["records_kept"]
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    clean_out = next(
        o for o in lock["stages"]["clean"]["outs"] if o["path"] == "data/interim/clean.parquet"
    )
    assert verdict["dataset"]["md5"] == clean_out["md5"]  # the fingerprint is DVC's hash
    html = (repo / "reports/data_quality.html").read_text()
    assert clean_out["md5"] in html and (repo / "reports/data_docs/index.html").is_file()


def test_audits_run_before_and_after_augment(repo):
    before = json.loads((repo / "audits/audit_before.json").read_text())
    after = json.loads((repo / "audits/audit_after.json").read_text())
    augment = json.loads((repo / "metrics/augment.json").read_text())
    assert before["verdict"] == "fail"  # the planted imbalance
    assert after["dataset"]["records"] == augment["records_out"] > augment["records_in"]
    html = (repo / "reports/audit_after.html").read_text()
    assert 'id="verdict-before"' in html and 'id="verdict-after"' in html


def test_train_runs_behind_the_gate_and_dvc_plots_draw_its_curves(repo):
    manifest = json.loads((repo / "models/adapter/manifest.json").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    split_md5 = {o["path"]: o["md5"] for o in lock["stages"]["split"]["outs"]}
    assert manifest["split"]["train"]["md5"] == split_md5["data/processed/train.parquet"]
    checks = {c["check"]: c for c in manifest["gate"]["checks"]}
    assert set(checks) == {"validation", "audit", "pii_residual"}
    assert all(c["verdict"] == "pass" or c["waived"] for c in checks.values())
    # the tiny data is too small for the audit: the profile's waiver is recorded
    assert checks["audit"]["waived"] == (checks["audit"]["verdict"] != "pass")
    assert [w["check"] for w in manifest["waivers"]] == (
        ["audit"] if checks["audit"]["waived"] else []
    )
    assert manifest["training"]["note"].startswith("LoRA without quantization")
    plots = json.loads(_dvc(repo, "plots", "show", "--json").stdout)
    assert "dvclive/plots/metrics/train/loss.tsv" in plots["data"]


def test_evaluate_numbers_are_the_same_on_a_forced_rerun(repo):
    def numbers(obj):
        if isinstance(obj, dict):
            return {k: numbers(v) for k, v in obj.items() if "seconds" not in k}
        return obj

    before = numbers(json.loads((repo / "metrics/evaluate.json").read_text()))
    _dvc(repo, "repro", "--force", "--single-item", "evaluate")
    assert numbers(json.loads((repo / "metrics/evaluate.json").read_text())) == before
