"""Your own data only (issue 17, point 1): `synth.enabled: false` writes no record and no gold
label, and scrub_pii and clean, without gold labels, say "no gold labels" instead of scores.
The run end to end is tests/pipeline/test_own_data.py."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

from provena import clean, scrub_pii
from provena.config import load_params
from provena.records import NO_GOLD
from tests.conftest import ROOT, load_tiny, tiny_data
from tests.factory import SUPPORT_REPLY, records, write_records


def _own_params(tmp_path):
    data = tiny_data()
    data["synth"]["enabled"] = False
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_synth_enabled_is_true_by_default_and_false_validates(tmp_path):
    assert load_tiny().synth.enabled is True
    assert load_params(_own_params(tmp_path)).synth.enabled is False


def test_synth_disabled_writes_an_empty_folder_and_metrics_that_say_so(tmp_path):
    out, metrics = tmp_path / "data" / "raw" / "default", tmp_path / "metrics" / "synth.json"
    # what an earlier run with synth enabled left: it must not reach ingest
    (out / "_gold").mkdir(parents=True)
    (out / "clinical_extraction.jsonl").write_text('{"instruction": "stale", "output": "x"}\n')
    (out / "_gold" / "labels.jsonl").write_text("{}\n")
    script, params = ROOT / "stages" / "synth.py", _own_params(tmp_path)
    proc = subprocess.run(
        [sys.executable, script, "--params", params, "--out", out, "--metrics", metrics],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.is_dir() and list(out.iterdir()) == []
    assert json.loads(metrics.read_text()) == {
        "stage": "synth",
        "enabled": False,
        "records": 0,
        "files": 0,
        "gold_status": NO_GOLD,
    }


def _pii_records(n: int):
    return records(
        n,
        kinds=[SUPPORT_REPLY],
        input=lambda i: f"Hi, I am Maria Lopez, write to maria{i}@example.com about order {i}.",
    )


def test_scrub_pii_without_gold_spans_reports_no_gold_labels(tmp_path):
    inp = write_records(tmp_path / "in.parquet", _pii_records(12))
    out = tmp_path / "out"
    cfg = load_tiny().scrub_pii
    report = scrub_pii.run(
        inp,
        cfg,
        out=out / "records.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        metrics=out / "metrics.json",
        report_json=out / "report.json",
        report_html=out / "report.html",
        gold_paths=[tmp_path / "data/raw/default/_gold/pii_spans.jsonl"],  # not there
    )
    assert report["summary"]["pii_entities"] > 0  # it scrubbed: only the scoring is absent
    assert report["gold_evaluation"] is None and report["gold_records"] == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["records_in"] == metrics["records_kept"] + metrics["records_quarantined"] == 12
    assert metrics["gold_status"] == NO_GOLD and "gold_precision" not in metrics
    assert json.loads((out / "report.json").read_text())["summary"]["gold_status"] == NO_GOLD
    html = (out / "report.html").read_text()
    assert 'id="gold-status"' in html and NO_GOLD in html


def test_clean_without_labels_reports_no_gold_labels(tmp_path):
    recs = records(20, kinds=[SUPPORT_REPLY])
    recs.append(dict(recs[0], id="copy-of-0"))  # an exact copy: one drop, not scored
    inp = write_records(tmp_path / "in.parquet", recs)
    out = tmp_path / "out"
    report = clean.run(
        inp,
        load_tiny().clean,
        out=out / "records.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        metrics=out / "metrics.json",
        report_json=out / "report.json",
        report_html=out / "report.html",
        labels=[tmp_path / "data/raw/default/_gold/labels.jsonl"],  # not there
        root=ROOT,
    )
    assert report["gold_evaluation"] is None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["records_in"] == 21 and metrics["records_quarantined"] >= 1
    assert metrics["records_in"] == metrics["records_kept"] + metrics["records_quarantined"]
    assert metrics["gold_status"] == NO_GOLD and "gold_recall" not in metrics
    html = (out / "report.html").read_text()
    assert 'id="gold-status"' in html and NO_GOLD in html


def test_with_gold_labels_there_is_no_gold_status(tmp_path):
    """The default data's metrics keep their keys (and bytes): the status is written only
    where there is nothing to score."""
    labels = tmp_path / "labels.jsonl"
    recs = records(6, kinds=[SUPPORT_REPLY], meta=lambda i: {"synth_id": f"s{i}"})
    recs.append(dict(recs[0], id="copy", meta={"synth_id": "s-copy"}))
    labels.write_text(
        json.dumps({"synth_id": "s-copy", "expect": "drop:clean", "defect": "exact_dup"}) + "\n"
    )
    out = tmp_path / "out"
    report = clean.run(
        write_records(tmp_path / "in.parquet", recs),
        load_tiny().clean,
        out=out / "records.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        labels=[labels],
        root=ROOT,
    )
    assert report["gold_evaluation"]["labelled_records"] == 1
    assert "gold_status" not in report["summary"] and "gold_recall" in report["summary"]
