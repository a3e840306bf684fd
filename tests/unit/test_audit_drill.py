"""The records behind the audit pages' findings (provena.audit_data.drill): each failing or
inconclusive finding lists its group's record ids (in input order, capped) and a bounded sample
of scrubbed text, marked original or augmented on augmented data; the page filters findings by
attribute and group; and the audit's numbers are those of the audit without them."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from markupsafe import escape

from provena import audit_data
from provena import group_audit as ga
from provena.audit_data import drill
from provena.audit_data.report import filter_keys, render_html
from provena.errors import UserError
from tests.factory import record, write_records
from tests.helpers.audit_pages import CFG, audit_records

#: small bounds, so that the caps show on a 500-record fixture
BOUNDED = CFG.model_copy(update={"report_ids": 7, "report_examples": 3, "report_text_chars": 100})
#: a raw value in a meta field no page may show (the sample is the record's text only)
RAW = "Maria Lopez"
DRILL_KEYS = {"group", "attribute", "record_count", "record_ids", "sample"}


def _with_raw_meta(recs: list) -> list:
    for r in recs:
        r["meta"]["patient_name"] = RAW
    return recs


def before_records() -> list:
    return _with_raw_meta(audit_records(0.28))


def after_records(before: list) -> list:
    """``before`` plus 60 augmented children of its women's support replies (too few to close
    the representation gap; the refund gap stays, children keep their parent's resolution)."""
    parents = [
        r
        for r in before
        if r["meta"]["gender"] == "female" and r["meta"].get("family") == "support_reply"
    ][:60]
    children = [
        record(
            source=p["source"],
            instruction=p["instruction"],
            input=p["input"] + " (rewritten)",
            output=p["output"] + " " + "y" * 150,
            meta=dict(p["meta"]),
            parent_id=p["id"],
            op="counterfactual",
        )
        for p in parents
    ]
    return before + children


def _audit(recs: list, cfg=BOUNDED, when="before", before=None) -> dict[str, Any]:
    res = audit_data.audit_records(
        recs, cfg, when=when, dataset={"path": "x", "md5": "0" * 32}, before=before
    )
    assert res.report is not None
    return res.report


@pytest.fixture(scope="module")
def audits():
    recs = before_records()
    after_recs = after_records(recs)
    before = _audit(recs)
    after = _audit(after_recs, when="after", before=before)
    return recs, after_recs, before, after


def _drilled(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if "record_ids" in f]


def _members(recs: list, f: dict[str, Any], report: dict[str, Any]) -> list:
    """The records of a finding's group, computed from the records themselves: the attributes
    named by the finding's attribute equal to its group's parts, of the outcome's family."""
    attrs, parts = f["attribute"].split(" x "), f["group"].split(" & ")
    family = None
    if f["check"].startswith("outcome:"):
        family = report["outcomes"][f["check"].split(":")[1]]["family"]
    return [
        r
        for r in recs
        if all(r["meta"].get(a) == p for a, p in zip(attrs, parts, strict=True))
        and (family is None or r["meta"].get("family") == family)
    ]


def test_each_failing_finding_lists_its_groups_ids_in_input_order_capped(audits):
    recs, _, before, _ = audits
    drilled = _drilled(before)
    attention = [f for f in before["findings"] if f["verdict"] in ("fail", "inconclusive")]
    assert drilled == [f for f in attention if f["check"] != "all"]
    kinds = {f["check"].split(":")[0] for f in drilled}
    assert kinds == {"representation", "outcome"}
    for f in drilled:
        members = _members(recs, f, before)
        assert f["record_count"] == len(members) > BOUNDED.report_ids
        assert f["record_ids"] == [r["id"] for r in members][: BOUNDED.report_ids]
    refund = next(
        f for f in drilled if f["check"] == "outcome:resolution:gender:resolution = refund"
    )
    assert refund["group"] == "female"  # an outcome finding is about its worst group
    assert before["drill"] == {"report_ids": 7, "report_examples": 3, "report_text_chars": 100}


def test_the_sample_is_bounded_and_holds_the_records_text_only(audits):
    recs, _, before, _ = audits
    by_id = {r["id"]: r for r in recs}
    page = render_html(before)
    for f in _drilled(before):
        members = [r["id"] for r in _members(recs, f, before)]
        assert [e["id"] for e in f["sample"]] == members[: BOUNDED.report_examples]
        for e in f["sample"]:
            assert set(e) == {"id", "augmented", "parent_id", "op", "fields"}
            assert not e["augmented"] and e["parent_id"] is None
            assert [x["field"] for x in e["fields"]] == ["instruction", "input", "output"]
            for x in e["fields"]:
                whole = by_id[e["id"]][x["field"]]
                assert x["text"] == whole[: BOUNDED.report_text_chars]
                assert x["chars_left_out"] == len(whole) - len(x["text"])
    cut = [x for f in _drilled(before) for e in f["sample"] for x in e["fields"]]
    assert any(x["chars_left_out"] for x in cut)  # the outputs of 300 characters are cut
    assert "more characters not shown" in page
    # meta (where a raw value could sit) is never in the audit or on the page
    assert RAW not in json.dumps(before) and RAW not in page and str(escape(RAW)) not in page


def test_the_after_audit_marks_original_and_augmented_records(audits):
    _, after_recs, _, after = audits
    by_id = {r["id"]: r for r in after_recs}
    page = render_html(after, audits[2])
    drilled = _drilled(after)
    assert drilled
    marked = 0
    for f in drilled:
        members = _members(after_recs, f, after)
        n_aug = sum(r["parent_id"] is not None for r in members)
        assert (f["original"], f["augmented"]) == (len(members) - n_aug, n_aug)
        assert len(f["sample"]) <= BOUNDED.report_examples
        for e in f["sample"]:
            assert e["augmented"] == (by_id[e["id"]]["parent_id"] is not None)
            assert e["parent_id"] == by_id[e["id"]]["parent_id"]
        if n_aug and len(members) > n_aug:  # both kinds: the sample shows both
            kinds = [e["augmented"] for e in f["sample"]]
            assert True in kinds and False in kinds
            marked += 1
            child = next(e for e in f["sample"] if e["augmented"])
            assert (
                f'<span class="kind augmented">augmented</span> child of '
                f"<code>{child['parent_id']}</code> (counterfactual)" in page
            )
            assert f"{f['original']} original + {f['augmented']} augmented" in page
    assert marked, "the women's findings hold original and augmented records"
    assert '<span class="kind original">original</span>' in page
    # the before page has no augmented records: nothing is marked
    assert 'class="kind' not in render_html(audits[2])


def test_the_page_filters_findings_by_attribute_and_group(audits):
    _, _, before, after = audits
    page = render_html(after, before)
    items = re.findall(r'<li class="(?:fail|inconclusive)" data-filter="([^"]*)">', page)
    drilled = _drilled(after)
    assert len(items) == len(drilled) and items == [" ".join(filter_keys(f)) for f in drilled]
    options = set(re.findall(r'<option value="([^"]+)">', page))
    for keys in items:
        assert set(keys.split()) <= options
    inter = next(f for f in drilled if " x " in f["attribute"])
    gender, band = inter["group"].split(" & ")
    assert filter_keys(inter) == [
        "a-gender-x-age-band",
        f"g-gender-x-age-band--{re.sub('[^a-z0-9]+', '-', inter['group'].lower())}",
        f"g-gender--{gender}",
        f"g-age-band--{re.sub('[^a-z0-9]+', '-', band)}",
    ]
    assert '<div class="drill-filter" data-scope="attention-drill"' in page
    assert '<select name="attention-drill-key">' in page  # attribute
    assert '<select name="attention-drill-key2">' in page  # group
    assert f">{gender} (gender)</option>" in page
    assert 'document.querySelectorAll(".drill-filter")' in page  # drill.js, inline
    assert "<script src" not in page and "<link" not in page


def test_the_audit_numbers_are_those_of_the_audit_without_records(audits):
    recs, after_recs, before, after = audits
    plain_before = ga.audit(ga.build_frame(recs, BOUNDED), BOUNDED)
    plain_after = ga.with_status(
        ga.audit(ga.build_frame(after_recs, BOUNDED), BOUNDED), json.loads(json.dumps(before))
    )
    plain_after["attribute_summary"] = ga.attribute_summary(plain_after)
    for report, plain in ((before, plain_before), (after, plain_after)):
        stripped = json.loads(json.dumps(report))
        for key in ("stage", "when", "dataset", "drill"):
            stripped.pop(key)
        for f in stripped["findings"]:
            for key in (*DRILL_KEYS, "original", "augmented"):
                f.pop(key, None)
        assert stripped == json.loads(json.dumps(plain))


def test_a_group_with_no_records_lists_none_and_renders(tmp_path):
    recs = [r for r in audit_records(0.4) if r["meta"]["gender"] != "nonbinary"]
    report = _audit(recs)
    f = next(f for f in report["findings"] if f["check"] == "representation:gender:nonbinary")
    assert (f["record_count"], f["record_ids"], f["sample"]) == (0, [], [])
    assert "record ids: 0" in render_html(report)


def test_the_stage_reads_its_file_twice_and_writes_the_records_behind_findings(tmp_path):
    recs = before_records()
    inp = write_records(tmp_path / "in.parquet", recs)
    report = audit_data.run(
        inp, BOUNDED, when="before", out_json=tmp_path / "a.json", report_html=tmp_path / "a.html"
    )
    assert report == json.loads((tmp_path / "a.json").read_text())
    f = _drilled(report)[0]
    assert f["record_ids"] == [r["id"] for r in _members(recs, f, report)][: BOUNDED.report_ids]
    assert f["sample"] and f["sample"][0]["id"] in (tmp_path / "a.html").read_text()


def test_records_read_again_that_run_short_are_a_one_line_error():
    recs = before_records()
    df = ga.build_frame(recs, BOUNDED)
    result = ga.audit(df, BOUNDED)
    samples = drill.plan(df, result, BOUNDED)
    last = max(r for rows in samples.values() for r in rows)
    with pytest.raises(UserError, match=r"^in\.parquet: the records read again .* end before"):
        drill.attach(result, samples, recs[:last], BOUNDED, where="in.parquet")


def test_an_audit_without_the_records_behind_findings_renders_without_a_filter():
    plain = ga.audit(ga.build_frame(audit_records(0.28), CFG), CFG)
    plain |= {"when": "before", "dataset": {"records": 500, "path": "x", "md5": "0" * 32}}
    page = render_html(plain)
    assert "drill-filter" not in page and "<script" not in page
    assert 'id="attention-list"' in page
