"""audit_data: the audit's numbers equal an independent pandas computation; thresholds give
the verdicts; small groups are flagged, not judged; inferred attributes stay apart."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from provena import audit_data
from provena import group_audit as audit
from provena.config import AuditDataConfig
from tests.factory import record

CFG = AuditDataConfig(bootstrap=30, min_group_size=20)


def _records(seed: int = 3, n: int = 600):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gender = "female" if rng.random() < 0.3 else "male"
        if i % 50 == 0:
            gender = "nonbinary"
        band = rng.choice(["18-29", "30-44", "45-64", "65+"])
        refund = rng.random() < (0.2 if gender == "female" else 0.45)
        reply = (
            "Sorry about that. "
            + ("We refund it. " if refund else "")
            + "x" * (100 if band == "65+" else 300)
        )
        out.append(
            record(
                source="t",
                instruction="Reply to the customer.",
                input=f"Message {i}",
                output=reply,
                meta={
                    "family": "support_reply",
                    "gender": gender,
                    "age_band": band,
                    "resolution": "refund" if refund else "other",
                },
            )
        )
    return out


@pytest.fixture(scope="module")
def frame():
    return audit.build_frame(_records(), CFG)


@pytest.fixture(scope="module")
def result(frame):
    return audit.audit(frame, CFG)


def test_representation_equals_pandas(frame, result):
    counts = frame["gender"].value_counts()
    shares = frame["gender"].value_counts(normalize=True)
    groups = result["representation"]["gender"]["groups"]
    for g in counts.index:
        assert groups[g]["n"] == counts[g]
        assert groups[g]["share"] == round(shares[g], 4)
        ref = CFG.reference["gender"][g]
        assert groups[g]["ratio"] == round(shares[g] / ref, 4)
        lo, hi = groups[g]["ci"]
        assert lo <= groups[g]["share"] <= hi
    # intersections: shares of gender x age_band, reference = product of the marginals
    inter = result["intersections"]["gender x age_band"]["groups"]
    joint = frame.groupby(["gender", "age_band"]).size() / len(frame)
    for (g, b), share in joint.items():
        e = inter[f"{g} & {b}"]
        assert e["share"] == round(share, 4)
        ref = CFG.reference["gender"][g] * CFG.reference["age_band"][b]
        assert e["reference"] == round(ref, 4)


def test_outcomes_equal_pandas_groupby(frame, result):
    res = result["outcomes"]["resolution"]["by_attribute"]["gender"]["values"]["refund"]
    big = frame[frame["gender"].isin(["female", "male"])]  # nonbinary: 12 < min_group_size
    rates = big.groupby("gender")["resolution"].apply(lambda s: (s == "refund").mean())
    for g, v in rates.items():
        assert res["by_group"][g]["value"] == round(v, 4)
        lo, hi = res["by_group"][g]["ci"]
        assert lo <= v <= hi
    assert res["difference"] == round(rates.max() - rates.min(), 4)
    assert res["ratio"] == round(rates.min() / rates.max(), 4)
    assert res["lowest"] == "female" and res["highest"] == "male"
    assert res["verdict"] == "fail"
    assert "nonbinary" in res["too_small"] and res["by_group"]["nonbinary"]["n"] == 12
    length = result["outcomes"]["reply_length"]["by_attribute"]["age_band"]["value"]
    means = frame.groupby("age_band")["output_chars"].mean()
    for b, m in means.items():
        assert length["by_group"][b]["value"] == round(m, 4)
    assert length["ratio"] == round(means.min() / means.max(), 4) and length["verdict"] == "fail"


def test_findings_say_it_in_plain_words(result):
    texts = [f["text"] for f in result["findings"] if f["verdict"] == "fail"]
    assert any(t.startswith("female (gender) are ") and "reference" in t for t in texts)
    assert any("refund" in t and "of female" in t for t in texts)
    assert any("mean output_chars" in t and "65+" in t for t in texts)
    small = [f for f in result["findings"] if f["verdict"] == "too_small"]
    assert small and all("too small to judge" in f["text"] for f in small)
    assert result["verdict"] == "fail"


def test_thresholds_decide_the_verdict(frame):
    lenient = CFG.model_copy(
        update={"min_representation_ratio": 0.1, "min_outcome_ratio": 0.1, "bootstrap": 0}
    )
    assert audit.audit(frame, lenient)["verdict"] == "pass"
    # a small gap in shares is no finding even with a low ratio
    wide = CFG.model_copy(update={"max_outcome_difference": 0.5, "bootstrap": 0})
    res = audit.audit(frame, wide)["outcomes"]["resolution"]["by_attribute"]["gender"]
    assert res["values"]["refund"]["verdict"] == "pass"


def test_unchecked_outcomes_are_reported_not_judged(frame):
    cfg = AuditDataConfig.model_validate(
        {
            **CFG.model_dump(),
            "outcomes": [{"name": "r", "kind": "label", "field": "resolution", "check": False}],
            "bootstrap": 0,
        }
    )
    out = audit.audit(frame, cfg)["outcomes"]["r"]["by_attribute"]["gender"]
    assert {v["verdict"] for v in out["values"].values()} == {"not_checked"}


INFER = [
    ("She said her order was late; her husband called too.", "female", None),
    ("He reports chest pain. His wife drove him.", "male", None),
    ("HPI: 54 year old woman with cough. She denies fever.", "female", "45-64"),
    ("31 Y/O MAN PRESENTING WITH HEADACHE. HE REPORTS ONSET ABOUT A WEEK AGO.", "male", "30-44"),
    ("Please refund the order, thanks.", None, None),
    ("She called her son and he said his order was fine.", None, None),  # mixed: no guess
    ("A 72-year-old retired teacher.", None, "65+"),
]


@pytest.mark.parametrize("text, gender, band", INFER)
def test_inference_rules(text, gender, band):
    assert audit.infer_gender(text) == gender
    assert audit.infer_age_band(text) == band


def test_inferred_attributes_are_reported_apart_and_not_judged():
    recs = _records(n=200)
    for r in recs[:40]:
        r["meta"].pop("gender")
        r["input"] = "She wrote that her parcel is late and she wants her money back."
    df = audit.build_frame(recs, CFG)
    res = audit.audit(df, CFG.model_copy(update={"bootstrap": 0}))
    assert res["inferred"]["gender"] == {"female": 40}
    assert res["representation"]["gender"]["records"] == 160  # recorded values only
    df2 = audit.build_frame(recs, CFG.model_copy(update={"infer_missing": []}))
    assert audit.audit(df2, CFG.model_copy(update={"bootstrap": 0}))["missing"]["gender"] == 40


def test_run_writes_json_metrics_and_html(tmp_path):
    from provena.io import RecordWriter

    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(_records())
    before = audit_data.run(
        inp,
        CFG,
        when="before",
        out_json=tmp_path / "before.json",
        metrics=tmp_path / "m.json",
        report_html=tmp_path / "before.html",
    )
    audit_data.run(
        inp,
        CFG,
        when="after",
        out_json=tmp_path / "after.json",
        report_html=tmp_path / "after.html",
        before_json=tmp_path / "before.json",
    )
    saved = json.loads((tmp_path / "before.json").read_text())
    assert saved["verdict"] == before["verdict"] == "fail" and saved["dataset"]["records"] == 600
    assert json.loads((tmp_path / "m.json").read_text())["failed_checks"] >= 2
    html = (tmp_path / "after.html").read_text()
    assert 'id="verdict-before"' in html and 'id="verdict-after"' in html
    assert "female (gender) are" in html
    # one script: the inline filter of the findings (drill.js), nothing loaded
    assert html.count("<script") == 1 and "<script>" in html and "<script src" not in html


def test_bad_params_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"sum to 0\.900"):
        AuditDataConfig(reference={"gender": {"female": 0.4, "male": 0.5}})
    with pytest.raises(ValueError, match="must name two or more"):
        AuditDataConfig(intersections=[["gender", "income"]])


def test_independent_check_of_the_wilson_interval():
    lo, hi = audit.wilson(30, 100, 0.95)
    assert (lo, hi) == (0.2189, 0.3958)  # from the closed form, computed by hand
    assert pd.Series([lo, hi]).between(0, 1).all()


# ------------------------------------------- augmented data, statuses, inconclusive checks


def _with_children(recs, n_children: int):
    """``recs`` plus ``n_children`` female children of male records (what augment makes: a
    ``parent_id``, the gender changed), each refunded."""
    males = [r for r in recs if r["meta"]["gender"] == "male"][:n_children]
    kids = []
    for i, r in enumerate(males):
        kids.append(
            record(
                source="t",
                instruction=r["instruction"],
                input=f"child {i}",
                output="Sorry about that. We refund it. " + "x" * 300,
                meta={**r["meta"], "gender": "female", "resolution": "refund"},
                parent_id=r["id"],
                op="counterfactual:gender=female",
            )
        )
    return recs + kids


def test_augmented_rows_are_split_and_the_original_verdict_shown_beside():
    recs = _records()
    cfg = CFG.model_copy(update={"bootstrap": 0})
    before = audit.audit(audit.build_frame(recs, cfg), cfg)
    df = audit.build_frame(_with_children(recs, 150), cfg)
    res = audit.audit(df, cfg)
    assert res["verdict_scope"] == "training distribution"
    female = res["representation"]["gender"]["groups"]["female"]
    n_female = sum(r["meta"]["gender"] == "female" for r in recs)
    assert (female["original"], female["augmented"], female["n"]) == (
        n_female,
        150,
        n_female + 150,
    )
    assert res["synthetic"]["by_attribute"]["gender"]["female"] == {
        "records": n_female + 150,
        "augmented": 150,
        "share": round(150 / (n_female + 150), 4),
    }
    assert res["synthetic"]["by_attribute"]["gender"]["male"]["augmented"] == 0
    # outcome rows: each part's value, equal to pandas on that part
    refund = res["outcomes"]["resolution"]["by_attribute"]["gender"]["values"]["refund"]
    parts = refund["by_group"]["female"]
    orig = [r for r in recs if r["meta"]["gender"] == "female"]
    want = sum(r["meta"]["resolution"] == "refund" for r in orig) / len(orig)
    assert parts["original"] == {"n": len(orig), "value": round(want, 4)}
    assert parts["augmented"] == {"n": 150, "value": 1.0}
    # the original records alone are the records before: the same verdict, the same checks
    assert res["original_records"]["records"] == len(recs)
    assert res["original_records"]["verdict"] == before["verdict"] == "fail"
    assert res["original_records"]["checks"] == audit.check_verdicts(before)


def test_findings_carry_their_status_against_the_before_audit():
    recs = _records()
    cfg = CFG.model_copy(update={"bootstrap": 0})
    before = audit.audit(audit.build_frame(recs, cfg), cfg)
    after = audit.audit(audit.build_frame(_with_children(recs, 150), cfg), cfg)
    after = audit.with_status(after, before)
    by_check = {f["check"]: f for f in after["findings"]}
    rep = by_check["representation:gender:female"]
    assert rep["status"] == "resolved_by_augmentation" and rep["verdict"] == "pass"
    assert rep["in_original_records"] == "fail"
    assert "in the original records alone it persists, unchanged" in rep["text"]
    # the 65+ replies are still short: the same finding, persisting
    mean = by_check["outcome:reply_length:age_band:mean"]
    assert (mean["verdict"], mean["status"]) == ("fail", "persisting")
    # a check that passed before and fails now is new
    fake = {**before, "findings": [], "outcomes": {}, "representation": {}, "intersections": {}}
    again = audit.with_status(audit.audit(audit.build_frame(recs, cfg), cfg), fake)
    assert {f["status"] for f in again["findings"] if f["verdict"] == "fail"} == {"new"}
    lines = audit.attribute_summary(after)
    assert lines["gender"].startswith("gender: ") and "on the original records" in lines["gender"]
    assert "machine-made share: female" in lines["gender"]


def test_an_interval_across_the_threshold_is_inconclusive():
    # 40 and 40 records: 10% against 20% refunds is a gap (ratio 0.5), but not a sure one
    recs = []
    for i in range(80):
        g = "female" if i < 40 else "male"
        refund = (i % 40) < (4 if g == "female" else 8)
        recs.append(
            record(
                input=f"m {i}",
                output="x",
                meta={
                    "family": "support_reply",
                    "gender": g,
                    "resolution": "refund" if refund else "other",
                },
            )
        )
    cfg = AuditDataConfig(
        attributes=["gender"],
        reference={"gender": "parity"},
        min_group_size=20,
        bootstrap=0,
        outcomes=[{"name": "r", "kind": "label", "field": "resolution"}],
    )
    res = audit.audit(audit.build_frame(recs, cfg), cfg)
    c = res["outcomes"]["r"]["by_attribute"]["gender"]["values"]["refund"]
    assert (c["ratio"], c["point"], c["verdict"]) == (0.5, "fail", "inconclusive")
    lo, hi = c["ratio_ci"]
    assert lo < 0.8 < hi
    assert res["verdict"] == "inconclusive"
    assert any(
        f["verdict"] == "inconclusive" and "inconclusive" in f["text"] for f in res["findings"]
    )
    # ten times the records, the same shares: now the interval is wholly below: fail
    many = audit.audit(audit.build_frame(recs * 10, cfg), cfg)
    big = many["outcomes"]["r"]["by_attribute"]["gender"]["values"]["refund"]
    assert big["verdict"] == "fail" and big["ratio_ci"][1] < 0.8


def test_katz_and_newcombe_intervals_match_the_closed_forms():
    import math

    import numpy as np

    x = np.array([1.0] * 10 + [0.0] * 90)  # 10%
    best = np.array([1.0] * 20 + [0.0] * 80)  # 20%
    rci, dci = audit._pair_ci(x, best, 0.95, binary=True)
    z = 1.959964
    se = math.sqrt(1 / 10 - 1 / 100 + 1 / 20 - 1 / 100)
    assert rci == [round(0.5 * math.exp(-z * se), 4), round(0.5 * math.exp(z * se), 4)]
    l1, u1 = audit.wilson(20, 100, 0.95)
    l2, u2 = audit.wilson(10, 100, 0.95)
    lo, hi = 0.1 - math.hypot(0.2 - l1, u2 - 0.1), 0.1 + math.hypot(u1 - 0.2, 0.1 - l2)
    assert abs(dci[0] - lo) < 2e-4 and abs(dci[1] - hi) < 2e-4


def test_intersection_outcomes_are_judged_or_the_page_says_why(tmp_path):
    recs = _records()
    cfg = CFG.model_copy(update={"bootstrap": 0})
    res = audit.audit(audit.build_frame(recs, cfg), cfg)
    inter = res["outcomes"]["reply_length"]["by_attribute"]["gender x age_band"]
    assert inter["value"]["verdict"] in ("pass", "fail", "inconclusive")
    off = cfg.model_copy(update={"check_intersection_outcomes": False})
    res = audit.audit(audit.build_frame(recs, off), off)
    inter = res["outcomes"]["reply_length"]["by_attribute"]["gender x age_band"]
    assert inter["verdict"] == "not_checked"
    assert "check_intersection_outcomes is false" in inter["reason"]
    html = audit_data.report.render_html(
        {**res, "when": "before", "dataset": {"records": 1, "path": "x", "md5": "0" * 12}}
    )
    assert "check_intersection_outcomes is false" in html
