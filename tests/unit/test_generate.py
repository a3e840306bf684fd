"""provena generate: a tiny adapter answers an input file line by line, each answer with the
guardrail's verdict; bad input is a one-line error naming the file, line and field."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from provena.cli import main
from provena.config import CanaryConfig
from provena.generate import base_of, load_model
from provena.split.canaries import make_canaries
from tests.factory import CLINICAL_NOTE, SUPPORT_REPLY, records, write_records
from tests.helpers.train import random_adapter


def _records(n: int, offset: int = 0):
    return records(n, offset=offset, kinds=(SUPPORT_REPLY, CLINICAL_NOTE))


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_params) -> Path:
    """A tiny base, an adapter whose LoRA weights are nudged off zero, a train split with
    canaries and an (empty) scrub_pii ledger: what `provena generate` reads."""
    root = tmp_path_factory.mktemp("gen")
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in _records(40)]
    base_dir, adapter_dir = root / "models" / "base", root / "models" / "adapter"
    random_adapter(texts, tiny_params, 128, base_dir, adapter_dir)
    canaries = [r for c in make_canaries(CanaryConfig()) for r in c.records]
    train = root / "data" / "processed" / "train.parquet"
    train.parent.mkdir(parents=True)
    write_records(train, [*_records(8), *canaries])
    ledger = root / "data" / "ledger" / "scrub_pii.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("")
    return root


def _inputs(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_generate_writes_one_line_per_input_with_answer_and_verdict(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    rows = [
        {"id": "a", "instruction": "Reply to the customer politely.", "input": "Order 7 is late."},
        {"id": "b", "instruction": "Return the patient's age as JSON.", "input": None},
        {"id": "c", "instruction": "Say hello.", "source": "elsewhere"},
    ]
    _inputs(project / "in.jsonl", rows)
    argv = ["generate", "models/adapter", "--input", "in.jsonl", "--out", "out.jsonl"]
    assert main([*argv, "--max-new-tokens", "6", "--batch-size", "2"]) == 0
    out = [json.loads(x) for x in (project / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert out[2]["source"] == "elsewhere"  # other fields pass through
    for o in out:
        assert isinstance(o["answer"], str)
        g = o["guardrail"]
        assert g["policy"].startswith("provena-default@") and isinstance(g["allowed"], bool)
        assert g["allowed"] == (not g["reasons"])
        assert isinstance(g["flags"], list)  # flagged without blocking: answer returned
    summary = capsys.readouterr().out
    assert "3 answers (adapter) -> out.jsonl; guardrail provena-default@" in summary
    blocked = sum(not o["guardrail"]["allowed"] for o in out)
    flagged = sum(o["guardrail"]["allowed"] and bool(o["guardrail"]["flags"]) for o in out)
    assert f": {blocked} blocked, {flagged} flagged" in summary


def test_generate_matches_the_models_own_greedy_answer(project, monkeypatch):
    """The answer is the adapter's greedy continuation of training's chat prompt."""
    from provena.modeling import data

    monkeypatch.chdir(project)
    _inputs(project / "one.jsonl", [{"instruction": "Say hello."}])
    argv = ["generate", "models/adapter", "--input", "one.jsonl", "--out", "one.out.jsonl"]
    assert main([*argv, "--max-new-tokens", "5", "--no-guardrail"]) == 0
    line = json.loads((project / "one.out.jsonl").read_text())
    assert line["guardrail"] is None
    loaded = load_model(project / "models" / "adapter")
    rec = {"instruction": "Say hello.", "input": "", "output": ""}
    prompt = data.format_example(rec, loaded.tokenizer, True)[0]
    assert prompt.startswith("<|bos|><|user|>Say hello.<|assistant|>")
    enc = loaded.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    gen = loaded.lm.generate(**enc, max_new_tokens=5, do_sample=False)
    want = loaded.tokenizer.decode(gen[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    assert line["answer"] == want


def test_the_adapter_finds_its_base(project):
    assert base_of(project / "models" / "adapter") == project / "models" / "base"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"input": "x"}', "bad.jsonl, line 2: field 'instruction' must be non-empty text (got missing)"),
        ('{"instruction": 3}', "bad.jsonl, line 2: field 'instruction' must be non-empty text (got a int)"),
        ('{"instruction": "x", "input": ["y"]}', "bad.jsonl, line 2: field 'input' must be text or absent"),
        ('{"instruction": "x"', "bad.jsonl, line 2: not valid JSON"),
        ('["x"]', "bad.jsonl, line 2: not a JSON object (got an array)"),
    ],
)  # fmt: skip
def test_a_bad_input_line_is_a_one_line_error(project, line, message):
    bad = project / "bad.jsonl"
    bad.write_text('{"instruction": "fine"}\n' + line + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "provena.cli", "generate", "models/adapter", "--input", "bad.jsonl",
         "--out", "o.jsonl"],
        cwd=project, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    errors = [x for x in proc.stderr.splitlines() if x.startswith("ERROR")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in proc.stderr and not (project / "o.jsonl").exists()
