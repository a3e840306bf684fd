"""Families are optional (issue 17, point 7): data whose records name no task family goes through
the audit, augment and split like data that does. An outcome the params tie to a family the
data lacks is "not judged" with the reason, never a pass on zero records; records without a
family are one group everywhere. (evaluate: tests/unit/test_evaluate.py.)"""

from __future__ import annotations

import json

from provena import audit_data, augment, split
from provena import group_audit as audit
from provena.config import AuditDataConfig, OutcomeSpec
from tests.conftest import load_tiny
from tests.factory import records, write_records

CFG = AuditDataConfig(bootstrap=0, min_group_size=20)
BANDS = ("18-29", "30-44", "45-64", "65+")


def _people(n: int, **meta):
    """Answers by women (one in five) and men of four age bands, as ``meta`` adds."""

    def meta_of(i):
        return {"gender": "female" if i % 5 == 0 else "male", "age_band": BANDS[i % 4], **meta}

    return records(
        n,
        meta=meta_of,
        input=lambda i: f"{'She' if i % 5 == 0 else 'He'} asked about order {i}.",
        output=lambda i: f"Order {i} ships today, {'madam' if i % 5 == 0 else 'sir'}.",
    )


def test_an_outcome_of_a_family_the_data_lacks_is_not_judged_with_the_reason():
    res = audit.audit(audit.build_frame(_people(200), CFG), CFG)
    assert res["judged_attributes"] == ["gender", "age_band"]  # the attributes are judged
    for name in ("resolution", "reply_length"):  # both tied to support_reply by default
        for attr, r in res["outcomes"][name]["by_attribute"].items():
            assert r["verdict"] == "not_judged", (name, attr)
            assert r["reason"] == "no record of family support_reply"
            assert "values" not in r and "value" not in r  # no empty table as a result
    texts = [f["text"] for f in res["findings"] if f["verdict"] == "not_judged"]
    assert "outcome resolution: not judged: no record of family support_reply" in texts
    assert "outcome reply_length: not judged: no record of family support_reply" in texts
    # icd10_chapter is shown, not checked (check: false): not judged, and no finding
    assert not any("icd10_chapter" in t for t in texts)
    assert res["verdict"] == "fail"  # the judged checks still decide: women are 20%


def test_an_outcome_whose_field_no_record_carries_is_not_judged():
    only = OutcomeSpec(name="resolution", kind="label", field="resolution")  # any family
    cfg = CFG.model_copy(update={"outcomes": [only]})
    res = audit.audit(audit.build_frame(_people(200), cfg), cfg)
    r = res["outcomes"]["resolution"]["by_attribute"]["gender"]
    assert r["verdict"] == "not_judged" and r["reason"] == "no record carries meta resolution"
    with_field = _people(200, resolution="refund")
    with_field[0]["meta"]["resolution"] = "store_credit"
    r = audit.audit(audit.build_frame(with_field, cfg), cfg)["outcomes"]["resolution"]
    judged = ("pass", "fail", "inconclusive")
    assert r["by_attribute"]["gender"]["verdict"] in judged  # judged when present


def test_the_audit_page_shows_the_reason(tmp_path):
    params = load_tiny()
    inp = write_records(tmp_path / "in.parquet", _people(200))
    audit_data.run(
        inp,
        params.audit_data,
        when="before",
        out_json=tmp_path / "a.json",
        report_html=tmp_path / "a.html",
    )
    page = (tmp_path / "a.html").read_text()
    assert "not judged: no record of family support_reply" in page


def _augment(tmp_path, recs, name):
    params = load_tiny()
    inp = write_records(tmp_path / f"{name}.parquet", recs)
    audit_json = tmp_path / f"{name}.audit.json"
    audit_data.run(inp, params.audit_data, when="before", out_json=audit_json)
    return augment.run(
        inp,
        audit_json,
        params.augment,
        params.audit_data,
        out=tmp_path / f"{name}.out.parquet",
        ledger=tmp_path / f"{name}.ledger.jsonl",
        metrics=tmp_path / f"{name}.metrics.json",
    )


def test_augment_makes_the_same_children_with_or_without_a_family(tmp_path):
    # records without a family are donors as much as records of one family
    without = _augment(tmp_path, _people(600), "without")
    with_one = _augment(tmp_path, _people(600, family="open_qa"), "with")
    assert without["added_by_op"] == with_one["added_by_op"]
    assert without["added_by_op"]["counterfactual:gender=female"] > 0
    assert any(op.startswith("counterfactual:age_band=") for op in without["added_by_op"])


def test_split_keeps_records_without_a_family_as_one_stratum():
    recs = _people(600)
    res = split.split_records(recs, load_tiny().split)
    by_family = res.metrics["by_family"]
    assert list(by_family) == ["(missing)"]
    assert sum(by_family["(missing)"].values()) == len(recs)
    assert json.loads(json.dumps(res.metrics)) == res.metrics
