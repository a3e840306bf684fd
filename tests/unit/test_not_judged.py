"""Audits of data without recorded attributes: "not judged" with the counts of records that
carry each attribute, never pass or fail on zero records; inferred attributes shown apart and
judged only with ``judge_inferred``; model fairness and the train gate the same."""

from __future__ import annotations

import json

import pytest

from provena import audit_data
from provena import group_audit as audit
from provena.config import AuditDataConfig, ModelFairnessConfig, TrainConfig
from provena.evaluate import fairness as mfair
from provena.train import gate
from tests.factory import record
from tests.helpers.train import gate_reports

CFG = AuditDataConfig(bootstrap=0, min_group_size=20)


def _plain(n: int = 120, meta=None):
    """Support replies with no attribute recorded (as in a user's own data)."""
    return [
        record(input=f"Order {i} is late.", output=f"Sorry, order {i} ships today.", meta=meta)
        for i in range(n)
    ]


def _run(recs, cfg=CFG):
    return audit.audit(audit.build_frame(recs, cfg), cfg)


def test_records_without_attributes_are_not_judged_with_counts():
    res = _run(_plain())
    assert res["verdict"] == "not_judged"
    assert res["judged_attributes"] == []
    assert res["attribute_counts"]["gender"] == {
        "records": 120,
        "recorded": 0,
        "inferred": 0,
        "missing": 120,
    }
    for name in ("gender", "age_band"):
        block = res["representation"][name]
        assert block["verdict"] == "not_judged" and block["groups"] == {}
        assert f"no record carries a recorded {name}" in block["reason"]
    assert res["intersections"]["gender x age_band"]["verdict"] == "not_judged"
    for o in res["outcomes"].values():
        assert {r["verdict"] for r in o["by_attribute"].values()} == {"not_judged"}
    verdicts = {f["verdict"] for f in res["findings"]}
    assert verdicts == {"not_judged"}  # no "every check passed", no fail
    texts = " ".join(f["text"] for f in res["findings"])
    assert "0.0% of records" not in texts
    assert "gender: not judged: no record carries a recorded gender (0 of 120 records" in texts


def test_groups_all_too_small_are_not_judged():
    recs = _plain(30, meta={"gender": "female", "age_band": "30-44"})[:10] + _plain(30)[10:]
    res = _run(recs)
    assert res["verdict"] == "not_judged"
    assert res["attribute_counts"]["gender"]["recorded"] == 10
    assert "fewer than 20 records" in res["representation"]["gender"]["reason"]


def test_one_attribute_judged_the_other_not():
    recs = [
        record(input=f"m {i}", output="x" * 50, meta={"gender": "female" if i % 2 else "male"})
        for i in range(100)
    ]
    cfg = CFG.model_copy(update={"reference": {"gender": "parity"}})
    res = _run(recs, cfg)
    assert res["verdict"] == "pass"
    assert res["judged_attributes"] == ["gender"]
    assert res["representation"]["gender"]["verdict"] == "pass"
    assert res["representation"]["age_band"]["verdict"] == "not_judged"
    checks = [f["check"] for f in res["findings"]]
    assert "attribute:age_band" in checks and "attribute:gender" not in checks
    assert any(f["text"] == "every judged check passed" for f in res["findings"])


def test_empty_attribute_list_is_valid_and_not_judged():
    cfg = AuditDataConfig(attributes=[], bootstrap=0)
    assert cfg.intersections == [] and cfg.reference == {}
    res = _run(_plain(5), cfg)
    assert res["verdict"] == "not_judged"
    assert [f["check"] for f in res["findings"]] == ["attributes"]
    # explicit intersections naming an attribute not listed stay an error
    with pytest.raises(ValueError, match="must name two or more"):
        AuditDataConfig(attributes=[], intersections=[["gender", "age_band"]])


def _inferred(n=80):
    text = "She wrote that her parcel is late and she wants her money back."
    return [record(input=f"{text} ({i})", output=f"Sorry {i}.") for i in range(n)]


def test_inferred_attributes_are_shown_not_judged_by_default():
    res = _run(_inferred())
    assert res["inferred"]["gender"] == {"female": 80}
    assert res["attribute_counts"]["gender"]["inferred"] == 80
    assert res["attribute_counts"]["gender"]["recorded"] == 0
    assert res["verdict"] == "not_judged"
    assert res["judge_inferred"] is False
    assert res["inferred_rules"]["gender"].startswith("infer_gender:")
    html = audit_data.render_html({**res, "when": "before", "dataset": _ds()})
    assert "about the people in the text" in html and "inferred by rule infer_gender" in html
    assert "not judged: no record carries a recorded gender" in html


def test_inferred_attributes_are_judged_with_the_switch():
    cfg = CFG.model_copy(update={"judge_inferred": True})
    res = _run(_inferred(), cfg)
    assert res["judged_attributes"] == ["gender"]
    gender = res["representation"]["gender"]
    assert gender["groups"]["female"]["n"] == 80
    # 80 female against a 49.5% male reference: male has no record at all
    assert gender["groups"]["male"]["verdict"] == "fail"
    assert res["verdict"] == "fail"
    assert "inferred from the text" not in "".join(
        f["text"] for f in res["findings"] if f["check"].startswith("attribute:gender")
    )


def _ds():
    return {"path": "x.parquet", "md5": "0" * 32, "records": 0}


def test_run_writes_a_not_judged_audit_and_its_page(tmp_path):
    from tests.factory import write_records

    inp = tmp_path / "in.parquet"
    write_records(inp, _plain(40))
    out = tmp_path / "audit.json"
    report = audit_data.run(
        inp, CFG, when="before", out_json=out, report_html=tmp_path / "a.html", root=tmp_path
    )
    assert json.loads(out.read_text())["verdict"] == report["verdict"] == "not_judged"
    assert "not judged" in (tmp_path / "a.html").read_text()


# --- model fairness --------------------------------------------------------------------------


def _row(i, **attrs):
    return {
        "split": "test",
        "model": "adapter",
        "id": f"r{i}",
        "family": "support_reply",
        **attrs,
        "prediction": "",
        "reference": "",
        "metrics": {"rouge_l": 0.5, "nll": 1.0, "tokens": 2},
    }


def test_model_fairness_with_no_judged_group_is_not_judged():
    cfg = ModelFairnessConfig(min_group_size=3)
    rows = [_row(i) for i in range(10)]  # no attribute on any row
    groups = mfair.group_quality(rows, ["gender"], cfg)
    assert groups["test"]["adapter"]["gender"]["recorded"] == 0
    res = mfair.assess(groups, None, cfg)
    assert res["verdict"] == "not_judged"
    assert res["findings"][0]["check"] == "all"
    assert "nothing was judged" in res["findings"][0]["message"]
    assert not any(f["verdict"] == "pass" for f in res["findings"])
    # no attribute at all (audit_data.attributes: [])
    assert mfair.assess(mfair.group_quality(rows, [], cfg), None, cfg)["verdict"] == "not_judged"


def test_model_fairness_with_judged_groups_still_passes():
    cfg = ModelFairnessConfig(min_group_size=3)
    rows = [_row(i, gender="female" if i % 2 else "male") for i in range(10)]
    groups = mfair.group_quality(rows, ["gender"], cfg)
    assert groups["test"]["adapter"]["gender"]["recorded"] == 10
    assert mfair.assess(groups, None, cfg)["verdict"] == "pass"


# --- the train gate ----------------------------------------------------------------------------


def _not_judged_reports(tmp_path):
    reports = gate_reports(tmp_path)
    res = _run(_plain(5))
    reports.audit.write_text(json.dumps(res))
    return reports


def test_gate_allows_a_not_judged_audit_by_default_and_records_it(tmp_path):
    assert TrainConfig().allow_not_judged_audit is True
    result = gate.check(_not_judged_reports(tmp_path), [], require_signoff=False, root=tmp_path)
    assert result.passed
    (c,) = [c for c in result.checks if c.check == "audit"]
    assert c.passed and c.verdict == "not_judged"
    assert "allowed by train.allow_not_judged_audit" in c.detail
    assert "no record carries a recorded gender" in c.detail
    assert result.as_dict()["not_judged"] == ["audit"]


def test_gate_refuses_a_not_judged_audit_when_the_switch_says_so(tmp_path):
    reports = _not_judged_reports(tmp_path)
    with pytest.raises(gate.GateError, match=r"audit check failed: verdict 'not_judged' and"):
        gate.check(reports, [], require_signoff=False, root=tmp_path, allow_not_judged=False)


def test_gate_on_a_passing_audit_records_nothing_not_judged(tmp_path):
    result = gate.check(gate_reports(tmp_path), [], require_signoff=False, root=tmp_path)
    assert result.passed and result.as_dict()["not_judged"] == []
