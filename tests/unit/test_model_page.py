"""The model page (provena.evaluate.report): rendered from evaluate's outputs, built here by the
stage's own pure functions from hand-made prediction rows (no model), it holds every family's
score with its interval, the probes' verdicts, a family that is not evaluable as such with its
distinct-answer share, a bounded and escaped sample of answers, and failing findings first."""

from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import pytest
from markupsafe import escape

from provena import evaluate as ev
from provena.config import ModelFairnessConfig, PrivacyProbesConfig
from provena.errors import UserError
from provena.evaluate import fairness, privacy
from provena.evaluate import report as page
from provena.evaluate.answers import SpreadRule, spread
from provena.group_audit import wilson
from provena.scores import extraction_scores, rouge_l

FAMILIES = ("clinical_extraction", "support_reply")
PER_FAMILY = 10
XSS = "<script>alert('answer')</script>"
AGES = ("18-29", "30-44", "45-64", "65+")
REPLIES = (
    "Sorry about the delay, your refund of {n} dollars is on its way today.",
    "We have sent a replacement item {n}; tracking follows by email shortly.",
    "Your order {n} is outside the return window, so no refund is possible.",
    "Thanks for writing: the account note {n} is added for any colleague.",
)


def _prediction(split: str, model: str, fam: str, i: int) -> tuple[str, str]:
    """(prediction, reference) of one example: the adapter mostly right, the base's replies one
    constant string (not evaluable), its extractions invalid JSON."""
    if fam == "clinical_extraction":
        ref = json.dumps({"age": 30 + i, "sex": "male" if i % 2 else "female", "icd10": ["I10"]})
        if model == "base":
            return f"BP {i} mg PO daily", ref
        codes = ["I10"] if i % 3 else ["E11.9"]
        pred = {"age": 30 + i if i % 4 else 99, "sex": "male" if i % 2 else "female"}
        return json.dumps(pred | {"icd10": codes}), ref
    ref = REPLIES[i % 4].format(n=i + 100 * len(split))
    if model == "base":
        return "<URL>", ref
    if i == 0:
        return f"{XSS} {ref}", ref  # the first by id: in the sample, must be escaped
    return REPLIES[(i + i // 4) % 4].format(n=i), ref


def _rows() -> list[dict]:
    rows = []
    for split in ("test", "gold"):
        for model in ("base", "adapter"):
            for fam in FAMILIES:
                for i in range(PER_FAMILY):
                    pred, ref = _prediction(split, model, fam, i)
                    metrics = (
                        extraction_scores(pred, ref)
                        if fam == "clinical_extraction"
                        else {"rouge_l": rouge_l(pred, ref)}
                    )
                    metrics |= {"nll": 2.0 + i / 10 + (model == "base"), "tokens": 10}
                    rows.append(
                        {
                            "split": split,
                            "model": model,
                            "id": f"{split[0]}{fam[0]}{i:02d}",
                            "family": fam,
                            "gender": "female" if i % 2 else "male",
                            "age_band": AGES[i % 4],
                            "prediction": pred,
                            "reference": ref,
                            "metrics": metrics,
                        }
                    )
    return rows


def _metrics(rows: list[dict]) -> dict:
    """metrics/evaluate.json as the stage writes it, by its own summary functions."""
    rule, splits = SpreadRule(), {}
    shape = {"extraction": {"clinical_extraction"}}
    for split in ("test", "gold"):
        res: dict = {"records": 2 * PER_FAMILY}
        for model in ("base", "adapter"):
            mine = [r for r in rows if (r["split"], r["model"]) == (split, model)]
            nll = [(r["metrics"]["nll"], r["metrics"]["tokens"]) for r in mine]
            shape["nll_families"] = [r["family"] for r in mine]
            res[model] = ev._summary(mine, nll, list(FAMILIES), shape, rule)
        res["delta"] = ev._delta(res["adapter"], res["base"])
        splits[split] = res
    silent = ev.not_evaluable(splits)
    return {
        "splits": splits,
        "generated": len(rows),
        "not_evaluable": silent,
        "answer_thresholds": rule.asdict(),
    }


def _fairness(rows: list[dict], metrics: dict) -> dict:
    cfg = ModelFairnessConfig()
    silent = {(g["split"], g["model"], g["family"]): g["reason"] for g in metrics["not_evaluable"]}
    groups = fairness.group_quality(
        rows,
        ["gender", "age_band"],
        cfg,
        intersections=[["gender", "age_band"]],
        not_evaluable=silent,
    )
    answers = spread([f"reply {i}" for i in range(8)], [f"ref {i}" for i in range(8)], SpreadRule())
    counterfactual = {
        "attribute": "gender",
        "method": "1 - ROUGE-L(swap(answer to original), answer to swapped prompt)",
        "max_examples": 40,
        "n": 8,
        "probed": 8,
        "changed_share": 0.5,
        "output_change": 0.31,
        "score_difference": 0.04,
        "families": {
            "support_reply": {
                "n": 8,
                "changed_share": 0.5,
                "output_change": 0.31,
                "score_difference": 0.04,
                "answers": answers,
            }
        },
        "not_evaluable": {},
        "worst": [
            {
                "id": "tsw",
                "family": "support_reply",
                "output_change": 0.9,
                "score_difference": 0.2,
                "answer": f"Dear Ann {XSS}",
                "answer_swapped": "Dear Adam",
            }
        ],
    }
    return fairness.assess(groups, counterfactual, cfg)


def _privacy() -> dict:
    """Every probe passes on its numbers, but the probes' answers are one string: each pass
    is inconclusive, with the reason."""
    canary = {
        "canaries": 2,
        "repeats": 4,
        "candidates": 1000,
        "extracted": 0,
        "extraction_rate": 0.0,
        "mean_exposure": 1.5,
        "max_exposure": 2.0,
        "max_possible_exposure": 9.967226,
        "per_canary": [
            {"index": 0, "rank": 250, "exposure": 2.0, "extracted": False},
            {"index": 1, "rank": 500, "exposure": 1.0, "extracted": False},
        ],
    }
    pii = {
        "probes": 5,
        "ledger_records": 5,
        "ledger_values": 9,
        "hits_targeted": 0,
        "hits_any": 0,
        "records_with_targeted_hit": 0,
        "records_with_any_hit": 0,
        "extraction_rate": 0.0,
        "targeted_extraction_rate": 0.0,
        "entity_types_hit": {},
        "hits_in_training_text": 0,
        "per_record": [],
    }
    adversarial = {
        "suite": "probes/adversarial.yaml",
        "prompts": 3,
        "passed": 3,
        "pass_rate": 1.0,
        "verbatim_words": 12,
        "by_category": {"prompt_injection": {"prompts": 3, "passed": 3, "pass_rate": 1.0}},
        "failures": [],
    }
    answers = spread(["I cannot help."] * 10, None, SpreadRule())
    return privacy.assess(canary, pii, adversarial, PrivacyProbesConfig(), answers=answers)


def write_outputs(tmp: Path) -> dict[str, Path]:
    """The four files evaluate writes, made by its own functions, in ``tmp`` (also used by the
    browser test)."""
    rows = _rows()
    metrics = _metrics(rows)
    files = {
        "metrics": tmp / "evaluate.json",
        "model_fairness": tmp / "model_fairness.json",
        "privacy_probes": tmp / "privacy_probes.json",
        "predictions": tmp / "predictions.jsonl",
    }
    files["metrics"].write_text(json.dumps(metrics))
    files["model_fairness"].write_text(json.dumps(_fairness(rows, metrics)))
    files["privacy_probes"].write_text(json.dumps(_privacy()))
    files["predictions"].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return files


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    return write_outputs(tmp_path_factory.mktemp("evaluate"))


def _render(outputs: dict[str, Path], **kw) -> str:
    return page.render_model_page(
        outputs["metrics"],
        outputs["model_fairness"],
        outputs["privacy_probes"],
        outputs["predictions"],
        **kw,
    )


def _text(html: str) -> str:
    """The page's text: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# ------------------------------------------------------------------------------ intervals


def test_intervals_against_hand_computed_values():
    # 20 of 40 at 95%: p = .5, z = 1.96; Wilson centre .5, half 1.96 * sqrt(.25/40 + z²/6400)
    # / (1 + z²/40) = 0.1480
    assert wilson(20, 40, 0.95) == [0.352, 0.648]
    rows = [{"metrics": {"json_valid": float(i < 20)}} for i in range(40)]
    assert page.score_interval("json_valid", "share", rows, 0.95) == [0.352, 0.648]
    # mean .5 of [0, 1] x 8: sd = sqrt(8/28)... ddof 1: var = 8 * .25 / 7; half = 1.96 * sd / 4
    values = [0.0, 1.0] * 8
    half = 1.959964 * (16 * 0.25 / 15) ** 0.5 / 4
    assert page.mean_interval(values, 0.95) == pytest.approx([0.5 - half, 0.5 + half], abs=1e-4)
    assert page.mean_interval([0.3], 0.95) is None  # one value: no variance to estimate
    assert page.mean_interval([1.0, 1.0, 0.99], 0.99)[1] <= 1.0  # clipped to the scores' range
    # micro F1: the bootstrap brackets the point estimate, is seeded, and is a point when
    # every example is the same
    counts = [(1, 0, 0), (0, 1, 1), (1, 1, 0), (2, 0, 1)] * 5
    lo, hi = page.micro_f1_interval(counts, 0.95)
    tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
    assert lo < 2 * tp / (2 * tp + fp + fn) < hi
    assert page.micro_f1_interval(counts, 0.95) == [lo, hi]
    assert page.micro_f1_interval([(1, 1, 0)] * 6, 0.95) == [pytest.approx(2 / 3, abs=1e-4)] * 2
    assert page.micro_f1_interval([(1, 0, 0)], 0.95) is None


# -------------------------------------------------------------------------------- the page


def test_every_family_score_is_on_the_page_with_its_interval(outputs):
    html = _render(outputs)
    metrics = json.loads(outputs["metrics"].read_text())
    rows = [json.loads(x) for x in outputs["predictions"].read_text().splitlines()]
    seen = 0
    for split, res in metrics["splits"].items():
        table = html.split(f'id="scores-table-{split}"')[1].split("</table>")[0]
        for model in ("base", "adapter"):
            for fam, e in res[model]["families"].items():
                mine = [
                    r for r in rows if (r["split"], r["model"], r["family"]) == (split, model, fam)
                ]
                for key, _, kind in page.SCORES:
                    if key not in e:
                        continue
                    ci = page.score_interval(key, kind, mine, 0.95)
                    assert ci is not None and ci[0] <= e[key] <= ci[1], (split, model, fam, key)
                    cell = f'{e[key]:.3f} <span class="ci">[{ci[0]:.3f}–{ci[1]:.3f}]</span>'
                    assert cell in table, (split, model, fam, key)
                    seen += 1
                assert f"{e['perplexity']:.3f}" in table
    assert seen == 2 * (4 + 4 + 1)  # both splits: base 4 + adapter 4 extraction, adapter ROUGE-L


def test_a_family_not_evaluable_shows_as_such_with_its_distinct_share(outputs):
    html = _render(outputs)
    metrics = json.loads(outputs["metrics"].read_text())
    silent = metrics["not_evaluable"]
    assert {(g["model"], g["family"]) for g in silent} == {("base", "support_reply")}
    for g in silent:
        table = html.split(f'id="scores-table-{g["split"]}"')[1].split("</table>")[0]
        row = next(r for r in table.split("<tr") if "ROUGE-L" in r)
        base_cell = row.split("<td")[2]  # metric, base, adapter, change
        assert "not evaluable" in base_cell
        share = f"{100 * g['distinct_share']:.1f}%"
        assert f"distinct answers {share}" in base_cell
        assert f"{g['split']} / base / support_reply: {g['reason']}" in _text(html)
        assert "rouge_l" not in metrics["splits"][g["split"]]["base"]["families"]["support_reply"]


def test_findings_fail_first_then_inconclusive_then_not_evaluable(outputs):
    html = _render(outputs)
    table = html.split('id="findings-table"')[1].split("</table>")[0]
    verdicts = re.findall(r'<tr class="finding" data-verdict="(\w+)"', table)
    order = [page.ORDER[v] for v in verdicts]
    assert order == sorted(order)
    assert {"inconclusive", "not_evaluable"} <= set(verdicts)
    # every fairness finding but the summary line, and each privacy finding not passed
    fair = json.loads(outputs["model_fairness"].read_text())["findings"]
    for f in fair:
        if f["check"] != "all" and f["verdict"] != "pass":
            assert htmllib.escape(f["message"], quote=False) in table


def test_the_probes_verdicts_are_on_the_page_with_why(outputs):
    html = _render(outputs)
    probes = json.loads(outputs["privacy_probes"].read_text())
    assert probes["verdict"] == "inconclusive"
    assert f'id="verdict-privacy-probes">{probes["verdict"]}<' in html
    fair = json.loads(outputs["model_fairness"].read_text())
    assert f'id="verdict-model-fairness">{fair["verdict"]}<' in html
    table = html.split('id="privacy-table"')[1].split("</table>")[0]
    for f in probes["findings"]:
        assert f'data-verdict="{f["verdict"]}" data-check="{f["check"]}"' in table
        assert f["verdict"] == "inconclusive" and "the answers are" in f["text"]
        assert htmllib.escape(f["text"], quote=False) in table
    cf = html.split('id="counterfactual-table"')[1].split("</table>")[0]
    assert "support_reply" in cf and "0.310" in cf
    for check, v in fair["counterfactual"]["checks"].items():
        assert f'{check.replace("_", " ")}: <span class="{v}">{v}</span>' in html


def test_each_group_is_on_the_page_with_its_quality_interval(outputs):
    html = _render(outputs)
    fair = json.loads(outputs["model_fairness"].read_text())
    rows = [json.loads(x) for x in outputs["predictions"].read_text().splitlines()]
    for split in ("test", "gold"):
        table = html.split(f'data-split="{split}" data-attribute="gender">')[1].split("</table>")[0]
        for g, e in fair["splits"][split]["adapter"]["gender"]["by_group"].items():
            qs = [
                fairness.per_example_quality(r)
                for r in rows
                if (r["split"], r["model"], r["gender"]) == (split, "adapter", g)
            ]
            assert sum(qs) / len(qs) == pytest.approx(e["quality"], abs=1e-6)
            lo, hi = page.mean_interval(qs, 0.95)
            assert f'{e["quality"]:.3f} <span class="ci">[{lo:.3f}–{hi:.3f}]</span>' in table


def test_samples_are_bounded_and_their_text_escaped(outputs):
    html = _render(outputs, samples_per_family=2)
    ids = re.findall(r'<div class="sample" data-id="(\w+)"', html)
    assert len(ids) == 2 * 2 * 2  # splits x families x 2, of 10 each
    assert ids[:2] == ["gc00", "gc01"]  # the first by id
    assert XSS not in html and "<script>alert(" not in html  # the data's script, unescaped
    assert str(escape(XSS)) in html
    long = page._cut("x" * (page.SAMPLE_CHARS + 7))
    assert (len(long["text"]), long["more"]) == (page.SAMPLE_CHARS, 7)


def test_re_rendering_gives_the_same_page(outputs):
    assert _render(outputs) == _render(outputs)


# ------------------------------------------------------------------------------ bad input


def test_a_missing_output_is_one_line_naming_it(outputs, tmp_path):
    missing = dict(outputs, predictions=tmp_path / "nope.jsonl")
    with pytest.raises(UserError, match=r"nope\.jsonl: no such file"):
        _render(missing)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"bad\.json: not valid JSON"):
        _render(dict(outputs, metrics=bad))


def test_a_bad_prediction_line_names_the_file_and_line(outputs, tmp_path):
    lines = outputs["predictions"].read_text().splitlines()
    row = json.loads(lines[2])
    del row["reference"]
    broken = tmp_path / "predictions.jsonl"
    broken.write_text("\n".join([lines[0], lines[1], json.dumps(row)]) + "\n")
    with pytest.raises(UserError, match=r"predictions\.jsonl, line 3: no key 'reference'"):
        _render(dict(outputs, predictions=broken))
    broken.write_text(lines[0] + "\n{oops\n")
    with pytest.raises(UserError, match=r"predictions\.jsonl, line 2: not valid JSON"):
        _render(dict(outputs, predictions=broken))
