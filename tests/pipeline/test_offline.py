"""ingest and scrub_pii need no network: their stage scripts run with the network cut on the
tiny profile and still work."""

import json
import sys

import pytest

from provena.synth import generate, write_dataset
from tests.conftest import ROOT, load_tiny, tiny_ingested, write_tiny_params
from tests.helpers.offline import run_offline


@pytest.mark.parametrize("mode", ["namespace-if-possible", "socket-guard"])
def test_ingest_runs_with_the_network_cut(tmp_path, monkeypatch, mode):
    if mode == "socket-guard":
        monkeypatch.setenv("PROVENA_TEST_NO_UNSHARE", "1")
    write_dataset(generate(load_tiny().synth), tmp_path / "raw" / "default")
    proc = run_offline(
        [
            sys.executable,
            str(ROOT / "stages" / "ingest.py"),
            "--params",
            str(write_tiny_params(tmp_path / "params.yaml")),
            "--input",
            "raw",
            "--out",
            "out/records.parquet",
            "--ledger",
            "out/ledger.jsonl",
            "--quarantine",
            "out/q.jsonl",
            "--metrics",
            "out/metrics.json",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "records.parquet").stat().st_size > 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["records_in"] == metrics["records_kept"] + metrics["records_quarantined"]
    assert metrics["records_quarantined"] == 6 and metrics["records_kept"] > 300


def test_hf_folder_ingest_runs_with_the_network_cut(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"instruction": "a", "input": "", "output": "b"}]).save_to_disk(
        str(tmp_path / "hf")
    )
    proc = run_offline(
        [sys.executable, "-m", "provena.cli", "ingest", "hf", "--out", "o.jsonl"], cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1 records in, 1 kept -> o.jsonl, 0 quarantined"


def test_scrub_stage_runs_with_the_network_cut(tmp_path):
    tiny_ingested(tmp_path)
    proc = run_offline(
        [
            sys.executable,
            str(ROOT / "stages" / "scrub_pii.py"),
            "--params",
            str(write_tiny_params(tmp_path / "params.yaml")),
            "--input",
            "ingest.parquet",
            "--out",
            "o.parquet",
            "--ledger",
            "ol.jsonl",
            "--quarantine",
            "oq.jsonl",
            "--metrics",
            "m.json",
            "--report-json",
            "r.json",
            "--report-html",
            "r.html",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text())["records_kept"] > 300
