"""The model card: built from a tiny run's reports (tests/assets/outputs), it holds their numbers,
and its YAML header is what the Hugging Face Hub reads."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import zipfile

import pytest
import yaml

from provena import card
from provena.config import CanaryConfig, load_params
from provena.errors import UserError
from provena.evaluate import fairness as model_fairness
from provena.evaluate import privacy as privacy_probes
from provena.split.canaries import make_canaries
from tests.conftest import ASSETS, ROOT

PARAMS = load_params(ROOT / "params.yaml")
OUTPUTS = ASSETS / "outputs"  # metrics/, audits/, reports/ and models/adapter/ of a tiny run


def _json(rel: str) -> dict:
    return json.loads((OUTPUTS / rel).read_text())


def _rows() -> list[dict]:
    """Prediction rows of evaluate: two groups, the adapter clearly worse for one of them."""
    rows = []
    for i, (gender, rouge) in enumerate([("female", 0.2)] * 6 + [("male", 0.6)] * 6):
        for model in ("base", "adapter"):
            rows.append(
                {
                    "split": "test",
                    "model": model,
                    "id": f"{i:016x}",
                    "family": "support_reply",
                    "gender": gender,
                    "age_band": "30-44",
                    "metrics": {"rouge_l": rouge, "nll": 12.0, "tokens": 6},
                }
            )
    return rows


def _fairness() -> dict:
    cfg = PARAMS.evaluate.fairness
    groups = model_fairness.group_quality(_rows(), ["gender", "age_band"], cfg)
    return model_fairness.assess(groups, None, cfg)


def _privacy() -> dict:
    canaries = make_canaries(CanaryConfig(count=2, repeats=1, seed=3))
    result = privacy_probes.canary_probe(
        canaries,
        complete=lambda prompts: ["I cannot say."] * len(prompts),
        nll=lambda prompt, conts: [10.0] * len(conts),  # no preference: the worst rank
        cfg=PARAMS.evaluate.privacy.model_copy(update={"canary_candidates": 20}),
        seed=0,
        prompt_of=lambda rec: rec["instruction"],
    )
    return privacy_probes.assess(result, None, None, PARAMS.evaluate.privacy)


#: the adapter's lineage manifest and LoRA config, as train writes them
MANIFEST = _json("models/adapter/manifest.json")
ADAPTER_CONFIG = _json("models/adapter/adapter_config.json")


def _card(ratings=None) -> dict:
    metrics = {n: _json(f"metrics/{n}.json") for n in card.STAGE_METRICS}
    return card.build_card(
        cfg=PARAMS.card,
        manifest=MANIFEST,
        adapter_config=ADAPTER_CONFIG,
        adapter_sha256="a" * 64,
        metrics=metrics,
        pii_report=_json("audits/pii_report.json"),
        validation=_json("reports/validation_verdict.json"),
        audit_before=_json("audits/audit_before.json"),
        audit_after=_json("audits/audit_after.json"),
        evaluation=_json("metrics/evaluate.json"),
        fairness=_fairness(),
        privacy=_privacy(),
        ratings=ratings,
        signoffs={
            "audits/audit_after.json": {"valid": False, "reason": "no sign-off", "signoffs": []}
        },
        adapter_path="models/adapter",
    )


def _n(x: int) -> str:
    return f"{x:,}"


def test_the_card_holds_the_numbers_the_reports_hold():
    c = _card()
    text = card.render_readme(c, PARAMS.card)
    # records in and out of every curation stage, from its own metrics
    for name in ("ingest", "scrub_pii", "clean", "augment", "split"):
        m = _json(f"metrics/{name}.json")
        row = next(r for r in c["data"]["stages"] if r["stage"] == name)
        assert row["records_in"] == m["records_in"]
        assert f"| {name} | {_n(m['records_in'])} |" in text
    augment = _json("metrics/augment.json")
    assert f"| {_n(augment['records_added'])} |" in text
    # PII counts, total and by type
    pii = _json("audits/pii_report.json")
    assert f"{_n(pii['summary']['pii_entities'])} PII values found" in text
    for kind, fields in pii["entities_by_type_and_field"].items():
        assert f"| {kind} | {_n(sum(fields.values()))} |" in text
    # validation verdict and counts
    v = _json("reports/validation_verdict.json")
    assert f"Verdict **{v['verdict']}**: {v['passed']} of {v['expectations']}" in text
    # every finding of both data audits, word for word
    for rel in ("audits/audit_before.json", "audits/audit_after.json"):
        for f in _json(rel)["findings"]:
            assert f["text"].replace("|", "\\|") in text
    # evaluation: perplexity of base and adapter per split
    for split, res in _json("metrics/evaluate.json")["splits"].items():
        assert f"### {split} split" in text
        assert card._fmt(res["adapter"]["perplexity"]) in text
        assert card._fmt(res["base"]["perplexity"]) in text
    # the waiver, its reason and who approved it; the adapter's LoRA settings
    assert "Waiver of `audit`: tiny data: groups too small (approved by A. Auditor)" in text
    assert "LORA r=16 alpha=32.0 dropout=0.05" in text and "| target modules | q_proj |" in text
    # fairness and privacy verdicts come from their reports
    assert c["evaluation"]["model_fairness"]["verdict"] == "fail"  # 0.2 vs 0.6 ROUGE-L
    assert "| model fairness verdict | fail |" in text
    assert "| privacy probes verdict | pass |" in text
    assert "Verdict: **pass**" in text  # the privacy section
    # limitations derived from the reports
    assert any("tiny Llama" in x for x in c["limitations"])
    assert any("waiver of the 'audit' check" in x for x in c["limitations"])
    assert "No human ratings" in text


def test_the_card_says_whether_the_tiny_base_was_pretrained():
    c = _card()
    c["model"]["base_model"]["pretraining"] = {"steps": 120, "corpus": "fields"}
    said = next(x for x in card.derived_limitations(c) if "tiny Llama" in x)
    assert "pretrained for 120 steps on the train split's text" in said
    c["model"]["base_model"]["pretraining"] = {"steps": 0, "corpus": "fields"}
    said = next(x for x in card.derived_limitations(c) if "tiny Llama" in x)
    assert "randomly initialised" in said and "pretrained" not in said


def test_timings_never_reach_the_card():
    c = _card()
    blob = json.dumps(c)
    assert '"seconds"' not in blob and '"wall_seconds"' not in blob
    assert "tokens_per_s" not in blob


def test_metadata_is_what_the_hub_reads():
    from huggingface_hub import ModelCard

    text = card.render_readme(_card(), PARAMS.card)
    parsed = ModelCard(text)
    assert parsed.data.library_name == "peft"
    assert parsed.data.license == "other" and parsed.data.language == ["en"]
    assert parsed.data.base_model == "models/base"  # the tiny base: its folder, no hub id
    results = {
        (r.dataset_split, r.metric_type, r.metric_name): r.metric_value
        for r in parsed.data.eval_results
    }
    ev = _json("metrics/evaluate.json")["splits"]
    test_ppl = ev["test"]["adapter"]["perplexity"]
    assert results[("test", "perplexity", "Perplexity")] == test_ppl
    gold_rouge = ev["gold"]["adapter"]["families"]["support_reply"]["rouge_l"]
    assert results[("gold", "rouge_l", "ROUGE-L (support_reply)")] == gold_rouge
    assert text.startswith("---\n") and yaml.safe_load(text.split("---\n")[1])["tags"]


def test_human_ratings_show_their_summary_but_not_the_comments():
    ratings = {
        "source": "sample.csv",
        "sha256": "d" * 64,
        "imported_at": "2026-11-29T12:00:00+00:00",
        "imports": [{"source": "sample.csv", "rated": 2, "unrated": 0}],
        "rows": [{"review_id": "r1", "rating": 4, "comment": "mentions Jane's cough"}],
        "summary": {
            "rated": 2,
            "unrated": 0,
            "mean_rating": 3.5,
            "reviewers": 1,
            "by_family": {"support_reply": {"n": 2, "mean_rating": 3.5}},
            "by_attribute": {"gender": {"female": {"n": 2, "mean_rating": 3.5}}},
        },
    }
    c = _card(ratings)
    text = card.render_readme(c, PARAMS.card)
    assert "mean **3.50**" in text and "| support_reply | 2 | 3.50 |" in text
    assert "Jane" not in json.dumps(c) and "Jane" not in text
    assert not any("No human ratings" in x for x in c["limitations"])


def test_run_writes_readme_json_and_a_bundle(tmp_path):
    root = tmp_path
    for rel in ("metrics", "audits", "reports"):
        (root / rel).mkdir()
    for n in (*card.STAGE_METRICS, "evaluate"):
        shutil.copy(OUTPUTS / f"metrics/{n}.json", root / f"metrics/{n}.json")
    for rel in (
        "audits/pii_report.json",
        "audits/audit_before.json",
        "audits/audit_after.json",
        "reports/validation_verdict.json",
    ):
        shutil.copy(OUTPUTS / rel, root / rel)
    (root / "audits/model_fairness.json").write_text(json.dumps(_fairness()))
    (root / "audits/privacy_probes.json").write_text(json.dumps(_privacy()))
    (root / "dvc.lock").write_text(
        yaml.safe_dump({"schema": "2.0", "stages": {"train": {"cmd": "t"}, "card": {"cmd": "c"}}})
    )
    adapter = root / "models" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "manifest.json").write_text(json.dumps(MANIFEST))
    (adapter / "adapter_config.json").write_text(json.dumps(ADAPTER_CONFIG))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    paths = card.CardPaths(
        adapter,
        root / "metrics",
        root / "audits/pii_report.json",
        root / "reports/validation_verdict.json",
        root / "audits/audit_before.json",
        root / "audits/audit_after.json",
        root / "metrics/evaluate.json",
        root / "audits/model_fairness.json",
        root / "audits/privacy_probes.json",
        root / "reviews/ratings.json",
        root / "models" / "card",
    )
    c = card.run(PARAMS.card, paths, root=root).report
    out = root / "models" / "card"
    assert json.loads((out / "card.json").read_text()) == c
    readme = (out / "README.md").read_text()
    assert readme == card.render_readme(c, PARAMS.card)
    assert c["model"]["adapter"]["adapter_model_sha256"] == hashlib.sha256(b"weights").hexdigest()
    with zipfile.ZipFile(out / "audit_bundle.zip") as zf:
        names = set(zf.namelist())
        lock = yaml.safe_load(zf.read("dvc.lock"))
        assert zf.read("card/README.md").decode() == readme
    assert {"card/card.json", "models/adapter/manifest.json", "MANIFEST.txt"} <= names
    assert "audits/model_fairness.json" in names and "audits/privacy_probes.json" in names
    assert set(lock["stages"]) == {"train"}  # the card stage's own entry is not final yet


def test_a_missing_report_names_the_file_and_the_stage_to_run(tmp_path):
    paths = card.CardPaths(*(tmp_path / f"x{i}" for i in range(11)))
    (tmp_path / "x0").mkdir()
    with pytest.raises(UserError, match="manifest"):
        card.run(PARAMS.card, paths, root=tmp_path)


def test_a_not_judged_audit_let_through_and_a_not_judged_fairness_are_limitations():
    c = copy.deepcopy(_card())
    c["gate"]["checks"] = [
        {
            "check": "audit",
            "passed": True,
            "verdict": "not_judged",
            "detail": "verdict 'not_judged', allowed by train.allow_not_judged_audit: gender: "
            "not judged: no record carries a recorded gender",
        }
    ]
    c["evaluation"]["model_fairness"] = {"verdict": "not_judged", "findings": []}
    lims = card.derived_limitations(c)
    assert any("the 'audit' check judged nothing" in x and "recorded gender" in x for x in lims)
    assert any("model fairness check judged nothing" in x for x in lims)
    c["gate"]["checks"][0]["verdict"] = "pass"
    assert not any("'audit' check judged nothing" in x for x in card.derived_limitations(c))
