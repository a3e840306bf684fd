"""Does the model say anything? The spread of a group's generated answers.

A model that gives every prompt the same answer (or none) still gets a number from every task
metric, and passes every probe that looks for a change (a gender swap moves nothing) or a leak
(nothing comes back): numbers that hold only because the model says nothing. :func:`spread`
measures a group of answers and says whether they can be judged at all:

- *empty*: an answer with no letter or digit (ROUGE's tokens: ``""``, ``"\\n\\n"``, ``"{}"``);
- *distinct*: answers after near duplicates are merged, greedily in order: an answer whose
  ROUGE-L F1 with an earlier distinct answer is at least ``near_duplicate_rouge`` is not
  distinct (a degenerate model repeats one answer with a different tail).

A group is **not evaluable** when more than ``max_empty_share`` of its answers are empty, or
when fewer than ``min_distinct_share`` of them are distinct (or one answer stands for all of
them, however few) *and* its references are more varied than its answers (so a task whose
right answers are few, yes or no, is not mistaken for a model that says nothing; without
references, as for the privacy probes, the answers alone decide). Thresholds:
``evaluate.min_distinct_share``, ``evaluate.max_empty_share``, ``evaluate.near_duplicate_rouge``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from provena.config import EvaluateConfig
from provena.scores import lcs_length, rouge_tokens

#: what a "pass" over answers that are not evaluable would claim, and why it cannot
WHY_INCONCLUSIVE = (
    "a model that says nothing shows no change and leaks nothing: that proves nothing"
)


@dataclass(frozen=True)
class SpreadRule:
    """When a group of answers is not evaluable (the ``evaluate`` params of the same names)."""

    min_distinct_share: float = EvaluateConfig.model_fields["min_distinct_share"].default
    max_empty_share: float = EvaluateConfig.model_fields["max_empty_share"].default
    near_duplicate_rouge: float = EvaluateConfig.model_fields["near_duplicate_rouge"].default

    @classmethod
    def of(cls, cfg: EvaluateConfig) -> SpreadRule:
        return cls(cfg.min_distinct_share, cfg.max_empty_share, cfg.near_duplicate_rouge)

    def asdict(self) -> dict[str, float]:
        return asdict(self)


def distinct_count(texts: Sequence[str], near: float) -> int:
    """How many of ``texts`` are distinct: each is compared, in order, with the distinct ones
    before it, and is a near duplicate of one when their ROUGE-L F1 is at least ``near``."""
    kept: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for text in texts:
        toks = rouge_tokens(text)
        if tuple(toks) in seen:
            continue
        seen.add(tuple(toks))  # the same tokens: a duplicate, found without a comparison
        # F1 = 2 LCS / (len a + len b), and LCS is at most the shorter: the length test skips
        # pairs that cannot reach ``near`` (and every pair with one side empty)
        if not any(
            2 * min(len(toks), len(other)) >= near * (len(toks) + len(other))
            and 2 * lcs_length(toks, other) >= near * (len(toks) + len(other))
            for other in kept
        ):
            kept.append(toks)
    return len(kept)


def _share(k: int, n: int) -> float | None:
    return round(k / n, 6) if n else None


def spread(
    answers: Sequence[str], references: Sequence[str] | None, rule: SpreadRule
) -> dict[str, Any]:
    """The spread of one group's answers and whether they are evaluable, with the reason.

    ``references``: the group's reference answers (None where there are none, as for a privacy
    probe): the answers are "nearly constant" only where the references vary more.
    ``evaluable`` is None when there is no answer (nothing to judge)."""
    n = len(answers)
    empty = sum(1 for a in answers if not rouge_tokens(a))
    distinct = distinct_count(answers, rule.near_duplicate_rouge)
    out: dict[str, Any] = {
        "answers": n,
        "distinct": distinct,
        "distinct_share": _share(distinct, n),
        "empty": empty,
        "empty_share": _share(empty, n),
    }
    if references is not None:
        ref_distinct = distinct_count(references, rule.near_duplicate_rouge)
        out["reference_distinct_share"] = _share(ref_distinct, len(references))
    if not n:
        return out | {"evaluable": None, "reason": "no answer was generated"}
    reasons = []
    if empty / n > rule.max_empty_share:
        reasons.append(
            f"{empty} of {n} answers are empty (no letter or digit; more than "
            f"max_empty_share {rule.max_empty_share:g})"
        )
    ref_share = out.get("reference_distinct_share")
    less_varied = ref_share is None or distinct / n < ref_share
    # one answer to prompts whose references differ is constant however few the prompts
    constant = distinct == 1 and n > 1 and less_varied
    if constant or (distinct / n < rule.min_distinct_share and less_varied):
        near = f"answers with ROUGE-L >= {rule.near_duplicate_rouge:g} count as one"
        if distinct == 1:
            text = f"the answers are constant: one answer to all {n} prompts ({near})"
        else:
            text = (
                f"the answers are nearly constant: {distinct} distinct of {n} "
                f"({distinct / n:.0%}, under min_distinct_share {rule.min_distinct_share:g}; "
                f"{near})"
            )
        if ref_share is not None:
            text += f", where the references are {ref_share:.0%} distinct"
        reasons.append(text)
    return out | {"evaluable": not reasons, "reason": "; ".join(reasons) or None}
