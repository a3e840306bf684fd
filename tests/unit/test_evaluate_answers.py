"""evaluate.answers: a group of answers that is constant, empty or nearly so is not evaluable,
with its distinct and empty shares; a task whose right answers are few is not mistaken for it."""

from __future__ import annotations

import pytest

from provena.config import EvaluateConfig
from provena.evaluate.answers import SpreadRule, distinct_count, spread

RULE = SpreadRule()
REFS = [f'{{"age": {20 + i}, "sex": "female", "icd10": ["R0{i % 10}"]}}' for i in range(10)]


def test_the_rule_is_the_params():
    cfg = EvaluateConfig(min_distinct_share=0.5, max_empty_share=0.1, near_duplicate_rouge=0.8)
    assert SpreadRule.of(cfg).asdict() == {
        "min_distinct_share": 0.5,
        "max_empty_share": 0.1,
        "near_duplicate_rouge": 0.8,
    }
    assert SpreadRule() == SpreadRule.of(EvaluateConfig())


def test_near_duplicates_count_once_and_distinct_answers_each_count():
    tail = ' "sex": "sex": "sex": "sex": "sex": "sex": "sex": "sex": "sex"'
    degenerate = [
        '{"age":' + tail * 3,
        '{"age":' + tail * 3 + ' ["R05"',
        '{"age": "icd10":' + tail * 3,
    ]
    assert distinct_count(degenerate, 0.9) == 1
    assert distinct_count(REFS, 0.9) == 10
    one_field_apart = ['{"age": 20, "sex": "female"}', '{"age": 21, "sex": "female"}']
    assert distinct_count(one_field_apart, 0.9) == 2  # ROUGE-L 3/4: two answers
    assert distinct_count(one_field_apart, 0.75) == 1
    assert distinct_count(["", "\n", "{}", "a"], 0.9) == 2  # empty ones are one answer


@pytest.mark.parametrize(
    ("answers", "evaluable", "distinct", "empty", "why"),
    [
        (['{"age": "sex": "sex"'] * 10, False, 1, 0, "constant: one answer to all 10 prompts"),
        (["", "\n\n", "{}"] * 3 + ["ok"], False, 2, 9, "9 of 10 answers are empty"),
        (["x y z"] * 8 + ["a b", "c d"], False, 3, 0, "nearly constant: 3 distinct of 10 (30%"),
        (REFS, True, 10, 0, None),
    ],
    ids=["constant", "empty", "nearly-constant", "diverse"],
)
def test_constant_empty_and_diverse_answers(answers, evaluable, distinct, empty, why):
    rule = SpreadRule(min_distinct_share=0.4)  # 3 of 10 is under it
    out = spread(answers, REFS, rule)
    assert (out["evaluable"], out["distinct"], out["empty"]) == (evaluable, distinct, empty)
    assert out["distinct_share"] == distinct / 10 and out["empty_share"] == empty / 10
    assert out["reference_distinct_share"] == 1.0
    if why is None:
        assert out["reason"] is None
    else:
        assert why in out["reason"] and "references are 100% distinct" in out["reason"]


def test_few_right_answers_are_not_a_model_that_says_nothing():
    refs = ["yes", "no"] * 10
    assert spread(["no", "yes"] * 10, refs, RULE)["evaluable"] is True  # as varied as the task
    assert spread(["yes"] * 20, ["yes"] * 20, RULE)["evaluable"] is True  # right, every time
    constant = spread(["yes"] * 20, refs, RULE)  # one answer where the truth has two
    assert constant["evaluable"] is False and "constant" in constant["reason"]
    # no references (a privacy probe): the answers alone decide
    assert spread(["no", "yes"] * 10, None, RULE)["evaluable"] is False
    assert "reference_distinct_share" not in spread(["a"], None, RULE)


def test_no_answer_is_nothing_to_judge():
    out = spread([], [], RULE)
    assert (out["evaluable"], out["distinct_share"], out["empty_share"]) == (None, None, None)
