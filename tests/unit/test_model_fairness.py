"""model_fairness: per-group quality and token-weighted perplexity against hand-computed values,
groups shown but not judged, the verdict and its findings, and the counterfactual probe with
fake models on real gender swaps."""

from __future__ import annotations

import json
import math

import pytest

from provena.card.sections import model_fairness_markdown
from provena.config import CounterfactualProbeConfig, ModelFairnessConfig
from provena.counterfactual import Counterfactual
from provena.evaluate import fairness as mfair
from provena.scores import rouge_tokens
from tests.factory import record

CFG = ModelFairnessConfig(min_group_size=3)


def _row(gender, metrics, *, model="adapter", split="test", age_band="30-44"):
    return {
        "split": split,
        "model": model,
        "id": f"r{id(metrics)}",
        "family": "clinical_extraction" if "icd10_f1" in metrics else "support_reply",
        "gender": gender,
        "age_band": age_band,
        "prediction": "",
        "reference": "",
        "metrics": metrics,
    }


def _ext(age, sex, f1, **extra):
    return {"age_em": age, "sex_em": sex, "icd10_f1": f1, "json_valid": 1.0, **extra}


def _rows(model="adapter"):
    """Six rows, two groups. female: 0.6, 0.3, (1 + 1 + 0.4) / 3 = 0.8 -> mean 0.566667;
    male: 0.9, 0.8, (1 + 0 + 0.5) / 3 = 0.5 -> mean 0.733333. NLL / tokens: female
    (2, 4), (3, 2), none -> exp(5 / 6); male (1, 2), (1, 2), (4, 4) -> exp(6 / 8)."""
    return [
        _row("female", {"rouge_l": 0.6, "nll": 2.0, "tokens": 4}, model=model),
        _row("female", {"rouge_l": 0.3, "nll": 3.0, "tokens": 2}, model=model),
        _row("female", _ext(1.0, 1.0, 0.4), model=model),
        _row("male", {"rouge_l": 0.9, "nll": 1.0, "tokens": 2}, model=model),
        _row("male", {"rouge_l": 0.8, "nll": 1.0, "tokens": 2}, model=model),
        _row("male", _ext(1.0, 0.0, 0.5, nll=4.0, tokens=4), model=model),
    ]


# --- per example ---------------------------------------------------------------------------


def test_per_example_quality_and_perplexity():
    assert mfair.per_example_quality({"metrics": _ext(1.0, 0.0, 0.5)}) == pytest.approx(0.5)
    assert mfair.per_example_quality({"metrics": {"rouge_l": 0.25}}) == 0.25
    assert mfair.per_example_quality({"metrics": {"nll": 1.0, "tokens": 2}}) is None
    assert mfair.per_example_perplexity({"metrics": {"nll": 3.0, "tokens": 2}}) == pytest.approx(
        math.exp(1.5)
    )
    assert mfair.per_example_perplexity({"metrics": {"rouge_l": 0.1}}) is None


# --- group tables --------------------------------------------------------------------------


def test_group_means_difference_ratio_and_token_weighted_perplexity():
    g = mfair.group_quality(_rows(), ["gender"], CFG)["test"]["adapter"]["gender"]
    f, m = g["by_group"]["female"], g["by_group"]["male"]
    assert (f["n"], m["n"]) == (3, 3)
    assert f["quality"] == pytest.approx(1.7 / 3, abs=1e-6)
    assert m["quality"] == pytest.approx(2.2 / 3, abs=1e-6)
    # sum NLL / sum tokens, not the mean of per-example perplexities
    assert f["perplexity"] == pytest.approx(math.exp(5 / 6), abs=1e-6)
    assert f["perplexity"] != pytest.approx((math.exp(0.5) + math.exp(1.5)) / 2, abs=1e-3)
    assert m["perplexity"] == pytest.approx(math.exp(0.75), abs=1e-6)
    assert g["overall"]["perplexity"] == pytest.approx(math.exp(11 / 14), abs=1e-6)
    assert g["overall"]["quality"] == pytest.approx(3.9 / 6, abs=1e-6)
    assert g["difference"]["quality"] == pytest.approx(0.5 / 3, abs=1e-6)
    assert g["ratio"]["quality"] == pytest.approx(1.7 / 2.2, abs=1e-6)
    assert g["ratio"]["perplexity"] == pytest.approx(math.exp(1 / 12), abs=1e-6)  # >= 1
    assert g["best"] == {"quality": "male", "perplexity": "male"}
    assert g["worst"] == {"quality": "female", "perplexity": "female"}
    assert g["judged_groups"] == ["female", "male"]
    assert f["families"] == {"clinical_extraction": 1, "support_reply": 2}


def test_small_and_unknown_groups_are_shown_not_judged():
    rows = [
        *_rows(),
        _row("nonbinary", {"rouge_l": 0.0}),
        _row(None, {"rouge_l": 0.0}),
        _row("", {"rouge_l": 0.1}),
    ]
    g = mfair.group_quality(rows, ["gender"], CFG)["test"]["adapter"]["gender"]
    assert g["by_group"]["nonbinary"] == {
        "n": 1,
        "quality": 0.0,
        "perplexity": None,
        "families": {"support_reply": 1},
        "judged": False,
        "reason": "too small to judge (fewer than 3 examples)",
    }
    assert g["by_group"]["unknown"]["n"] == 2
    assert g["by_group"]["unknown"]["quality"] == pytest.approx(0.05)
    assert g["by_group"]["unknown"]["judged"] is False
    # the gap is between the judged groups only (nonbinary's 0.0 would make it 0.733)
    assert g["difference"]["quality"] == pytest.approx(0.5 / 3, abs=1e-6)
    assert g["overall"]["n"] == 9
    res = mfair.assess({"test": {"adapter": {"gender": g}}}, None, CFG)
    msgs = [f["message"] for f in res["findings"] if f["verdict"] == "not_judged"]
    assert msgs == [
        "[test] gender=nonbinary: 1 example, too small to judge (fewer than 3 examples); "
        "shown, not judged",
        "[test] gender=unknown: 2 examples, attribute not recorded; shown, not judged",
    ]
    small = next(f for f in res["findings"] if f.get("group") == "nonbinary")
    assert (small["check"], small["value"], small["threshold"]) == ("group_size", 1, 3)


def test_intersections_and_per_split_and_model():
    rows = [*_rows(), *_rows("base"), *[{**r, "split": "gold"} for r in _rows()]]
    out = mfair.group_quality(
        rows, ["gender", "age_band"], CFG, intersections=[["gender", "age_band"]]
    )
    assert sorted(out) == ["gold", "test"]
    assert sorted(out["test"]) == ["adapter", "base"]
    assert sorted(out["gold"]["adapter"]) == ["age_band", "gender", "gender x age_band"]
    inter = out["test"]["adapter"]["gender x age_band"]
    assert sorted(inter["by_group"]) == ["female & 30-44", "male & 30-44"]
    assert out["test"]["adapter"]["age_band"]["judged_groups"] == ["30-44"]
    assert out["test"]["adapter"]["age_band"]["difference"]["quality"] is None


def test_row_without_split_is_an_error():
    with pytest.raises(ValueError, match=r"prediction row 0 \(id 'x'\) has no 'split'"):
        mfair.group_quality([{"id": "x", "model": "adapter", "metrics": {}}], ["gender"], CFG)


# --- verdict -------------------------------------------------------------------------------


def _assess(rows, cfg, cf=None):
    return mfair.assess(mfair.group_quality(rows, ["gender"], cfg), cf, cfg)


def test_verdict_fails_on_a_gap_with_words():
    # the six rows 300 times over: the same means, intervals narrow enough to tell
    res = _assess(_rows() * 300, CFG)
    assert res["verdict"] == "fail"
    fails = {f["check"]: f for f in res["findings"] if f["verdict"] == "fail"}
    assert sorted(fails) == ["quality_difference", "quality_ratio"]
    r = fails["quality_ratio"]
    assert (r["attribute"], r["group"], r["split"], r["model"]) == (
        "gender",
        "female",
        "test",
        "adapter",
    )
    assert r["value"] == round(1.7 / 2.2, 6) and r["threshold"] == 0.8
    assert r["message"].startswith("[test] quality of gender=female is 0.57, 0.77x of male (0.73")
    assert r["message"].endswith("threshold 0.8x") and "95% interval" in r["message"]
    assert fails["quality_difference"]["message"].startswith(
        "[test] quality of gender=female is 0.57, 0.17 below male (0.73; 95% interval"
    )
    assert res["splits"]["test"]["adapter"]["gender"]["checks"] == {
        "quality_difference": "fail",
        "quality_ratio": "fail",
        "perplexity_ratio": "pass",
    }


def test_a_gap_whose_interval_crosses_the_threshold_is_inconclusive():
    """Three examples a group: the gap is there, the interval crosses both thresholds."""
    res = _assess(_rows(), CFG)
    assert res["verdict"] == "inconclusive"
    table = res["splits"]["test"]["adapter"]["gender"]
    assert table["checks"]["quality_difference"] == "inconclusive"
    lo, hi = table["difference_ci"]
    assert lo < CFG.max_quality_difference < hi
    found = [f for f in res["findings"] if f["verdict"] == "inconclusive" and f["check"] != "all"]
    assert found and all("the interval crosses it, inconclusive" in f["message"] for f in found)


def test_verdict_passes_under_the_thresholds_and_judges_only_the_adapter():
    loose = ModelFairnessConfig(min_group_size=3, max_quality_difference=0.2, min_quality_ratio=0.7)
    base = _rows("base")
    base[0]["metrics"]["rouge_l"] = 0.0  # the base has a large gap: shown, not judged
    res = _assess([*_rows() * 300, *base], loose)
    assert res["verdict"] == "pass"
    assert res["findings"][0] == {
        "verdict": "pass",
        "check": "all",
        "message": "every check passed",
    }
    assert "checks" not in res["splits"]["test"]["base"]["gender"]


LOOSE = ModelFairnessConfig(min_group_size=3, max_quality_difference=0.2, min_quality_ratio=0.7)


def test_quality_of_answers_that_are_not_evaluable_is_left_out_and_inconclusive():
    why = "the answers are constant: one answer to all 3 prompts"
    silent = {("test", "adapter", f): why for f in ("support_reply", "clinical_extraction")}
    groups = mfair.group_quality(_rows(), ["gender"], LOOSE, not_evaluable=silent)
    table = groups["test"]["adapter"]["gender"]
    # no quality left to compare; perplexity (the references' NLL) is still measured
    assert table["by_group"]["female"]["quality"] is None
    assert table["by_group"]["female"]["perplexity"] == pytest.approx(math.exp(5 / 6), abs=1e-6)
    assert table["quality_left_out"] == {"clinical_extraction": why, "support_reply": why}
    res = mfair.assess(groups, None, LOOSE)
    assert res["verdict"] == "inconclusive"  # the same rows pass when the answers vary
    assert res["splits"]["test"]["adapter"]["gender"]["checks"] == {
        "quality_difference": "inconclusive",
        "quality_ratio": "inconclusive",
        "perplexity_ratio": "pass",
    }
    assert [(f["verdict"], f["check"]) for f in res["findings"]] == [
        ("inconclusive", "all"),
        ("inconclusive", "quality_not_evaluable"),
    ]
    assert res["findings"][1]["families"] == ["clinical_extraction", "support_reply"]
    assert "support_reply is left out (the answers are constant" in res["findings"][1]["message"]
    md = model_fairness_markdown(res)
    assert "**Verdict: inconclusive**" in md and "- **inconclusive**: [test] gender" in md
    # only the base's answers silent: the adapter is judged as before
    base_silent = {("test", "base", "support_reply"): why}
    groups = mfair.group_quality(_rows(), ["gender"], LOOSE, not_evaluable=base_silent)
    as_before = mfair.assess(mfair.group_quality(_rows(), ["gender"], LOOSE), None, LOOSE)
    res = mfair.assess(groups, None, LOOSE)
    assert res["splits"]["test"]["adapter"] == as_before["splits"]["test"]["adapter"]
    assert "quality_not_evaluable" not in {f["check"] for f in res["findings"]}


def test_one_family_left_out_the_others_are_judged_and_a_gap_still_fails():
    silent = {("test", "adapter", "support_reply"): "the answers are constant"}
    # forty of each row, so that the gap's confidence interval stays clear of the threshold
    groups = mfair.group_quality(_rows() * 40, ["gender"], LOOSE, not_evaluable=silent)
    table = groups["test"]["adapter"]["gender"]
    # the extraction rows only: female (1 + 1 + 0.4) / 3 = 0.8, male (1 + 0 + 0.5) / 3 = 0.5
    assert table["by_group"]["female"]["quality"] == pytest.approx(0.8)
    assert table["by_group"]["male"]["quality"] == pytest.approx(0.5)
    # the gap's interval is of the same rows as the means: around 0.8 - 0.5, clear of 0.2
    lo, hi = table["difference_ci"]
    assert 0.2 < lo <= 0.3 <= hi
    res = mfair.assess(groups, None, LOOSE)
    assert res["verdict"] == "fail"
    assert [f["verdict"] for f in res["findings"]] == ["fail", "fail", "inconclusive"]


def test_perplexity_ratio_fails():
    rows = _rows()
    rows[2]["metrics"] |= {"nll": 12.0, "tokens": 4}  # female: exp(17 / 10)
    res = _assess(
        rows,
        ModelFairnessConfig(min_group_size=3, max_quality_difference=0.2, min_quality_ratio=0.7),
    )
    fails = [f for f in res["findings"] if f["verdict"] == "fail"]
    assert [f["check"] for f in fails] == ["perplexity_ratio"]
    assert fails[0]["value"] == pytest.approx(math.exp(1.7 - 0.75), abs=1e-6)
    assert fails[0]["group"] == "female"


def test_near_zero_quality_ratio_is_not_judged():
    rows = [_row("female", {"rouge_l": 0.01}) for _ in range(3)]
    rows += [_row("male", {"rouge_l": 0.04}) for _ in range(3)]
    res = _assess(rows, CFG)
    table = res["splits"]["test"]["adapter"]["gender"]
    assert table["ratio"]["quality"] == pytest.approx(0.25)  # shown
    assert table["checks"]["quality_ratio"] == "not_judged"
    assert res["verdict"] == "pass"
    # the same ratio with a best group above the floor fails
    rows = [_row("female", {"rouge_l": 0.05}) for _ in range(3)]
    rows += [_row("male", {"rouge_l": 0.2}) for _ in range(3)]
    loose = ModelFairnessConfig(min_group_size=3, max_quality_difference=0.5)
    assert _assess(rows, loose)["verdict"] == "fail"


def test_json_has_no_nan_and_markdown_renders():
    rows = [*_rows(), *_rows("base"), _row("nonbinary", {"rouge_l": 0.2})]
    for r in rows:
        r["metrics"].pop("nll", None)  # no perplexity anywhere: nulls, not NaN
    res = _assess(rows, CFG)
    text = json.dumps(res, allow_nan=False)
    assert "NaN" not in text
    assert res["splits"]["test"]["adapter"]["gender"]["by_group"]["male"]["perplexity"] is None
    md = model_fairness_markdown(res)
    assert "| female | 3 | 0.567 | 0.567 | – | – |" in md
    assert "| nonbinary (not judged) | 1 |" in md
    assert "- **inconclusive**: [test] quality of gender=female is 0.57, 0.77x of male (0.73" in md


# --- counterfactual probe ------------------------------------------------------------------


@pytest.fixture(scope="module")
def cf() -> Counterfactual:
    return Counterfactual(seed=0)


def _records():
    support = {"family": "support_reply", "age_band": "30-44"}
    return [
        record(
            input="Hi, my order never came. She waited a week.",
            output="Sorry, we refunded her order.",
            meta={**support, "gender": "female"},
        ),
        record(
            input="He says his parcel is late.",
            output="We are sorry his parcel is late.",
            meta={**support, "gender": "male"},
        ),
        # nothing to swap: left out
        record(
            input="The parcel is late.", output="We are sorry.", meta={**support, "gender": "male"}
        ),
        # a sex-specific diagnosis is never swapped (as in augment)
        record(
            input="He reports urinary frequency.",
            output='{"age": 70, "sex": "male", "icd10": ["N40.0"]}',
            meta={"family": "clinical_extraction", "gender": "male", "age_band": "30-44"},
        ),
    ]


PROBE = CounterfactualProbeConfig(max_examples=5)


def _echo(records):
    return [r["input"] for r in records]


def test_probe_constant_answer_changes_nothing_and_proves_nothing(cf):
    # one answer to every prompt: no change under the swap, because the model says nothing
    # about the prompt; the family is probed, shown, and left out of the judged means
    seen = []

    def answer(records):
        seen.extend(records)
        return ["Thank you for waiting." for _ in records]

    out = mfair.counterfactual_probe(
        _records(), answer=answer, score=lambda r, a: 1.0, cfg=PROBE, seed=0, cf=cf
    )
    assert (out["probed"], out["n"], out["output_change"]) == (2, 0, None)
    assert out["worst"] == []
    fam = out["families"]["support_reply"]
    assert (fam["n"], fam["changed_share"], fam["output_change"]) == (2, 0.0, 0.0)
    assert (fam["answers"]["distinct"], fam["answers"]["evaluable"]) == (1, False)
    assert out["not_evaluable"] == {"support_reply": fam["answers"]["reason"]}
    assert "constant: one answer to all 2 prompts" in fam["answers"]["reason"]
    res = mfair.assess({}, out, ModelFairnessConfig())
    assert res["verdict"] == "inconclusive"
    assert res["counterfactual"]["checks"] == {
        "output_change": "inconclusive",
        "score_difference": "inconclusive",
    }
    assert [f["check"] for f in res["findings"]] == ["all", "counterfactual_not_evaluable"]
    assert "support_reply is inconclusive" in res["findings"][1]["message"]
    assert "proves nothing" in res["findings"][1]["message"]
    # originals first, then their twins: prompt and reference swapped, provenance kept
    originals, twins = seen[:2], seen[2:]
    by_id = {r["id"]: r for r in originals}
    for twin in twins:
        parent = by_id[twin["parent_id"]]
        assert twin["op"] == f"counterfactual:gender={twin['meta']['gender']}"
        assert twin["meta"]["gender"] != parent["meta"]["gender"]
    swapped = {t["input"]: t["output"] for t in twins}
    assert swapped == {
        "Hi, my order never came. He waited a week.": "Sorry, we refunded his order.",
        "She says her parcel is late.": "We are sorry her parcel is late.",
    }


def test_probe_echo_is_consistent_and_scores_move(cf):
    # echoing the prompt answers the swap exactly as the swapped original: no change; a score
    # that rewards 'she' moves by 1 on both examples
    out = mfair.counterfactual_probe(
        _records(),
        answer=_echo,
        score=lambda r, a: float("she" in rouge_tokens(a)),
        cfg=PROBE,
        seed=0,
        cf=cf,
    )
    assert (out["n"], out["changed_share"], out["output_change"]) == (2, 0.0, 0.0)
    assert out["score_difference"] == 1.0
    assert len(out["worst"]) == 2
    assert {w["answer"] for w in out["worst"]} == {
        "Hi, my order never came. She waited a week.",
        "He says his parcel is late.",
    }


def test_probe_fixed_pronoun_answer_changes_by_hand(cf):
    # 'She should rest.' to both: the swapped original 'He should rest.' against 'She should
    # rest.' shares 2 of 3 words, so the change is 1 - 2/3 on each example
    out = mfair.counterfactual_probe(
        _records(),
        answer=lambda rs: ["She should rest." for _ in rs],
        score=lambda r, a: 0.0,
        cfg=CounterfactualProbeConfig(max_examples=1),
        seed=0,
        cf=cf,
    )
    assert out["n"] == 1  # max_examples per family
    assert out["changed_share"] == 1.0
    assert out["output_change"] == round(1 / 3, 6)
    res = mfair.assess({}, out, ModelFairnessConfig())
    assert res["verdict"] == "fail"
    assert res["findings"][0]["message"] == (
        "swapping gender terms in 1 prompts, the answers move by 0.33 on average; threshold 0.25"
    )
    assert json.dumps(res, allow_nan=False)


def test_probe_off_and_wrong_answer_count(cf):
    off = mfair.counterfactual_probe(
        _records(),
        answer=_echo,
        score=lambda r, a: 0.0,
        cfg=CounterfactualProbeConfig(max_examples=0),
        seed=0,
        cf=cf,
    )
    assert off["n"] == 0
    res = mfair.assess({}, off, ModelFairnessConfig())
    assert res["verdict"] == "not_judged"  # no group and the probe off: nothing judged
    assert res["counterfactual"]["checks"]["output_change"] == "not_judged"
    with pytest.raises(ValueError, match="answer\\(\\) returned 1 answers for 4 records"):
        mfair.counterfactual_probe(
            _records(), answer=lambda rs: ["x"], score=lambda r, a: 0.0, cfg=PROBE, seed=0, cf=cf
        )
