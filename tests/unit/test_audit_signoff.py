"""Issue 18 point 6 (and 3, the gate): a sign-off of a failing or inconclusive audit names
each finding it accepts; the train gate reads the verdict on the training distribution and
lets an inconclusive audit through as params say, recording it for the card."""

from __future__ import annotations

import json

import pytest

from provena import signoff
from provena.card import audit_summary, derived_limitations
from provena.cli import main as cli_main
from provena.config import TrainConfig
from provena.errors import UserError
from provena.train import gate
from tests.helpers.train import gate_reports

FINDINGS = [
    {"verdict": "inconclusive", "check": "all", "text": "no check failed; 2 inconclusive"},
    {"verdict": "inconclusive", "check": "outcome:r:gender:refund", "text": "refund gap"},
    {"verdict": "inconclusive", "check": "representation:gender:female", "text": "women few"},
    {"verdict": "pass", "check": "representation:age_band:65+", "text": "resolved"},
]


def _audit(tmp_path, verdict="inconclusive", findings=FINDINGS):
    path = tmp_path / "audits" / "audit_after.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "verdict": verdict,
        "verdict_scope": "training distribution",
        "original_records": {"verdict": "fail", "records": 10},
        "findings": findings,
    }
    path.write_text(json.dumps(report))
    return path


def test_a_signoff_of_an_inconclusive_audit_must_name_each_finding(tmp_path):
    report = _audit(tmp_path)
    with pytest.raises(UserError) as err:
        signoff.sign(report, "Dana", "read it", tmp_path, accept=["outcome:r:gender:refund"])
    msg = str(err.value)
    assert "2 failing or inconclusive findings" in msg and "Missing (1)" in msg
    assert "--accept 'representation:gender:female'" in msg and "women few" in msg
    assert "outcome:r:gender:refund'" not in msg.split("Missing")[1]
    with pytest.raises(UserError, match=r"names no failing or inconclusive finding.*all"):
        signoff.sign(report, "Dana", "read it", tmp_path, accept=["all"])
    entry = signoff.sign(
        report,
        "Dana",
        "both gaps are in groups under 100 records",
        tmp_path,
        accept=["outcome:r:gender:refund", "representation:gender:female"],
    )
    assert [a["check"] for a in entry["accepted"]] == [
        "outcome:r:gender:refund",
        "representation:gender:female",
    ]
    assert signoff.status(report, tmp_path)["valid"]


def test_a_passing_report_needs_no_accept_and_an_old_signoff_of_a_failing_one_is_not_valid(
    tmp_path,
):
    report = _audit(tmp_path, verdict="pass", findings=[FINDINGS[3]])
    assert "accepted" not in signoff.sign(report, "Sam", "ok", tmp_path)
    report = _audit(tmp_path, verdict="fail", findings=[{**FINDINGS[1], "verdict": "fail"}])
    book = tmp_path / "audits" / "signoffs" / "audit_after.json.json"
    old = json.loads(book.read_text())
    old["signoffs"].append({**old["signoffs"][0], "sha256": signoff.sha256_of(report)})
    book.write_text(json.dumps(old))  # a sign-off written before findings had to be named
    st = signoff.status(report, tmp_path)
    assert not st["valid"] and "does not name 1 failing or inconclusive" in st["reason"]
    assert "outcome:r:gender:refund" in st["reason"]


def test_signoff_command_takes_accept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _audit(tmp_path)
    args = ["signoff", "audits/audit_after.json", "--reviewer", "Sam", "--note", "ok"]
    assert cli_main(args) == 2  # usage error: the findings are not named
    assert not (tmp_path / "audits" / "signoffs" / "audit_after.json.json").exists()
    more = ["--accept", "outcome:r:gender:refund", "--accept", "representation:gender:female"]
    assert cli_main(args + more) == 0
    assert cli_main(["signoff", "audits/audit_after.json", "--check"]) == 0


def _inconclusive_reports(tmp_path):
    reports = gate_reports(tmp_path)
    reports.audit.write_text(json.dumps(json.loads(_audit(tmp_path).read_text())))
    return reports


def test_gate_allows_an_inconclusive_audit_by_default_and_the_card_says_so(tmp_path):
    assert TrainConfig().allow_inconclusive_audit is True
    result = gate.check(_inconclusive_reports(tmp_path), [], require_signoff=False, root=tmp_path)
    assert result.passed and result.as_dict()["inconclusive"] == ["audit"]
    (c,) = [c for c in result.checks if c.check == "audit"]
    assert c.verdict == "inconclusive"
    assert "on the training distribution (on the original records alone: fail)" in c.detail
    assert "allowed by train.allow_inconclusive_audit: 2 checks" in c.detail
    assert "refund gap" in c.detail and "women few" in c.detail
    card = {
        "model": {"base_model": {}, "training": {"mode": "qlora"}},
        "data": {
            "pii": {"summary": {}},
            "audit_before": {"verdict": "fail", "findings": [{"verdict": "fail"}]},
            "audit_after": audit_summary(json.loads(reports_text(tmp_path))),
            "sources": {"sources": []},
        },
        "gate": {"waivers": [], "checks": result.as_dict()["checks"]},
        "evaluation": {},
    }
    lines = derived_limitations(card)
    assert any("'audit' check was inconclusive" in x for x in lines)
    assert any("on the original records alone it is 'fail'" in x for x in lines)


def reports_text(tmp_path):
    return (tmp_path / "reports" / "audit_after.json").read_text()


def test_gate_refuses_an_inconclusive_audit_when_params_say_so(tmp_path):
    reports = _inconclusive_reports(tmp_path)
    with pytest.raises(gate.GateError, match=r"verdict 'inconclusive' on the training distrib"):
        gate.check(reports, [], require_signoff=False, root=tmp_path, allow_inconclusive=False)
