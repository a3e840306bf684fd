"""Model fairness: is the model's own quality the same for every group the data audit used?

Two views, both on the evaluate stage's outputs:

- **Group quality** (:func:`group_quality`): the per-example task score of each prediction row
  (:func:`per_example_quality`: the mean of age and sex exact match and ICD-10 F1 for an
  extraction, ROUGE-L for a free-text reply) and the perplexity of the group (``exp`` of its
  summed NLL over its summed response tokens), grouped by each sensitive attribute (and
  intersection) with fairlearn's :class:`~fairlearn.metrics.MetricFrame`, for each split and
  each model (base and adapter) separately, with the difference and the ratio between the
  groups large enough to judge. As in the data audit, groups smaller than ``min_group_size``
  and rows without the attribute (the ``unknown`` group) are shown, never judged.
- **Counterfactual probe** (:func:`counterfactual_probe`): prompts whose gender terms the
  augment stage's :class:`~provena.counterfactual.Counterfactual` swap changes are answered
  as they are and swapped; the answer to the original, put through the same swap, is compared
  with the answer to the swap (ROUGE-L), and each answer is scored against its own reference.

Where a family's answers are not evaluable (constant, empty or nearly so: :mod:`.answers`),
its quality is left out of the group tables and of the counterfactual means, and the checks
that would pass over it are **inconclusive**: a gap of zero, or no change under a swap, from a
model that says nothing proves nothing. The verdict is ``fail`` over any failure, else
``inconclusive`` over any inconclusive finding, else ``pass`` (or ``not_judged``).

:func:`assess` turns both into the JSON the evaluate stage writes (``audits/model_fairness.json``)
with a verdict from the thresholds in ``params.yaml`` (``evaluate.fairness``), judged on the
adapter only; :mod:`provena.card.sections` renders that JSON for the model card. Everything here is
pure: rows and records in, plain JSON-able data out.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from provena.config import CounterfactualProbeConfig, ModelFairnessConfig
from provena.counterfactual import Counterfactual, sex_specific
from provena.evaluate.answers import WHY_INCONCLUSIVE, SpreadRule, spread
from provena.records import NO_FAMILY, Record, make_record
from provena.scores import parse_extraction, rouge_l, rouge_tokens

UNKNOWN = "unknown"
EXTRACTION_KEYS = ("age_em", "sex_em", "icd10_f1")
WORST_SHOWN = 5
ANSWER_CHARS = 200


def _r(x: Any) -> float | None:
    """A float rounded to 6 places; None for None, NaN and infinities (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


# ------------------------------------------------------------------------ per-example scores


def per_example_quality(row: dict[str, Any]) -> float | None:
    """The task score of one evaluate prediction row: the mean of age_em, sex_em and icd10_f1
    for an extraction, rouge_l for a free-text reply; None when the row has neither."""
    m = row.get("metrics") or {}
    if all(k in m for k in EXTRACTION_KEYS):
        return float(sum(float(m[k]) for k in EXTRACTION_KEYS) / len(EXTRACTION_KEYS))
    if "rouge_l" in m:
        return float(m["rouge_l"])
    return None


def per_example_perplexity(row: dict[str, Any]) -> float | None:
    """exp(nll / tokens) of one row when evaluate scored its reference (else None)."""
    m = row.get("metrics") or {}
    tokens = m.get("tokens")
    if m.get("nll") is None or not tokens:
        return None
    return math.exp(float(m["nll"]) / int(tokens))


# ------------------------------------------------------------------------------ group tables


def _quality_mean(y_true, y_pred, quality):  # y_true, y_pred unused: fairlearn's signature
    q = np.asarray(quality, dtype=float)
    q = q[~np.isnan(q)]
    return float(q.mean()) if len(q) else float("nan")


def _group_perplexity(y_true, y_pred, nll, tokens):
    """exp(sum NLL / sum tokens): the group's token-weighted perplexity, not a mean of the
    per-example perplexities (which would over-weight short answers)."""
    t = float(np.asarray(tokens, dtype=float).sum())
    return math.exp(float(np.asarray(nll, dtype=float).sum()) / t) if t else float("nan")


def _count(y_true, y_pred):
    return float(len(y_true))


def _label(row: dict[str, Any], attr: str) -> str:
    value = row.get(attr)
    if value is None and isinstance(row.get("meta"), dict):
        value = row["meta"].get(attr)
    return UNKNOWN if value in (None, "") else str(value)


def _metric_frame(rows: list[dict[str, Any]], groups: list[str], skip: Iterable[str] = ()):
    """fairlearn's frame of ``rows`` by ``groups``; the quality of rows of the families in
    ``skip`` (answers not evaluable) is left out, their perplexity kept."""
    from fairlearn.metrics import MetricFrame

    skip = set(skip)
    quality = np.array(
        [
            np.nan if _row_family(r) in skip or (q := per_example_quality(r)) is None else q
            for r in rows
        ],
        dtype=float,
    )
    nll = np.array([float(r["metrics"].get("nll") or 0.0) for r in rows], dtype=float)
    # a row without an NLL has no tokens in the perplexity: it must not dilute its group
    tokens = np.array(
        [float(r["metrics"].get("tokens") or 0) if "nll" in r["metrics"] else 0.0 for r in rows]
    )
    dummy = np.zeros(len(rows))
    return MetricFrame(
        metrics={"count": _count, "quality": _quality_mean, "perplexity": _group_perplexity},
        y_true=dummy,
        y_pred=dummy,
        sensitive_features=np.asarray(groups, dtype=object),
        sample_params={
            "quality": {"quality": quality},
            "perplexity": {"nll": nll, "tokens": tokens},
        },
    )


def _row_family(row: dict[str, Any]) -> str:
    return str(row.get("family") or NO_FAMILY)


def _table(
    rows: list[dict[str, Any]],
    attrs: list[str],
    cfg: ModelFairnessConfig,
    left_out: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One attribute (or intersection) for one model on one split: by group, overall,
    difference and ratio between the groups that are judged. ``left_out``: family -> why its
    answers are not evaluable (its quality is left out)."""
    parts = [[_label(r, a) for a in attrs] for r in rows]
    groups = [" & ".join(p) for p in parts]
    unknown = {g for g, p in zip(groups, parts, strict=True) if UNKNOWN in p}
    present = {_row_family(r) for r in rows}
    skip = {f: why for f, why in (left_out or {}).items() if f in present}
    mf = _metric_frame(rows, groups, skip)
    # quality mixes task families (exact match and F1 vs ROUGE-L): each group's mix is shown so
    # a gap that is only a difference of mix can be told apart
    mix: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r, g in zip(rows, groups, strict=True):
        mix[g][str(r.get("family") or NO_FAMILY)] += 1
    by_group: dict[str, Any] = {}
    judged = []
    for g in sorted(mf.by_group.index, key=str):
        n = int(mf.by_group.loc[g, "count"])
        entry: dict[str, Any] = {
            "n": n,
            "quality": _r(mf.by_group.loc[g, "quality"]),
            "perplexity": _r(mf.by_group.loc[g, "perplexity"]),
            "families": dict(sorted(mix[g].items())),
            "judged": True,
        }
        if g in unknown:
            entry |= {"judged": False, "reason": "attribute not recorded"}
        elif n < cfg.min_group_size:
            entry |= {
                "judged": False,
                "reason": f"too small to judge (fewer than {cfg.min_group_size} examples)",
            }
        else:
            judged.append(str(g))
        by_group[str(g)] = entry
    out: dict[str, Any] = {
        "attributes": attrs,
        "examples": len(rows),
        # rows that carry every attribute of the table (the rest are the unknown group)
        "recorded": sum(1 for p in parts if UNKNOWN not in p),
        "overall": {
            "n": len(rows),
            "quality": _r(mf.overall["quality"]),
            "perplexity": _r(mf.overall["perplexity"]),
        },
        "by_group": by_group,
        "judged_groups": judged,
        "difference": {"quality": None, "perplexity": None},
        "ratio": {"quality": None, "perplexity": None},
        "best": {"quality": None, "perplexity": None},
        "worst": {"quality": None, "perplexity": None},
        "quality_ratio_judged": False,
    }
    if skip:
        out["quality_left_out"] = dict(sorted(skip.items()))
    if len(judged) < 2:
        out["note"] = "fewer than two groups large enough to judge"
        return out
    keep = [i for i, g in enumerate(groups) if g in judged]
    sub = _metric_frame([rows[i] for i in keep], [groups[i] for i in keep], skip)
    diff = sub.difference(method="between_groups")
    ratio = sub.ratio(method="between_groups")
    q = {g: by_group[g]["quality"] for g in judged if by_group[g]["quality"] is not None}
    p = {g: by_group[g]["perplexity"] for g in judged if by_group[g]["perplexity"] is not None}
    if len(q) >= 2:
        best, worst = max(q, key=q.get), min(q, key=q.get)
        out["best"]["quality"], out["worst"]["quality"] = best, worst
        out["difference"]["quality"] = _r(diff["quality"])
        out["ratio"]["quality"] = _r(ratio["quality"])  # worst / best, at most 1
        # a model that scores ~0 everywhere has ratios of noise: shown, not judged
        out["quality_ratio_judged"] = q[best] >= cfg.min_quality_to_judge_ratio
        out["difference_ci"], out["ratio_ci"] = _gap_ci(
            rows, groups, best, worst, cfg.ci, skip=set(skip)
        )
    if len(p) >= 2:
        out["best"]["perplexity"], out["worst"]["perplexity"] = min(p, key=p.get), max(p, key=p.get)
        out["difference"]["perplexity"] = _r(diff["perplexity"])
        r = float(ratio["perplexity"])  # fairlearn's min / max; worst / best is its inverse
        out["ratio"]["perplexity"] = _r(1 / r) if r > 0 else None
    return out


def group_quality(
    rows: Iterable[dict[str, Any]],
    attributes: Sequence[str],
    cfg: ModelFairnessConfig,
    *,
    intersections: Iterable[Sequence[str]] = (),
    not_evaluable: dict[tuple[str, str, str], str] | None = None,
) -> dict[str, Any]:
    """``{split: {model: {attribute: table}}}`` for evaluate's prediction rows; an
    intersection's key is its attributes joined by " x " (as in the data audit).
    ``not_evaluable``: (split, model, family) -> why its answers are not evaluable: the
    quality of its rows is left out (``quality_left_out`` in each table), their perplexity
    kept."""
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for i, row in enumerate(rows):
        for key in ("split", "model", "metrics"):
            if key not in row:
                raise ValueError(f"prediction row {i} (id {row.get('id')!r}) has no {key!r}")
        by[(str(row["split"]), str(row["model"]))].append(row)
    combos = [[a] for a in attributes] + [list(c) for c in intersections]
    out: dict[str, Any] = {}
    for (split, model_name), model_rows in sorted(by.items()):
        left_out = {
            fam: why
            for (s, m, fam), why in (not_evaluable or {}).items()
            if (s, m) == (split, model_name)
        }
        out.setdefault(split, {})[model_name] = {
            " x ".join(c): _table(model_rows, c, cfg, left_out) for c in combos
        }
    return out


# -------------------------------------------------------------------- counterfactual probe


def _family(rec: Record) -> str:
    return str(rec["meta"].get("family") or NO_FAMILY)


def _target(rec: Record) -> str:
    """The other binary gender. Both binary targets mirror every gendered word, so a record
    without a recorded gender is mirrored all the same."""
    return "male" if rec["meta"].get("gender") == "female" else "female"


def _swap_ok(rec: Record) -> bool:
    """A note whose diagnoses are sex-specific is never given another sex (as in augment)."""
    ref = parse_extraction(rec["output"])
    codes = ref.get("icd10") if ref else None
    return not (isinstance(codes, list) and sex_specific([str(c) for c in codes]))


def _twins(
    records: list[Record], cf: Counterfactual, n: int
) -> list[tuple[Record, Record, str, str]]:
    """At most ``n`` (record, swapped twin, target, key) per family, first by id, among the
    records whose prompt the swap changes; input and output are swapped, as augment does."""
    by_family: dict[str, list[Record]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r["id"]):
        if _swap_ok(rec):
            by_family[_family(rec)].append(rec)
    out = []
    for fam in sorted(by_family):
        found: list[tuple[Record, Record, str, str]] = []
        todo = by_family[fam]
        while todo and len(found) < n:
            # swap in batches (one tagger pass each) until enough prompts changed
            chunk, todo = todo[: 2 * n], todo[2 * n :]
            texts, targets, keys = [], [], []
            for rec in chunk:
                t, k = _target(rec), f"{rec['id']}:{_target(rec)}"
                texts += [rec["input"], rec["output"]]
                targets += [t, t]
                keys += [k, k]
            done = cf.gender_swap_many(texts, targets, keys)
            for i, rec in enumerate(chunk):
                new_in, new_out = done[2 * i], done[2 * i + 1]
                if new_in == rec["input"] or len(found) >= n:
                    continue
                meta = dict(rec["meta"])
                meta["gender"] = _target(rec)
                twin = make_record(
                    source=rec["source"],
                    instruction=rec["instruction"],
                    input=new_in,
                    output=new_out,
                    messages=None,
                    meta=meta,
                    parent_id=rec["id"],
                    op=f"counterfactual:gender={_target(rec)}",
                )
                found.append((rec, twin, targets[2 * i], keys[2 * i]))
        out += found
    return out


def _summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(items)
    if not n:
        return {"n": 0, "changed_share": None, "output_change": None, "score_difference": None}
    return {
        "n": n,
        "changed_share": _r(sum(i["changed"] for i in items) / n),
        "output_change": _r(sum(i["output_change"] for i in items) / n),
        "score_difference": _r(sum(i["score_difference"] for i in items) / n),
    }


def counterfactual_probe(
    records: Sequence[Record],
    *,
    answer: Callable[[list[Record]], list[str]],
    score: Callable[[Record, str], float],
    cfg: CounterfactualProbeConfig,
    seed: int,
    cf: Counterfactual | None = None,
    rule: SpreadRule | None = None,
) -> dict[str, Any]:
    """Do the model's answers move when a prompt's gender terms are swapped?

    For at most ``cfg.max_examples`` records per family whose prompt the swap changes, the
    original and its swapped twin are answered (``answer``). The answer to the original is put
    through the same swap (same target and key, so names map the same way) and compared with
    the answer to the twin: output change = 1 - ROUGE-L between them, and an answer "changed"
    when their ROUGE tokens differ. Each answer is also scored against its own record's
    reference (``score``). ``cf`` reuses a loaded :class:`Counterfactual` (else one is built
    with ``seed``).

    The answers to the originals of each family are measured against their references
    (``rule``, default :class:`SpreadRule`): a family whose answers are not evaluable is shown
    in ``families`` and listed in ``not_evaluable``, and left out of the overall means (``n``
    counts the pairs judged, ``probed`` every pair), so a model that says nothing adds no
    zeros to them.
    """
    rule = rule or SpreadRule()
    base: dict[str, Any] = {
        "attribute": cfg.attribute,
        "method": "1 - ROUGE-L(swap(answer to original), answer to swapped prompt)",
        "max_examples": cfg.max_examples,
    }
    if cfg.max_examples == 0:
        return base | _summary([]) | {"families": {}, "worst": []}
    cf = cf or Counterfactual(seed=seed)
    twins = _twins(list(records), cf, cfg.max_examples)
    if not twins:
        return base | _summary([]) | {"families": {}, "worst": []}
    answers = answer([o for o, *_ in twins] + [t for _, t, *_ in twins])
    if len(answers) != 2 * len(twins):
        raise ValueError(f"answer() returned {len(answers)} answers for {2 * len(twins)} records")
    a0, a1 = answers[: len(twins)], answers[len(twins) :]
    mapped = cf.gender_swap_many(a0, [t for *_, t, _ in twins], [k for *_, k in twins])
    items = []
    for (orig, twin, _, _), x0, x1, m0 in zip(twins, a0, a1, mapped, strict=True):
        items.append(
            {
                "id": orig["id"],
                "family": _family(orig),
                "changed": rouge_tokens(m0) != rouge_tokens(x1),
                "output_change": 1.0 - rouge_l(m0, x1),
                "score_difference": abs(float(score(orig, x0)) - float(score(twin, x1))),
                "answer": x0[:ANSWER_CHARS],
                "answer_swapped": x1[:ANSWER_CHARS],
            }
        )
    families, silent = {}, {}
    for fam in sorted({i["family"] for i in items}):
        pairs = [(i, x0, o) for i, x0, (o, *_) in zip(items, a0, twins, strict=True)]
        mine = [(i, x0, o) for i, x0, o in pairs if i["family"] == fam]
        answers = spread([x0 for _, x0, _ in mine], [o["output"] for *_, o in mine], rule)
        families[fam] = _summary([i for i, *_ in mine]) | {"answers": answers}
        if answers["evaluable"] is False:
            silent[fam] = answers["reason"]
    worst = sorted(items, key=lambda i: (-i["output_change"], -i["score_difference"], i["id"]))
    shown = [
        {
            "id": i["id"],
            "family": i["family"],
            "output_change": _r(i["output_change"]),
            "score_difference": _r(i["score_difference"]),
            "answer": i["answer"],
            "answer_swapped": i["answer_swapped"],
        }
        for i in worst[:WORST_SHOWN]
        if i["changed"] or i["score_difference"] > 0
    ]
    judged = [i for i in items if i["family"] not in silent]
    return (
        base
        | _summary(judged)
        | {"probed": len(items), "families": families, "not_evaluable": silent, "worst": shown}
    )


def _gap_ci(
    rows, groups, best: str, worst: str, ci: float, skip: set[str] = frozenset()
) -> tuple[list, list]:
    """Intervals (normal approximation, delta method for the ratio) of the quality difference
    best - worst and the ratio worst / best, from the per-example scores of the two groups;
    rows of the families in ``skip`` (answers not evaluable) count no more than in the means."""
    from statistics import NormalDist

    def scores(g: str) -> np.ndarray:
        vals = [
            per_example_quality(r)
            for r, gg in zip(rows, groups, strict=True)
            if gg == g and _row_family(r) not in skip
        ]
        return np.array([v for v in vals if v is not None], dtype=float)

    b, w = scores(best), scores(worst)
    z = NormalDist().inv_cdf(0.5 + ci / 2)
    vb = float(b.var(ddof=1)) / len(b) if len(b) > 1 else math.inf
    vw = float(w.var(ddof=1)) / len(w) if len(w) > 1 else math.inf
    mb, mw = float(b.mean()), float(w.mean())
    half = z * math.sqrt(vb + vw)
    diff = [_r(mb - mw - half), _r(mb - mw + half)]
    if mb <= 0 or not math.isfinite(half):
        return diff, [0.0, None]
    r = mw / mb
    se = math.sqrt(vw + r * r * vb) / mb
    return diff, [_r(max(0.0, r - z * se)), _r(r + z * se)]


def _side(lo: float | None, hi: float | None, threshold: float, fail_above: bool) -> str:
    """fail or pass when the whole interval is on one side of ``threshold``; else
    inconclusive (an unknown bound counts as crossing)."""
    if lo is None or hi is None:
        return "inconclusive"
    if fail_above:
        return "fail" if lo > threshold else "pass" if hi <= threshold else "inconclusive"
    return "fail" if hi < threshold else "pass" if lo >= threshold else "inconclusive"


# --------------------------------------------------------------------------------- verdict


def _finding(verdict: str, check: str, where: dict[str, Any], value: Any, threshold: Any, msg: str):
    return {
        "verdict": verdict,
        "check": check,
        **where,
        "value": value if isinstance(value, int) else _r(value),
        "threshold": threshold,
        "message": msg,
    }


def _judge_table(
    split: str, attr: str, table: dict[str, Any], cfg: ModelFairnessConfig
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(check -> verdict, findings) of the adapter's table for one attribute on one split."""
    where = {"split": split, "model": "adapter", "attribute": attr}
    checks: dict[str, str] = {}
    found: list[dict[str, Any]] = []
    left = table.get("quality_left_out") or {}
    if left:
        found.append(
            _finding(
                "inconclusive",
                "quality_not_evaluable",
                where | {"families": sorted(left)},
                len(left),
                None,
                f"[{split}] {attr}: the quality of "
                + "; ".join(f"{fam} is left out ({why})" for fam, why in sorted(left.items()))
                + f": the adapter's answers there are not evaluable, and {WHY_INCONCLUSIVE}",
            )
        )
    for g, e in table["by_group"].items():
        if not e["judged"]:
            unknown = UNKNOWN in g.split(" & ")
            n = f"{e['n']} example" + ("" if e["n"] == 1 else "s")
            found.append(
                _finding(
                    "not_judged",
                    "unknown_group" if unknown else "group_size",
                    where | {"group": g},
                    e["n"],
                    None if unknown else cfg.min_group_size,
                    f"[{split}] {attr}={g}: {n}, {e['reason']}; shown, not judged",
                )
            )
    best, worst = table["best"]["quality"], table["worst"]["quality"]
    diff, ratio = table["difference"]["quality"], table["ratio"]["quality"]
    if diff is None:
        # every family left out: the quality comparison is inconclusive, not merely not judged
        checks["quality_difference"] = checks["quality_ratio"] = (
            "inconclusive" if left else "not_judged"
        )
    else:
        qb, qw = table["by_group"][best]["quality"], table["by_group"][worst]["quality"]
        dci = table.get("difference_ci") or [diff, diff]
        verdict = _side(dci[0], dci[1], cfg.max_quality_difference, fail_above=True)
        checks["quality_difference"] = verdict
        if verdict != "pass":
            found.append(
                _finding(
                    verdict,
                    "quality_difference",
                    where | {"group": worst},
                    diff,
                    cfg.max_quality_difference,
                    f"[{split}] quality of {attr}={worst} is {qw:.2f}, {diff:.2f} below "
                    f"{best} ({qb:.2f}; {cfg.ci:.0%} interval {dci[0]} to {dci[1]}); "
                    f"threshold {cfg.max_quality_difference}"
                    + ("" if verdict == "fail" else ": the interval crosses it, inconclusive"),
                )
            )
        if not table["quality_ratio_judged"]:
            checks["quality_ratio"] = "not_judged"
            found.append(
                _finding(
                    "not_judged",
                    "quality_ratio",
                    where,
                    qb,
                    cfg.min_quality_to_judge_ratio,
                    f"[{split}] {attr}: best-group quality {qb:.2f} is below "
                    f"{cfg.min_quality_to_judge_ratio}; the ratio is shown, not judged",
                )
            )
        elif ratio is None:  # 0 / 0: every judged group scores zero
            checks["quality_ratio"] = "not_judged"
        else:
            rci = table.get("ratio_ci") or [ratio, ratio]
            verdict = _side(rci[0], rci[1], cfg.min_quality_ratio, fail_above=False)
            checks["quality_ratio"] = verdict
            if verdict != "pass":
                found.append(
                    _finding(
                        verdict,
                        "quality_ratio",
                        where | {"group": worst},
                        ratio,
                        cfg.min_quality_ratio,
                        f"[{split}] quality of {attr}={worst} is {qw:.2f}, {ratio:.2f}x of "
                        f"{best} ({qb:.2f}; {cfg.ci:.0%} interval {rci[0]} to {rci[1]}); "
                        f"threshold {cfg.min_quality_ratio}x"
                        + ("" if verdict == "fail" else ": the interval crosses it, inconclusive"),
                    )
                )
    pr = table["ratio"]["perplexity"]
    if pr is None:
        checks["perplexity_ratio"] = "not_judged"
    else:
        pw, pb = table["worst"]["perplexity"], table["best"]["perplexity"]
        fail = pr > cfg.max_perplexity_ratio
        checks["perplexity_ratio"] = "fail" if fail else "pass"
        if fail:
            found.append(
                _finding(
                    "fail",
                    "perplexity_ratio",
                    where | {"group": pw},
                    pr,
                    cfg.max_perplexity_ratio,
                    f"[{split}] perplexity of {attr}={pw} is "
                    f"{table['by_group'][pw]['perplexity']:.2f}, {pr:.2f}x of {pb} "
                    f"({table['by_group'][pb]['perplexity']:.2f}); threshold "
                    f"{cfg.max_perplexity_ratio}x",
                )
            )
    return checks, found


def _judge_counterfactual(
    cfact: dict[str, Any], cfg: CounterfactualProbeConfig
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    where = {"model": "adapter", "attribute": cfact.get("attribute", cfg.attribute)}
    silent = cfact.get("not_evaluable") or {}
    found: list[dict[str, Any]] = []
    if silent:
        found.append(
            _finding(
                "inconclusive",
                "counterfactual_not_evaluable",
                where | {"families": sorted(silent)},
                len(silent),
                None,
                "the counterfactual probe over "
                + "; ".join(f"{fam} is inconclusive ({why})" for fam, why in sorted(silent.items()))
                + f": {WHY_INCONCLUSIVE}",
            )
        )
        if not cfact.get("n"):  # no family left to judge
            return {"output_change": "inconclusive", "score_difference": "inconclusive"}, found
    if not cfact.get("n"):
        msg = "no prompt was changed by the swap: the counterfactual probe judged nothing"
        if cfact.get("max_examples") == 0:
            msg = "the counterfactual probe is off (max_examples: 0)"
        return (
            {"output_change": "not_judged", "score_difference": "not_judged"},
            [_finding("not_judged", "counterfactual", where, 0, None, msg)],
        )
    checks = {}
    for check, key, limit, what in (
        ("counterfactual_output_change", "output_change", cfg.max_output_change, "answers move"),
        (
            "counterfactual_score_difference",
            "score_difference",
            cfg.max_quality_difference,
            "scores move",
        ),
    ):
        value = cfact[key]
        fail = value is not None and value > limit
        checks[key] = "fail" if fail else "pass"
        if fail:
            found.append(
                _finding(
                    "fail",
                    check,
                    where,
                    value,
                    limit,
                    f"swapping {where['attribute']} terms in {cfact['n']} prompts, the "
                    f"{what} by {value:.2f} on average; threshold {limit}",
                )
            )
    return checks, found


def assess(
    groups: dict[str, Any],
    counterfactual: dict[str, Any] | None,
    cfg: ModelFairnessConfig,
    *,
    judge_intersections: bool = False,
) -> dict[str, Any]:
    """The model fairness report (``audits/model_fairness.json``): verdict, findings (failures
    first), thresholds, the group tables of :func:`group_quality` and the counterfactual probe.
    Only the adapter is judged; the base is shown for comparison. Intersections are shown and,
    as in the data audit's default, not judged unless ``judge_intersections``."""
    splits: dict[str, Any] = {}
    findings: list[dict[str, Any]] = []
    for split, models in groups.items():
        splits[split] = {}
        for model_name, tables in models.items():
            splits[split][model_name] = {}
            for attr, table in tables.items():
                table = dict(table)
                if model_name == "adapter":
                    if len(table["attributes"]) > 1 and not judge_intersections:
                        table["checks"] = {"all": "not_judged (intersection)"}
                    else:
                        table["checks"], found = _judge_table(split, attr, table, cfg)
                        findings += found
                splits[split][model_name][attr] = table
    cfact = dict(counterfactual or {})
    if counterfactual is not None:
        cfact["checks"], found = _judge_counterfactual(cfact, cfg.counterfactual)
        findings += found
    order = {"fail": 0, "inconclusive": 1, "not_judged": 2}
    findings.sort(key=lambda f: order.get(f["verdict"], 3))
    failed = any(f["verdict"] == "fail" for f in findings)
    inconclusive = sum(1 for f in findings if f["verdict"] == "inconclusive")
    # a check judged is one that passed or failed; "not_judged" and intersections shown only
    judged = [
        v
        for models in splits.values()
        for attr, table in models.get("adapter", {}).items()
        for v in (table.get("checks") or {}).values()
    ] + list((cfact.get("checks") or {}).values())
    judged_any = any(v in ("pass", "fail", "inconclusive") for v in judged)
    if failed:
        verdict = "fail"
    elif inconclusive:
        verdict = "inconclusive"
        findings.insert(
            0,
            {
                "verdict": "inconclusive",
                "check": "all",
                "message": f"{inconclusive} finding(s) inconclusive and none failed: a "
                "confidence interval crosses a threshold, or the adapter's answers are "
                f"constant, empty or nearly so where they were probed (and {WHY_INCONCLUSIVE}); "
                "see each finding",
            },
        )
    elif judged_any:
        verdict = "pass"
        findings.insert(0, {"verdict": "pass", "check": "all", "message": "every check passed"})
    else:
        verdict = "not_judged"
        findings.insert(
            0,
            {
                "verdict": "not_judged",
                "check": "all",
                "message": "nothing was judged: no attribute has two groups large enough "
                "(see the examples that carry each attribute) and no counterfactual check ran",
            },
        )
    return {
        "verdict": verdict,
        "judged_model": "adapter",
        "findings": findings,
        "thresholds": {
            "min_group_size": cfg.min_group_size,
            "max_quality_difference": cfg.max_quality_difference,
            "min_quality_ratio": cfg.min_quality_ratio,
            "max_perplexity_ratio": cfg.max_perplexity_ratio,
            "min_quality_to_judge_ratio": cfg.min_quality_to_judge_ratio,
            "judge_intersections": judge_intersections,
            "counterfactual": cfg.counterfactual.model_dump(),
        },
        "splits": splits,
        "counterfactual": cfact,
    }
