"""The headline metrics (provena.headline): what dvc.yaml declares as DVC metrics, a few numbers
per stage taken from the stage's detail, and the stage scripts' --headline flag."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from provena.errors import UserError
from provena.headline import HEADLINES, headline, score_rows, write_headline
from tests.conftest import ASSETS, ROOT, write_tiny_params

METRICS = ASSETS / "outputs" / "metrics"
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())


def _detail(name: str) -> dict:
    return json.loads((METRICS / f"{name}.json").read_text())


def _leaves(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_curation_headlines_are_the_funnel_and_the_verdicts_of_the_detail():
    ingest = _detail("ingest")
    assert headline("ingest", ingest) == {
        k: ingest[k] for k in ("records_in", "records_kept", "records_quarantined")
    }
    scrub = headline("scrub_pii", _detail("scrub_pii"))
    assert scrub["residual_verdict"] in ("pass", "fail") and "changed_by_rule" not in scrub
    validate = headline("validate", _detail("validate"))
    assert validate["verdict"] == _detail("validate")["verdict"]
    split = headline("split", _detail("split"))
    assert set(split["records"]) == {"train", "validation", "test", "gold"}
    assert split["records"]["train"] == _detail("split")["records"]["train"]


def test_a_headline_is_a_few_scalars_where_the_detail_holds_hundreds():
    for name in ("synth", "ingest", "scrub_pii", "clean", "validate", "augment", "split"):
        detail, head = _leaves(_detail(name)), _leaves(headline(name, _detail(name)))
        assert head and len(head) <= 8 and len(head) < len(detail), name
        # every headline value is the detail's value under the same key, a number or a string
        assert all(detail[k] == v and isinstance(v, int | float | str) for k, v in head.items())


def test_evaluate_headline_holds_the_adapters_scores_per_family_and_the_verdicts():
    detail = _detail("evaluate")
    head = headline("evaluate", detail)
    assert head["model_fairness"] == detail["model_fairness"]
    assert head["privacy_probes"] == detail["privacy_probes"]
    for split, models in detail["splits"].items():
        adapter = models["adapter"]
        assert head[split]["perplexity"] == adapter["perplexity"]
        for family, scores in adapter["families"].items():
            # scores only: no counts (generated, perplexity_examples), no answer diagnostics
            want = {
                k: v
                for k, v in scores.items()
                if k not in ("generated", "perplexity_examples") and not isinstance(v, dict)
            }
            assert head[split][family] == want and want
    assert "base" not in json.dumps(head)  # the base's numbers stay in the detail
    rows = score_rows(head)
    assert rows and all("/perplexity" not in r["score"] for r in rows)
    rouge = head["test"]["support_reply"]["rouge_l"]
    assert {"score": "test/support_reply/rouge_l", "value": rouge} in rows


def test_a_key_the_detail_lacks_is_left_out_not_zeroed():
    assert headline("scrub_pii", {"records_in": 3, "gold_recall": None}) == {"records_in": 3}
    assert headline("evaluate", {"splits": {}}) == {}


def test_train_headline_leaves_timings_out():
    detail = {"final_loss": 1.1, "eval_loss": 1.0, "steps": 6, "seconds": 22.3, "tokens_per_s": 9}
    assert headline("train", detail) == {"final_loss": 1.1, "eval_loss": 1.0, "steps": 6}


def test_an_unknown_stage_or_unreadable_detail_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="no headline metrics are defined for stage 'nope'"):
        headline("nope", {})
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"m\.json: cannot read the stage's metrics"):
        write_headline("ingest", bad, tmp_path / "h.json")


def test_dvc_yaml_declares_headlines_as_metrics_and_the_detail_as_a_plain_output():
    for name, stage in DVC["stages"].items():
        stage = stage.get("do", stage)
        metrics = [next(iter(m)) if isinstance(m, dict) else m for m in stage.get("metrics", [])]
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in stage.get("outs", [])]
        assert all(m.startswith("metrics/headline/") for m in metrics), name
        if "--metrics " in stage["cmd"]:
            assert name in HEADLINES
            detail = stage["cmd"].split("--metrics ", 1)[1].split()[0]
            head = stage["cmd"].split("--headline ", 1)[1].split()[0]
            assert detail in outs and metrics == [head], name
            assert head == detail.replace("metrics/", "metrics/headline/"), name
    plots = [next(iter(p)) for p in DVC["stages"]["evaluate"]["plots"]]
    assert plots == ["plots/task_scores.json"]


def test_a_stage_script_writes_its_headline_after_its_detail(tmp_path):
    """synth on the tiny profile, through its script: the --headline file is written from
    its --metrics file."""
    params = write_tiny_params(tmp_path / "params.yaml")
    run = [sys.executable, str(ROOT / "stages/synth.py"), "--params", str(params)]
    out = ["--out", str(tmp_path / "raw"), "--metrics", str(tmp_path / "synth.json")]
    head = tmp_path / "headline" / "synth.json"
    proc = subprocess.run([*run, *out, "--headline", str(head)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    detail = json.loads((tmp_path / "synth.json").read_text())
    assert json.loads(head.read_text()) == {"records": detail["records"]}
    # --headline without --metrics: a one-line error, exit 2, before any work
    card = [sys.executable, str(ROOT / "stages/card.py"), "--params", str(params)]
    flags = (
        "adapter-dir", "metrics-dir", "pii-report", "validation-verdict", "audit-before",
        "audit-after", "evaluate-metrics", "model-fairness", "privacy-probes", "signoffs",
        "train", "out-dir",
    )  # fmt: skip
    args = [x for f in flags for x in (f"--{f}", str(tmp_path / "x"))]
    proc = subprocess.run([*card, *args, "--headline", str(head)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "stage card: --headline needs --metrics" in proc.stderr
    assert "Traceback" not in proc.stderr
