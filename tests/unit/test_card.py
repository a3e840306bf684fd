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
from provena.canary import CANARY_SOURCE
from provena.config import CanaryConfig, CardConfig, load_params
from provena.errors import UserError
from provena.evaluate import fairness as model_fairness
from provena.evaluate import privacy as privacy_probes
from provena.split.canaries import make_canaries
from tests.conftest import ASSETS, ROOT
from tests.factory import records, write_records

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


#: the train split's records by source, as card.count_sources counts them
SOURCES = {
    "data/raw/default/clinical_extraction.jsonl": {"records": 40, "derived": 9},
    "data/raw/mine/qa.jsonl": {"records": 25, "derived": 0},
    CANARY_SOURCE: {"records": 8, "derived": 0},
}


def _card(ratings=None, cfg=PARAMS.card, sources=SOURCES) -> dict:
    metrics = {n: _json(f"metrics/{n}.json") for n in card.STAGE_METRICS}
    return card.build_card(
        cfg=cfg,
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
        sources=sources,
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
    train = write_records(root / "data/processed/train.parquet", _train_records())
    manifest = copy.deepcopy(MANIFEST)
    manifest["split"]["train"] |= {
        "path": "data/processed/train.parquet",
        "sha256": hashlib.sha256(train.read_bytes()).hexdigest(),
    }
    (adapter / "manifest.json").write_text(json.dumps(manifest))
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
    # the sources are counted in the train split the manifest names
    assert {s["source"]: (s["records"], s["derived"]) for s in c["data"]["sources"]["sources"]} == {
        "data/raw/default/support_chat.parquet": (3, 1),
        "data/raw/mine/qa.jsonl": (4, 0),
    }
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


def _silent_evaluation() -> dict:
    """metrics/evaluate.json of the tiny run, with the adapter's extraction answers on the
    test split found constant (as evaluate writes it: scores withheld, the reason kept)."""
    ev = copy.deepcopy(_json("metrics/evaluate.json"))
    fam = ev["splits"]["test"]["adapter"]["families"]["clinical_extraction"]
    withheld = ["json_valid", "age_em", "sex_em", "icd10_micro_f1"]
    for k in withheld:
        fam.pop(k)
    reason = "the answers are constant: one answer to all 4 prompts"
    fam["answers"] = {"answers": 4, "distinct": 1, "distinct_share": 0.25, "empty": 0,
                      "empty_share": 0.0, "evaluable": False, "reason": reason}  # fmt: skip
    fam["not_evaluable"] = {"reason": reason, "withheld": withheld}
    return ev


def test_scores_of_answers_that_say_nothing_stay_out_of_the_model_index_and_the_card_says_why():
    from huggingface_hub import ModelCard

    c = _card()
    c["evaluation"] = {
        **card.evaluation_summary(_silent_evaluation()),
        "model_fairness": c["evaluation"]["model_fairness"],
        "privacy_probes": c["evaluation"]["privacy_probes"],
    }
    c["limitations"] = card.derived_limitations(c)
    text = card.render_readme(c, PARAMS.card)
    results = {
        (r.dataset_split, r.metric_type, r.metric_name) for r in ModelCard(text).data.eval_results
    }
    # the constant group: no task score in the model-index; the other groups, and the
    # perplexity (which scores the references), are there
    assert not [r for r in results if r[0] == "test" and "clinical_extraction" in r[2]]
    assert ("gold", "icd10_micro_f1", "ICD-10 micro F1 (clinical_extraction)") in results
    assert ("test", "rouge_l", "ROUGE-L (support_reply)") in results
    assert ("test", "perplexity", "Perplexity") in results
    # the text says which group, why, and what was left out
    assert c["evaluation"]["not_evaluable"] == [
        {"split": "test", "model": "adapter", "family": "clinical_extraction",
         "reason": "the answers are constant: one answer to all 4 prompts",
         "withheld": ["json_valid", "age_em", "sex_em", "icd10_micro_f1"]}
    ]  # fmt: skip
    assert "of this card's model-index metadata" in text
    assert (
        "- adapter, clinical_extraction: the answers are constant: one answer to all 4 prompts "
        "(withheld: json_valid, age_em, sex_em, icd10_micro_f1)" in text
    )
    test_part = text.split("### test split")[1].split("### gold split")[0]
    assert "| clinical_extraction | json_valid |" not in test_part
    assert any(
        "on the test split's family clinical_extraction are not evaluable" in x
        and "left out of this card and its model-index" in x
        for x in c["limitations"]
    )
    # the same data with every group evaluable: its scores are in the model-index
    assert not card.evaluation_summary(_json("metrics/evaluate.json"))["not_evaluable"]


def test_inconclusive_fairness_and_privacy_are_shown_as_such_and_are_limitations():
    c = copy.deepcopy(_card())
    silent = {("test", "adapter", "support_reply"): "the answers are constant"}
    cfg = PARAMS.evaluate.fairness
    groups = model_fairness.group_quality(_rows(), ["gender"], cfg, not_evaluable=silent)
    c["evaluation"]["model_fairness"] = model_fairness.assess(groups, None, cfg)
    privacy = _privacy()
    c["evaluation"]["privacy_probes"] = privacy_probes.assess(
        privacy["canaries"], None, None, PARAMS.evaluate.privacy,
        answers={"answers": 2, "distinct": 1, "evaluable": False,
                 "reason": "the answers are constant: one answer to all 2 prompts"},
    )  # fmt: skip
    c["limitations"] = card.derived_limitations(c)
    text = card.render_readme(c, PARAMS.card)
    assert "| model fairness verdict | inconclusive |" in text
    assert "| privacy probes verdict | inconclusive |" in text
    assert "**Verdict: inconclusive**" in text and "Verdict: **inconclusive**" in text
    assert "Inconclusive, not passed: the answers are constant" in text
    for name in ("model fairness", "privacy probes"):
        assert any(f"The {name} check is inconclusive, not passed" in x for x in c["limitations"])
    assert "| pass |" not in text.split("## Privacy probes")[1].split("##")[0]


def _train_records():
    """A train split: three support chats (one a child made by augment), four own answers."""
    chats = records(3, source="data/raw/default/support_chat.parquet")
    chats[2]["parent_id"], chats[2]["op"] = chats[0]["id"], "counterfactual:gender=female"
    return [*chats, *records(4, offset=10, source="data/raw/mine/qa.jsonl")]


# ------------------------------------------------------------- name, use and data sources


def test_the_default_card_is_neutral_and_params_yaml_keeps_the_default_datas_wording():
    neutral = CardConfig()
    for text in (neutral.name, neutral.description, neutral.intended_use):
        assert "clinic" not in text.lower() and "support" not in text.lower()
    assert neutral.licenses == {} and neutral.out_of_scope == []
    readme = card.render_readme(_card(cfg=neutral), neutral)
    head = readme.split("## Summary")[0]
    assert "# provena-lora-adapter\n" in head and "- name: provena-lora-adapter\n" in head
    assert f"{neutral.description} Intended use: {neutral.intended_use}" in head
    assert "clinic" not in head.split("---\n", 2)[2].lower()
    # the default project's params.yaml sets the bundled data's name and wording
    assert PARAMS.card.name == "provena-clinical-support-adapter"
    assert "not for clinical decisions" in PARAMS.card.intended_use


def test_name_description_intended_use_and_out_of_scope_come_from_params():
    cfg = CardConfig(
        name="trivia-helper",
        description="An adapter that answers trivia questions.",
        intended_use="Answering quiz questions.",
        out_of_scope=["Medical or legal advice.", "Facts after 2023."],
    )
    c = _card(cfg=cfg)
    assert (c["name"], c["description"]) == ("trivia-helper", cfg.description)
    text = card.render_readme(c, cfg)
    assert "# trivia-helper\n\nAn adapter that answers trivia questions. Intended use: " in text
    assert "Out of scope:\n\n- Medical or legal advice.\n- Facts after 2023.\n" in text


def test_each_source_gets_the_licence_of_the_first_matching_glob_else_unknown():
    lic = {"data/raw/default/*": "synthetic", "*.jsonl": "CC-BY-SA-3.0", "*": "never reached"}
    assert card.licence_of("data/raw/default/clinical_extraction.jsonl", lic) == (
        "synthetic",
        "data/raw/default/*",
    )
    assert card.licence_of("data/raw/mine/qa.jsonl", lic) == ("CC-BY-SA-3.0", "*.jsonl")
    assert card.licence_of("qa.jsonl", {"qa.*": "MIT"}) == ("MIT", "qa.*")  # the file name
    assert card.licence_of("data/raw/mine/qa.jsonl", {"*.parquet": "MIT"}) == ("unknown", None)
    assert card.licence_of(CANARY_SOURCE, lic) == (card.CANARY_LICENCE, None)


def test_the_card_lists_the_sources_with_their_licences():
    cfg = PARAMS.card.model_copy(update={"licenses": {"*/mine/*": "CC-BY-SA-3.0"}})
    c = _card(cfg=cfg)
    sources = {s["source"]: s for s in c["data"]["sources"]["sources"]}
    assert sources["data/raw/mine/qa.jsonl"]["licence"] == "CC-BY-SA-3.0"
    assert sources["data/raw/default/clinical_extraction.jsonl"]["licence"] == "unknown"
    assert c["data"]["sources"]["records"] == 73
    assert c["data"]["sources"]["by_licence"] == {
        "CC-BY-SA-3.0": 25,
        card.CANARY_LICENCE: 8,
        "unknown": 40,
    }
    text = card.render_readme(c, cfg)
    assert "| data/raw/default/clinical_extraction.jsonl | 40 | 9 | unknown |" in text
    assert "| data/raw/mine/qa.jsonl | 25 | 0 | CC-BY-SA-3.0 |" in text
    assert "| training data licences | CC-BY-SA-3.0 (25 records); " in text
    lim = [x for x in c["limitations"] if "No licence is declared" in x]
    assert lim and "1 of the 3 data sources (40 training records: " in lim[0]
    assert "data/raw/default/clinical_extraction.jsonl" in lim[0]


def test_every_source_declared_means_no_licence_limitation():
    # params.yaml declares the default data's folder; the other sources here get a glob too
    cfg = PARAMS.card.model_copy(update={"licenses": {**PARAMS.card.licenses, "*.jsonl": "MIT"}})
    c = _card(cfg=cfg)
    assert {s["source"]: s["licence"] for s in c["data"]["sources"]["sources"]} == {
        "data/raw/default/clinical_extraction.jsonl": "synthetic (provena synth): no upstream "
        "licence",
        "data/raw/mine/qa.jsonl": "MIT",
        CANARY_SOURCE: card.CANARY_LICENCE,
    }
    assert not any("No licence is declared" in x for x in c["limitations"])


def test_the_card_refuses_a_train_split_the_adapter_was_not_trained_on(tmp_path):
    train = write_records(tmp_path / "train.parquet", _train_records())
    manifest = {"split": {"train": {"path": "train.parquet", "sha256": "0" * 64}}}
    with pytest.raises(UserError, match="not the train split the adapter was trained on"):
        card.train_split(manifest, None, tmp_path)
    manifest["split"]["train"]["sha256"] = hashlib.sha256(train.read_bytes()).hexdigest()
    assert card.train_split(manifest, None, tmp_path) == train
    with pytest.raises(UserError, match="no train split"):
        card.train_split(manifest, tmp_path / "gone.parquet", tmp_path)


def test_the_card_says_evaluation_splits_hold_original_records_only():
    c = _card()
    assert c["data"]["evaluation_records"] == {
        "augmented": 552,
        "to_train": 552,
        "dropped_with_eval_parent": 0,
        "in_evaluation": 0,
    }
    assert (
        "Evaluation splits (validation, test, gold) hold original records only: of the 552 "
        "records augment made, 552 are in train with their parent and 0 were dropped"
    ) in card.render_readme(c, PARAMS.card)
    # the numbers come from metrics/split.json as they stand, whatever they say
    split_metrics = {
        "augmented": {
            "records": 5898,
            "to_train": 4756,
            "dropped_with_eval_parent": 1142,
            "by_split": {"train": 4756, "validation": 0, "test": 3, "gold": 0},
        }
    }
    c["data"]["evaluation_records"] = card.evaluation_records(split_metrics)
    text = card.render_readme(c, PARAMS.card)
    assert (
        "Evaluation splits (validation, test, gold) hold 3 augmented records: of the 5,898 "
        "records augment made, 4,756 are in train with their parent and 1,142 were dropped "
        "because their parent is in an evaluation split"
    ) in text
    # split metrics older than the rule: the card claims nothing
    c["data"]["evaluation_records"] = card.evaluation_records({"augmented": {"train": 3}})
    assert c["data"]["evaluation_records"] is None
    assert "Evaluation splits (" not in card.render_readme(c, PARAMS.card)
