"""provena compare: paired intervals, verdicts, the CI exit status, answers with ratings, and
two tiny models on the same records."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as sps

from provena.cli import main
from provena.compare import compare_scored, stats
from provena.config import CompareConfig, EvaluateConfig
from tests.factory import CLINICAL_NOTE, SUPPORT_REPLY, records, write_records

CFG = CompareConfig(resamples=500)


# ------------------------------------------------------------------------ paired intervals


def test_a_constant_shift_gives_a_tight_interval_because_the_resamples_are_paired():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 60)  # records differ a lot among themselves
    b = a + 0.05  # B is better by 0.05 on every record
    c = stats.compare(stats.mean_of("score"), {"score": a}, {"score": b}, CFG)
    lo, hi = c["interval"]
    assert c["difference"] == pytest.approx(0.05)
    assert hi - lo < 1e-9 and lo == pytest.approx(0.05)
    assert c["verdict"] == "better"
    # the same data resampled unpaired: the records' spread swamps the shift
    unpaired = sps.bootstrap(
        (b, a),
        lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
        n_resamples=500,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert unpaired.low < 0 < unpaired.high


def test_verdicts_read_the_whole_interval_and_the_margin():
    v = stats.verdict
    assert v((0.01, 0.2), higher_is_better=True, margin=0) == "better"
    assert v((-0.2, -0.01), higher_is_better=True, margin=0) == "worse"
    assert v((-0.2, -0.01), higher_is_better=True, margin=0.05) == "no difference"
    assert v((-0.2, 0.1), higher_is_better=True, margin=0) == "no difference"
    assert v((0.1, 0.3), higher_is_better=False, margin=0) == "worse"  # perplexity up
    assert v(None, higher_is_better=True, margin=0) == "not judged"
    one = stats.compare(stats.mean_of("s"), {"s": [0.5]}, {"s": [0.1]}, CFG)
    assert one["verdict"] == "not judged" and "fewer than two" in one["reason"]


def test_perplexity_and_micro_f1_are_computed_on_each_resample_not_averaged_per_record():
    a = {"nll": [2.0, 4.0, 6.0], "tokens": [2, 4, 6]}  # exp(12 / 12)
    b = {"nll": [4.0, 8.0, 12.0], "tokens": [2, 4, 6]}  # exp(24 / 12)
    c = stats.compare(stats.PERPLEXITY, a, b, CFG)
    assert c["a"] == pytest.approx(np.e, abs=1e-6) and c["b"] == pytest.approx(np.e**2, abs=1e-5)
    assert c["verdict"] == "worse"
    relaxed = CFG.model_copy(update={"perplexity_margin": 2.0})  # up to 3 x A's tolerated
    assert stats.compare(stats.PERPLEXITY, a, b, relaxed)["verdict"] == "no difference"
    f1a = {"icd10_tp": [1, 0, 1, 1], "icd10_fp": [0, 1, 0, 0], "icd10_fn": [0, 1, 0, 0]}
    same = stats.compare(stats.MICRO_F1, f1a, f1a, CFG)
    assert same["a"] == pytest.approx(6 / 8) and same["interval"] == [0.0, 0.0]
    assert same["verdict"] == "no difference"


# ------------------------------------------------------------------------- scored models


def _rows(name, recs, quality):
    return [
        {
            "split": "test",
            "model": name,
            "id": r["id"],
            "family": r["meta"]["family"],
            "prediction": f"answer {q:.2f}",
            "reference": r["output"],
            "metrics": {"rouge_l": q},
        }
        for r, q in zip(recs, quality, strict=True)
    ]


def _scored(name, recs, quality, nll):
    from provena.compare import Scored
    from provena.evaluate import Selection

    sel = Selection(["support_reply"], list(recs), [None] * len(recs), 0, [], set())
    return Scored(sel, [(x, 10) for x in nll], _rows(name, recs, quality))


def _reply_records(n):
    genders = ("male", "female")
    return records(
        n,
        kinds=(SUPPORT_REPLY,),
        meta=lambda i: {"gender": genders[i % 2], "age_band": "30-44"},
    )


def test_a_wider_gap_between_groups_is_worse_and_gates_the_outcome():
    recs = _reply_records(20)
    qa = [0.6] * 20
    # B: the same for men, much worse for women; the mean drops and the gap opens
    qb = [0.6 if r["meta"]["gender"] == "male" else 0.2 for r in recs]
    out = compare_scored(
        {"test": _scored("A", recs, qa, [5.0] * 20)},
        {"test": _scored("B", recs, qb, [5.0] * 20)},
        {"test": recs},
        EvaluateConfig(),
        CFG,
        attributes=["gender", "age_band"],
    )
    s = out["splits"]["test"]
    assert s["fairness_gaps"]["gender"]["verdict"] == "worse"
    assert s["fairness_gaps"]["gender"]["a"] == 0 and s["fairness_gaps"]["gender"]["b"] == 0.4
    assert s["fairness_gaps"]["age_band"]["verdict"] == "not judged"  # one group only
    assert s["groups"]["gender"]["female"]["verdict"] == "worse"
    assert s["groups"]["gender"]["male"]["verdict"] == "no difference"
    assert s["families"]["support_reply"]["rouge_l"]["verdict"] == "worse"
    assert s["perplexity"]["verdict"] == "no difference"
    outcome = stats.gate(out, CFG)
    assert not outcome["b_not_worse"]
    assert "test / fairness_gaps / gender" in outcome["worse"]
    assert "test / families / support_reply / rouge_l" in outcome["worse"]
    # per-group differences are reported, not gated, by default
    assert not any("groups" in w for w in outcome["worse"])
    only_groups = stats.gate(out, CFG.model_copy(update={"gate": ["groups"]}))
    # everyone is in age band 30-44: the drop shows there too; men's quality did not move
    assert only_groups["worse"] == [
        "test / groups / gender / female",
        "test / groups / age_band / 30-44",
    ]
    # the answers that differ most come first, side by side
    first = out["differing_answers"][0]
    assert (first["quality_a"], first["quality_b"]) == (0.6, 0.2) and first["prompt"]


# ------------------------------------------------------------------------- answers mode


def _answers(path, model, quality, split="test"):
    recs = _reply_records(len(quality))
    rows = []
    for r, q in zip(recs, quality, strict=True):
        words = r["output"].split()
        keep = words[: max(1, int(len(words) * q))]
        rows.append(
            {
                "split": split,
                "model": model,
                "id": r["id"],
                "family": "support_reply",
                "gender": r["meta"]["gender"],
                "prediction": " ".join(keep),
                "reference": r["output"],
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    return rows


def _ratings_sheet(path, rows, rating_of):
    from provena.review import review_id

    head = "review_id,split,model,family,id,rating,comment,reviewer"
    lines = [head] + [
        f"{review_id(r['split'], r['model'], r['id'])},{r['split']},{r['model']},"
        f"{r['family']},{r['id']},{rating_of(r)},,Ann"
        for r in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _cli(tmp_path, *argv):
    return subprocess.run(
        [sys.executable, "-m", "provena.cli", "compare", *map(str, argv)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _in_process(tmp_path, monkeypatch, capsys):
    """``provena compare ARGV`` run in this process in ``tmp_path``: (exit status, stdout).
    The exit status is what main returns, and the console script exits with; the bad-input
    test below runs the command line itself."""
    monkeypatch.chdir(tmp_path)

    def run(*argv):
        capsys.readouterr()
        rc = main(["compare", *map(str, argv)])
        return rc, capsys.readouterr().out

    return run


def test_answers_with_ratings_pair_by_id_and_a_worse_b_exits_1(tmp_path, monkeypatch, capsys):
    rows_a = _answers(tmp_path / "a.jsonl", "current", [1.0] * 12)
    rows_b = _answers(tmp_path / "b.jsonl", "candidate", [1.0] * 12)
    _ratings_sheet(tmp_path / "a.csv", rows_a, lambda r: 5)
    _ratings_sheet(tmp_path / "b.csv", rows_b, lambda r: 2)
    for sheet in ("a.csv", "b.csv"):
        assert (
            main(["review", "import", str(tmp_path / sheet), "--out", str(tmp_path / "r.json")])
            == 0
        )
    cli = _in_process(tmp_path, monkeypatch, capsys)
    rc, stdout = cli("--answers", "a.jsonl", "b.jsonl", "--ratings", "r.json")
    assert rc == 1
    assert "worse: ratings / overall" in stdout
    out = json.loads((tmp_path / "reports/compare.json").read_text())
    r = out["ratings"]
    assert r["rated_pairs"] == 12 and r["overall"]["difference"] == -3.0
    assert r["overall"]["verdict"] == "worse"
    # the same answers: their automatic scores do not differ
    assert out["splits"]["test"]["families"]["support_reply"]["rouge_l"]["verdict"] == (
        "no difference"
    )
    html = (tmp_path / "reports/compare.html").read_text()
    assert 'id="ratings"' in html and "B is worse" in html
    # B rated as well as A: not worse, exit 0
    _ratings_sheet(tmp_path / "b.csv", rows_b, lambda r: 5)
    assert (
        main(["review", "import", str(tmp_path / "b.csv"), "--out", str(tmp_path / "r.json")]) == 0
    )
    rc, stdout = cli("--answers", "a.jsonl", "b.jsonl", "--ratings", "r.json", "--out", "o.json")
    assert rc == 0, stdout
    assert stdout.startswith("B is not worse")


def test_worse_answers_exit_1_and_identical_ones_0(tmp_path):
    _answers(tmp_path / "a.jsonl", "adapter", [1.0] * 12)
    _answers(tmp_path / "b.jsonl", "adapter", [0.3] * 12)
    proc = _cli(tmp_path, "--answers", "a.jsonl", "b.jsonl")  # the console script's exit status
    assert proc.returncode == 1
    assert "test / families / support_reply / rouge_l" in proc.stdout
    proc = _cli(tmp_path, "--answers", "a.jsonl", "a.jsonl")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / "reports/compare.json").read_text())
    assert set(out["outcome"]["verdicts"]) <= {"no difference", "not judged"}
    assert out["differing_answers"] == []


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["missing_a", "missing_b"], "missing_a: no such folder"),
        (["empty", "empty"], "empty: neither an adapter"),
        (["--answers", "bad.jsonl", "bad.jsonl"], "bad.jsonl, line 2: not valid JSON"),
        (["--answers", "a.jsonl", "other.jsonl"], "other.jsonl: no (split, id) in common"),
        (["--answers", "a.jsonl", "same.jsonl", "--ratings", "r.json"], "r.json: no such"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, argv, names):
    (tmp_path / "empty").mkdir()
    rows = _answers(tmp_path / "a.jsonl", "adapter", [1.0] * 3)
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n{oops\n")
    _answers(tmp_path / "other.jsonl", "adapter", [1.0] * 3, split="gold")
    shutil.copy(tmp_path / "a.jsonl", tmp_path / "same.jsonl")
    proc = _cli(tmp_path, *argv)
    assert proc.returncode == 2
    assert names in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------- two tiny models


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, tiny_params):
    """A tiny base; adapter ``trained`` (a few full-batch steps on the test and gold
    references), ``copy`` (the same files) and ``untrained`` (LoRA B zero: the base itself, much
    worse on them). Torch runs on one thread meanwhile: a 32-wide model gains nothing from more,
    and on a busy runner their spin-waits make each step many times slower."""
    import torch

    from provena.modeling import data, model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("compare")
    kinds = (SUPPORT_REPLY, CLINICAL_NOTE)
    test, gold = records(8, offset=100, kinds=kinds), records(4, offset=200, kinds=kinds)
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in records(40, kinds=kinds)]
    model.build_tiny_base(texts, tiny_params.train.tiny, 256, tmp / "base")
    precision = model.resolve_precision("none")
    for name, steps in (("trained", 15), ("untrained", 0)):
        base, tok = model.load_base(tmp / "base", precision)
        torch.manual_seed(0)
        lm = model.add_lora(base, tiny_params.train.lora, precision, checkpointing=False)
        batches: dict[int, list] = {}  # examples of one length make one batch: no padding
        for r in test + gold:
            ex = data.tokenize_example(*data.format_example(r, tok, True)[:2], tok, 256)
            batches.setdefault(len(ex.input_ids), []).append(ex)
        opt = torch.optim.AdamW([p for p in lm.parameters() if p.requires_grad], lr=1e-2)
        lm.train()
        for _ in range(steps):
            for batch in batches.values():
                out = lm(
                    input_ids=torch.tensor([ex.input_ids for ex in batch]),
                    labels=torch.tensor([ex.labels for ex in batch]),
                )
                out.loss.backward()
                opt.step()
                opt.zero_grad()
        lm.save_pretrained(tmp / name, safe_serialization=True)
        tok.save_pretrained(tmp / name)
    shutil.copytree(tmp / "trained", tmp / "copy")
    write_records(tmp / "test.parquet", test)
    write_records(tmp / "gold.parquet", gold)
    yield tmp
    torch.set_num_threads(threads)


def _params(tmp, tiny_yaml_text):
    import yaml

    data = yaml.safe_load(tiny_yaml_text)
    data["train"]["quantization"] = "none"
    data["train"]["max_seq_len"] = 256
    data["evaluate"]["max_examples"] = 3
    data["evaluate"]["max_new_tokens"] = 6
    data["compare"] = {"resamples": 200}
    (tmp / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_same_adapter_twice_is_no_different_and_its_base_is_worse(
    tiny_models, tmp_path, monkeypatch, capsys
):
    """Run in this process (:func:`_in_process`): two model runs, without the imports of two
    fresh interpreters."""
    from tests.conftest import tiny_yaml

    _params(tmp_path, tiny_yaml())
    cli = _in_process(tmp_path, monkeypatch, capsys)
    common = [
        "--test", tiny_models / "test.parquet", "--gold", tiny_models / "gold.parquet",
        "--base", tiny_models / "base", "--no-privacy",
    ]  # fmt: skip
    rc, stdout = cli(tiny_models / "trained", tiny_models / "copy", *common)
    assert rc == 0, stdout
    assert stdout.startswith("B is not worse")
    same = json.loads((tmp_path / "reports/compare.json").read_text())
    assert set(same["outcome"]["verdicts"]) <= {"no difference", "not judged"}
    assert same["splits"]["test"]["perplexity"]["interval"] == [0.0, 0.0]
    assert same["splits"]["test"]["paired_answers"] > 0 and same["differing_answers"] == []
    assert same["privacy_skipped"] == "--no-privacy"
    rc, stdout = cli(tiny_models / "trained", tiny_models / "untrained", *common, "--out", "n.json")
    assert rc == 1
    assert "worse: test / perplexity" in stdout
    worse = json.loads((tmp_path / "n.json").read_text())
    assert worse["splits"]["test"]["perplexity"]["verdict"] == "worse"
    assert "test / perplexity" in worse["outcome"]["worse"]
    html = (tmp_path / "n.html").read_text()
    for section in ("outcome", "families", "groups", "fairness-gaps", "privacy", "answers"):
        assert f'id="{section}"' in html
