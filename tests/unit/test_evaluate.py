"""evaluate: each metric against hand-computed values; batched left-padded generation equals
one-at-a-time generation; the stage writes base, adapter and delta metrics and per-example rows."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import pytest
import torch

from provena import evaluate as ev
from provena import scores
from provena.errors import UserError
from provena.evaluate.report import render_model_page
from provena.io import read_jsonl
from provena.modeling import data
from provena.records import NO_FAMILY
from tests.factory import CLINICAL_NOTE, SUPPORT_REPLY, records
from tests.factory import write_records as _write
from tests.helpers.train import random_adapter

# ----------------------------------------------------------------------------- extraction


def test_parse_extraction_accepts_objects_only():
    assert scores.parse_extraction(' {"age": 3} ') == {"age": 3}
    assert scores.parse_extraction('{"age": 3') is None
    assert scores.parse_extraction("[1, 2]") is None
    assert scores.parse_extraction("") is None


def test_exact_match():
    ref = {"age": 80, "sex": "male"}
    assert scores.exact_match({"age": 80}, ref, "age") == 1.0
    assert scores.exact_match({"age": 81}, ref, "age") == 0.0
    assert scores.exact_match({"age": "80"}, ref, "age") == 0.0  # a string is not the number
    assert scores.exact_match({"sex": " Male"}, ref, "sex") == 1.0  # case and spaces ignored
    assert scores.exact_match({}, ref, "sex") == 0.0
    assert scores.exact_match(None, ref, "age") == 0.0


@pytest.mark.parametrize(
    ("pred", "ref", "counts", "f1"),
    [
        (["I10", "J20.9"], ["I10", "J20.9"], (2, 0, 0), 1.0),
        (["I10"], ["I10", "J20.9"], (1, 0, 1), 2 / 3),  # P 1, R 1/2
        (["I10", "E11.9", "K21.9"], ["I10", "J20.9"], (1, 2, 1), 0.4),  # P 1/3, R 1/2
        (["I10", "I10", "i10 "], ["I10"], (1, 0, 0), 1.0),  # duplicates count once
        ([], [], (0, 0, 0), 1.0),  # nothing to find, nothing claimed
        ([], ["I10"], (0, 0, 1), 0.0),
        (["I10"], [], (0, 1, 0), 0.0),
        ("I10", ["I10"], (0, 0, 1), 0.0),  # not a list: no codes
    ],
)
def test_code_counts_and_f1(pred, ref, counts, f1):
    assert scores.code_counts(pred, ref) == counts
    assert scores.f1(*counts) == pytest.approx(f1)


def test_extraction_scores_invalid_json_scores_zero():
    ref = '{"age": 80, "sex": "male", "icd10": ["I10", "J20.9"]}'
    bad = scores.extraction_scores('{"age": 80, "sex": "male"', ref)
    assert bad["json_valid"] == 0.0 and bad["age_em"] == 0.0 and bad["sex_em"] == 0.0
    assert (bad["icd10_tp"], bad["icd10_fp"], bad["icd10_fn"], bad["icd10_f1"]) == (0, 0, 2, 0.0)
    good = scores.extraction_scores('{"age": 80, "sex": "female", "icd10": ["I10"]}', ref)
    assert (good["json_valid"], good["age_em"], good["sex_em"]) == (1.0, 1.0, 0.0)
    assert good["icd10_f1"] == pytest.approx(2 / 3)


# -------------------------------------------------------------------------------- ROUGE-L


def test_rouge_l_on_a_tiny_pair():
    # LCS of "the cat sat on the mat" / "the cat is on the mat" = the cat on the mat = 5
    # P = R = 5/6, F = 5/6
    assert scores.rouge_l("The cat sat on the mat.", "the cat is on the mat") == pytest.approx(
        5 / 6
    )
    # LCS("a b c d", "a c") = 2: P = 2/4, R = 2/2, F = 2 * 0.5 * 1 / 1.5 = 2/3
    assert scores.rouge_l("a b c d", "a c") == pytest.approx(2 / 3)
    assert scores.rouge_l("x y", "a b") == 0.0
    assert scores.rouge_l("", "a b") == 0.0
    assert scores.rouge_l("Hi, sorry!", "hi sorry") == 1.0  # rouge-score's tokenizer
    assert scores.lcs_length("abcbdab", "bdcaba") == 4  # CLRS's example


# ----------------------------------------------------------------------------- perplexity


class _FixedLM:
    """Logits that do not depend on the input: the same distribution at every position."""

    def __init__(self, probs):
        self.logits = torch.log(torch.tensor(probs))

    def __call__(self, input_ids, attention_mask):
        b, t = input_ids.shape
        return type("Out", (), {"logits": self.logits.expand(b, t, -1).clone()})()


def test_perplexity_of_a_uniform_distribution_is_the_vocabulary_size():
    exs = [
        data.Example([0, 1, 2, 3], [data.IGNORE, data.IGNORE, 2, 3]),
        data.Example([4, 1], [data.IGNORE, 1]),
    ]
    nll = ev.response_nll(_FixedLM([0.2] * 5), exs, pad_id=0, batch_size=2, device="cpu")
    assert [c for _, c in nll] == [2, 1]  # the prompt's tokens carry no loss, padding none
    total = scores.perplexity(sum(n for n, _ in nll), sum(c for _, c in nll))
    assert total == pytest.approx(5.0)


def test_perplexity_is_exp_of_the_mean_response_nll():
    # p = (0.5, 0.25, 0.25); response tokens 0 then 1: NLL = ln 2 + ln 4, mean = 1.5 ln 2
    exs = [data.Example([2, 2, 0, 1], [data.IGNORE, data.IGNORE, 0, 1])]
    ((s, c),) = ev.response_nll(_FixedLM([0.5, 0.25, 0.25]), exs, 0, 4, "cpu")
    assert c == 2 and s == pytest.approx(math.log(2) + math.log(4))
    assert scores.perplexity(s, c) == pytest.approx(math.sqrt(8))
    assert math.isnan(scores.perplexity(0.0, 0))


# ----------------------------------------------------------------------- models: fixtures


def _records(n: int, offset: int = 0):
    """Support replies (even numbers) and clinical notes (odd)."""
    return records(n, offset=offset, kinds=(SUPPORT_REPLY, CLINICAL_NOTE))


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory, tiny_params):
    """A tiny base and an adapter whose LoRA weights are nudged off zero (so it differs)."""
    tmp = tmp_path_factory.mktemp("eval")
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in _records(80)]
    base_dir, adapter_dir = tmp / "base", tmp / "adapter"
    random_adapter(texts, tiny_params, 256, base_dir, adapter_dir)
    return base_dir, adapter_dir


def test_left_padded_batch_generates_what_one_at_a_time_does(tiny_folders):
    lm, tok = ev.load_adapter(*tiny_folders, "none")
    lm.eval()
    prompts = [data.format_example(r, tok, True)[0] for r in _records(4)] + [
        "<|bos|><|user|>Hi<|assistant|>"
    ]  # lengths differ: the batch is padded
    lens = {len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts}
    assert len(lens) > 1
    kw = {"max_new_tokens": 8, "min_new_tokens": 8}
    batched = ev.generate(lm, tok, prompts, batch_size=len(prompts), **kw)
    single = [ev.generate(lm, tok, [p], batch_size=1, **kw)[0] for p in prompts]
    assert batched == single
    assert all(batched)
    assert tok.padding_side == "left"


def _train_and_ledger(tmp_path: Path, params):
    """A train split with the profile's canaries planted, and a scrub_pii ledger whose hashes
    are of values the model never saw."""
    from provena.ledger_key import ledger_hash
    from provena.pii.settings import secret_key
    from provena.split.canaries import make_canaries

    canaries = [r for c in make_canaries(params.split.canaries) for r in c.records]
    train = _write(tmp_path / "train.parquet", [*_records(12, offset=200), *canaries])
    key = secret_key(params.scrub_pii)[0]
    ledger = tmp_path / "scrub_pii.jsonl"
    lines = [
        {"id": r["id"], "stage": "scrub_pii", "action": "scrubbed",
         "entities": [{"entity_type": "PERSON",
                       "hash": ledger_hash(key, "Zebulon Quarrington", "PERSON"),
                       "operator": "surrogate", "field": "input", "start": 0, "end": 19}]}
        for r in _records(12, offset=200)
    ]  # fmt: skip
    ledger.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return train, ledger


def _paths(tmp_path: Path, params, folders, test: Path, gold: Path) -> ev.EvaluatePaths:
    """The stage's paths under ``tmp_path``, with a train split and ledger written there."""
    base_dir, adapter_dir = folders
    train, ledger = _train_and_ledger(tmp_path, params)
    return ev.EvaluatePaths(
        {"test": test, "gold": gold},
        base_dir,
        adapter_dir,
        tmp_path / "eval" / "predictions.jsonl",
        tmp_path / "metrics" / "evaluate.json",
        train,
        ledger,
        tmp_path / "audits" / "model_fairness.json",
        tmp_path / "audits" / "privacy_probes.json",
        tmp_path / "reports" / "model.html",
    )


def _scored_or_withheld(entry: dict, keys: set[str]) -> None:
    """Every task score of a group is shown, or withheld because its answers say nothing (the
    tiny test model often gives near-identical prompts one answer); its perplexity always."""
    withheld = set(entry.get("not_evaluable", {}).get("withheld", []))
    assert (keys & set(entry)) | withheld == keys and not keys & set(entry) & withheld
    assert entry["answers"]["evaluable"] is (not withheld)
    assert entry["perplexity"] > 1.0
    for k in keys & set(entry):
        assert 0.0 <= entry[k] <= 1.0


def test_stage_writes_base_adapter_and_delta(tmp_path, tiny_folders, tiny_params):
    test = _write(tmp_path / "test.parquet", _records(10, offset=500))
    gold = _write(tmp_path / "gold.parquet", _records(6, offset=900))
    paths = _paths(tmp_path, tiny_params, tiny_folders, test, gold)
    params = tiny_params.model_copy(
        update={"train": tiny_params.train.model_copy(update={"max_seq_len": 256})}
    )
    result = ev.run(
        params.evaluate,
        paths,
        quantization=params.train.quantization,
        max_seq_len=params.train.max_seq_len,
        use_chat_template=params.train.use_chat_template,
        scrub_pii=params.scrub_pii,
        attributes=params.audit_data.attributes,
        intersections=params.audit_data.intersections,
    )
    metrics = result.metrics
    assert json.loads(paths.metrics.read_text()) == json.loads(json.dumps(metrics))
    n = params.evaluate.max_examples
    for split, size in (("test", 10), ("gold", 6)):
        res = metrics["splits"][split]
        assert res["records"] == size
        for name in ("base", "adapter"):
            fams = res[name]["families"]
            _scored_or_withheld(
                fams["clinical_extraction"], {"json_valid", "age_em", "sex_em", "icd10_micro_f1"}
            )
            _scored_or_withheld(fams["support_reply"], {"rouge_l"})
            assert fams["support_reply"]["generated"] == min(n, size // 2)
        delta = res["delta"]
        assert delta["perplexity"] == pytest.approx(
            res["adapter"]["perplexity"] - res["base"]["perplexity"], abs=1e-5
        )
        assert res["adapter"]["perplexity"] != res["base"]["perplexity"]  # the adapter is on
        both = [res[m]["families"]["support_reply"] for m in ("base", "adapter")]
        assert ("rouge_l" in delta["families"]["support_reply"]) is all(
            "rouge_l" in e for e in both
        )
    assert metrics["not_evaluable"] == ev.not_evaluable(metrics["splits"])
    assert metrics["answer_thresholds"]["min_distinct_share"] == params.evaluate.min_distinct_share
    rows = list(read_jsonl(paths.predictions))
    assert len(rows) == metrics["generated"] == 2 * 2 * (min(n, 5) + min(n, 3))
    row = rows[0]
    assert set(row) == {
        "split", "model", "id", "family", "gender", "age_band", "prediction", "reference",
        "metrics",
    }  # fmt: skip
    assert row["gender"] in ("female", "male") and row["age_band"] in ("18-29", "30-44")
    # the fairness and privacy reports, their verdicts echoed in the metrics
    fairness = json.loads(paths.model_fairness.read_text())
    privacy = json.loads(paths.privacy_probes.read_text())
    assert json.loads(json.dumps(result.report)) == {
        "model_fairness": fairness,
        "privacy_probes": privacy,
    }
    assert metrics["model_fairness"] == fairness["verdict"]
    assert metrics["privacy_probes"] == privacy["verdict"]
    assert set(fairness["splits"]) == {"test", "gold"}
    assert set(fairness["splits"]["test"]["adapter"]) >= {"gender", "age_band"}
    assert fairness["counterfactual"]["probed"] >= 1  # the test records name a woman: swappable
    assert privacy["canaries"]["canaries"] == params.split.canaries.count
    assert privacy["pii"]["probes"] == min(12, params.evaluate.privacy.pii_max_records)
    assert privacy["pii"]["hits_any"] == 0  # the ledger's value is not in any answer
    assert privacy["adversarial"]["prompts"] == 15
    # the model page, rendered from the four outputs: the same page again without the model
    again = render_model_page(
        paths.metrics, paths.model_fairness, paths.privacy_probes, paths.predictions
    )
    assert paths.model_page.read_bytes() == again.encode()  # read_text would turn \r into \n
    assert f'id="verdict-privacy-probes">{privacy["verdict"]}<' in again


def test_cached_continuation_nll_equals_scoring_the_whole_sequence(tiny_folders, tiny_params):
    from provena.evaluate.probes import ModelCalls

    lm, tok = ev.load_adapter(*tiny_folders, "none")
    lm.eval()
    calls = ModelCalls(
        lm,
        tok,
        batch_size=tiny_params.evaluate.batch_size,
        max_seq_len=tiny_params.train.max_seq_len,
        use_chat_template=tiny_params.train.use_chat_template,
    )
    prompt = data.format_example(_records(1)[0], tok, True)[0] + "The verification code is"
    conts = [" 1234567890", " 42", " 9", " 00000000000000"]  # tails of different lengths
    cached = calls.nll(prompt, conts)
    head = tok(prompt, add_special_tokens=False)["input_ids"]
    whole = []
    for c in conts:
        tail = tok(c, add_special_tokens=False)["input_ids"]
        ex = data.Example(input_ids=head + tail, labels=[data.IGNORE] * len(head) + tail)
        whole.append(ev.response_nll(lm, [ex], tok.pad_token_id, 1, "cpu")[0][0])
    assert cached == pytest.approx(whole, rel=1e-4, abs=1e-4)
    assert len(set(round(x, 3) for x in cached)) == len(conts)


def test_stage_needs_the_adapter(tmp_path, tiny_folders, tiny_params):
    with pytest.raises(UserError, match=r"no adapter_model\.safetensors"):
        ev.load_adapter(tiny_folders[0], tmp_path, "none")


# ------------------------------------------------------------------ data without families

#: a question and its answer, with no family in meta (the user's own data)
QA: dict = {
    "source": "mine/qa.jsonl",
    "instruction": lambda i: f"Which city hosts the museum number {i}?",
    "input": lambda i: "She asked me this." if i % 2 else "",
    "output": lambda i: f"The museum number {i} is in Lyon.",
    "meta": lambda i: {"gender": "female" if i % 2 else "male", "age_band": "30-44"},
}


def _qa(n: int, offset: int = 0, **meta):
    out = records(n, offset=offset, kinds=(QA,))
    for r in out:
        r["meta"] |= meta
    return out


def test_records_without_a_family_are_one_group_scored_as_free_text(
    tmp_path, tiny_folders, tiny_params
):
    # the test split: no family at all, and one family no list names
    test = _write(tmp_path / "test.parquet", [*_qa(8, 500), *_qa(4, 600, family="open_qa")])
    gold = _write(tmp_path / "gold.parquet", _qa(5, 900))
    paths = _paths(tmp_path, tiny_params, tiny_folders, test, gold)
    cfg = tiny_params.evaluate
    assert cfg.unlisted_families == "free_text"  # the default: nothing to name
    metrics = ev.run(
        cfg,
        paths,
        quantization="none",
        max_seq_len=256,
        use_chat_template=True,
        scrub_pii=tiny_params.scrub_pii,
        attributes=tiny_params.audit_data.attributes,
        intersections=tiny_params.audit_data.intersections,
    ).metrics
    n = cfg.max_examples
    test_res, gold_res = metrics["splits"]["test"], metrics["splits"]["gold"]
    assert set(test_res["scoring"]) == {NO_FAMILY, "open_qa"}
    none = test_res["scoring"][NO_FAMILY]
    assert none == {
        "records": 8,
        "scored_as": "free_text",
        "metrics": ["perplexity", "rouge_l"],
        "why": "records without a family: evaluate.unlisted_families is free_text",
    }
    assert test_res["scoring"]["open_qa"]["why"].startswith("a family in neither")
    for res, size in ((test_res, 8), (gold_res, 5)):
        for name in ("base", "adapter"):
            fam = res[name]["families"][NO_FAMILY]
            assert fam["generated"] == min(n, size)
            _scored_or_withheld(fam, {"rouge_l"})
        both = [res[m]["families"][NO_FAMILY] for m in ("base", "adapter")]
        assert ("rouge_l" in res["delta"]["families"][NO_FAMILY]) is all(
            "rouge_l" in e for e in both
        )
    assert test_res["adapter"]["families"]["open_qa"]["generated"] == min(n, 4)
    rows = list(read_jsonl(paths.predictions))
    assert {r["family"] for r in rows} == {NO_FAMILY, "open_qa"}
    assert len(rows) == metrics["generated"] == 2 * (min(n, 8) + min(n, 4) + min(n, 5))
    assert all(set(r["metrics"]) >= {"rouge_l"} for r in rows)
    # model fairness groups the family-less rows, and swaps their prompts like any other
    fairness = json.loads(paths.model_fairness.read_text())
    gender = fairness["splits"]["test"]["adapter"]["gender"]["by_group"]
    assert all(set(g["families"]) <= {NO_FAMILY, "open_qa"} for g in gender.values())
    assert fairness["counterfactual"]["probed"] >= 1
    assert set(fairness["counterfactual"]["families"]) <= {NO_FAMILY, "open_qa"}


def test_unlisted_families_perplexity_generates_nothing_for_them_and_says_so(
    tiny_folders, tiny_params
):
    lm, tok = ev.load_adapter(*tiny_folders, "none")
    cfg = tiny_params.evaluate.model_copy(update={"unlisted_families": "perplexity"})
    recs = [*_qa(6, 100), *records(4, offset=200, kinds=(SUPPORT_REPLY,))]
    res, rows = ev.evaluate_records(
        lm, tok, recs, cfg, split="test", max_seq_len=256, use_chat_template=True
    )
    assert {r["family"] for r in rows} == {"support_reply"}
    assert res["scoring"][NO_FAMILY]["scored_as"] == "perplexity"
    assert res["scoring"][NO_FAMILY]["metrics"] == ["perplexity"]
    assert "unlisted_families is perplexity" in res["scoring"][NO_FAMILY]["why"]
    assert res["scoring"]["support_reply"]["why"] == "listed in evaluate.free_text_families"
    fam = res["adapter"]["families"][NO_FAMILY]
    assert fam["generated"] == 0 and "rouge_l" not in fam and fam["perplexity"] > 1.0


def test_a_group_with_nothing_to_measure_is_not_judged_with_the_reason(tiny_folders, tiny_params):
    lm, tok = ev.load_adapter(*tiny_folders, "none")
    long_prompt = records(2, kinds=(QA,), instruction=lambda i: "word " * 400)
    res, rows = ev.evaluate_records(
        lm, tok, [*long_prompt, *_qa(3, 50)], tiny_params.evaluate, split="test",
        max_seq_len=64, use_chat_template=True,
    )  # fmt: skip
    # the long prompts and the short ones share the group: it is measured on the short ones
    assert "not_judged" not in res["scoring"][NO_FAMILY]
    res, rows = ev.evaluate_records(
        lm, tok, long_prompt, tiny_params.evaluate, split="test", max_seq_len=64,
        use_chat_template=True,
    )  # fmt: skip
    assert rows == []
    entry = res["scoring"][NO_FAMILY]
    assert "perplexity: no example" in entry["not_judged"]
    assert "answers: every prompt of the group fills train.max_seq_len" in entry["not_judged"]
    assert res["adapter"]["perplexity"] is None
    assert res["adapter"]["families"][NO_FAMILY]["perplexity"] is None
    assert json.loads(json.dumps(res, allow_nan=False)) == res  # no NaN in the metrics


# ------------------------------------------------------------- a model that says nothing


def _answers_of(kind: str):
    """A fake ``generate``: the same bytes to every prompt, nothing, or a different answer to
    each prompt."""

    def fake(lm, tokenizer, prompts, **kw):
        if kind == "constant":
            return ['{"age": "sex": "sex": "sex"' for _ in prompts]
        if kind == "empty":
            return ["\n\n" for _ in prompts]
        return [f"answer {zlib.crc32(p.encode())}" for p in prompts]

    return fake


@pytest.mark.parametrize("kind", ["constant", "empty", "diverse"])
def test_answers_that_say_nothing_are_not_evaluable_and_their_scores_withheld(
    tiny_folders, tiny_params, monkeypatch, kind
):
    lm, tok = ev.load_adapter(*tiny_folders, "none")
    monkeypatch.setattr(ev, "generate", _answers_of(kind))
    recs = _records(12, offset=300)
    replies = iter(
        (
            "Your parcel left Leeds on Monday.",
            "We refunded the blue kettle.",
            "Please send a photo of the dent.",
            "The voucher code expired in May.",
            "A courier collects it tomorrow at noon.",
            "Your account email is changed.",
        )
    )
    for r in recs:  # the factory's replies differ in one number: near duplicates themselves
        if r["meta"]["family"] == "support_reply":
            r["output"] = next(replies)
    res, rows = ev.evaluate_records(
        lm, tok, recs, tiny_params.evaluate, split="test", max_seq_len=256,
        use_chat_template=True,
    )  # fmt: skip
    for name in ("base", "adapter"):
        for fam, scored in (("clinical_extraction", "json_valid"), ("support_reply", "rouge_l")):
            entry = res[name]["families"][fam]
            answers = entry["answers"]
            n = entry["generated"]
            assert answers["answers"] == n == min(6, tiny_params.evaluate.max_examples) > 1
            assert entry["perplexity"] > 1.0  # the references' NLL: measured all the same
            if kind == "diverse":
                assert answers["evaluable"] is True and answers["distinct_share"] == 1.0
                assert scored in entry and "not_evaluable" not in entry
                continue
            assert answers["evaluable"] is False
            assert scored not in entry and scored not in res["delta"]["families"].get(fam, {})
            assert scored in entry["not_evaluable"]["withheld"]
            if kind == "empty":
                assert (answers["empty"], answers["empty_share"]) == (n, 1.0)
                assert f"{n} of {n} answers are empty" in entry["not_evaluable"]["reason"]
            else:
                assert (answers["distinct"], answers["empty"]) == (1, 0)
                assert answers["reference_distinct_share"] == 1.0
                assert (
                    f"constant: one answer to all {n} prompts" in entry["not_evaluable"]["reason"]
                )
    # the per-example rows keep their metrics: the raw material is not hidden
    assert all("rouge_l" in r["metrics"] or "json_valid" in r["metrics"] for r in rows)
    silent = ev.not_evaluable({"test": res})
    assert len(silent) == (0 if kind == "diverse" else 4)
    assert all(set(g) == {"split", "model", "family", "distinct_share", "empty_share", "reason"}
               for g in silent)  # fmt: skip
