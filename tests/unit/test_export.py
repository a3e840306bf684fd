"""provena export: merged and int8 exports of a tiny adapter, their loading (offline, no remote
code, safetensors), their lineage (trace, trained-on) and the quality gate that refuses a
degraded export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from provena import export as ex
from provena.cli import main
from provena.config import EvaluateConfig
from provena.errors import UserError
from provena.evaluate import load_adapter
from provena.export import quality
from provena.io import file_md5
from provena.lineage import search_trained_on, trace
from provena.manifest import sha256_file
from provena.modeling import data, model
from tests.factory import SUPPORT_REPLY, records, write_records
from tests.helpers.train import random_adapter

MAX_SEQ_LEN = 256
#: small enough to run in seconds: 6 answers of 12 tokens per family
CFG = EvaluateConfig(max_examples=6, max_new_tokens=12, batch_size=8)


def _manifest(root: Path, train: Path) -> dict:
    """An adapter manifest as train writes it, reduced to what trace and trained-on read."""
    return {
        "kind": "provena.adapter_manifest",
        "version": 1,
        "created_at": "2026-01-01T00:00:00+00:00",
        "split": {
            "train": {
                "path": "data/processed/train.parquet",
                "sha256": sha256_file(train),
                "md5": file_md5(train),
                "records": 8,
            }
        },
        "gate": {"checks": []},
        "params": {"train": {"max_seq_len": MAX_SEQ_LEN, "use_chat_template": True}},
        "git": {"commit": None, "dirty": None},
        "base_model": {"name": "tiny", "path": "models/base", "files": {}},
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_params):
    """A project with a tiny base, an adapter nudged off zero, its manifest and dvc.lock, a card,
    and a test split whose references are the adapter's own answers (ROUGE-L 1.0 each: a
    degraded export cannot hide in a wide interval)."""
    root = tmp_path_factory.mktemp("export")
    recs = records(40, kinds=(SUPPORT_REPLY,))
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in recs]
    base_dir, adapter_dir = root / "models" / "base", root / "models" / "adapter"
    random_adapter(texts, tiny_params, MAX_SEQ_LEN, base_dir, adapter_dir)
    train = write_records(root / "data" / "processed" / "train.parquet", recs[:8])
    (adapter_dir / "manifest.json").write_text(json.dumps(_manifest(root, train)))
    lock = {
        "schema": "2.0",
        "stages": {
            "split": {
                "cmd": "python stages/split.py",
                "deps": [],
                "outs": [{"path": "data/processed/train.parquet", "md5": file_md5(train)}],
            }
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "models" / "card").mkdir()
    (root / "models" / "card" / "README.md").write_text("# the adapter's card\n")
    (root / "models" / "card" / "card.json").write_text("{}\n")
    # the test split: references replaced by the adapter's answers
    test_recs = recs[8:]
    lm, tok = load_adapter(base_dir, adapter_dir, "none")
    gen, _ = quality.prepare(test_recs, tok, CFG, MAX_SEQ_LEN, True)
    answers = {a["id"]: a["prediction"] for a in quality.score_model(lm, tok, gen, [], CFG).answers}
    for r in test_recs:
        r["output"] = answers.get(r["id"], r["output"])
    write_records(root / "data" / "processed" / "test.parquet", test_recs)
    return root


def _export(project: Path, name: str, **kw) -> ex.ExportResult:
    out = project / "models" / name
    if (out / ex.EXPORT_FILE).is_file():  # module fixture: each export once
        return ex.ExportResult(out, "", {}, False)
    return ex.export_adapter(project / "models" / "adapter", out, cfg=CFG, bootstrap=200, **kw)


@pytest.fixture(scope="module")
def merged(project) -> Path:
    _export(project, "merged", merge=True)
    return project / "models" / "merged"


@pytest.fixture(scope="module")
def int8_dir(project) -> Path:
    # forced: the fixture's adapter is random weights whose greedy answers flip on any rounding,
    # and its test references are those answers (the default model's int8 export passes: the
    # bench records it)
    _export(project, "int8", quantize="int8", force=True)
    return project / "models" / "int8"


def _logits(lm, tok) -> torch.Tensor:
    rec = records(2, offset=300, kinds=(SUPPORT_REPLY,))
    prompts = [data.format_example(r, tok, True)[0] for r in rec]
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        return lm(**enc).logits.float()


def test_merged_export_gives_the_adapters_logits(project, merged, int8_dir):
    lm, tok = load_adapter(project / "models" / "base", project / "models" / "adapter", "none")
    lm.eval()
    want = _logits(lm, tok)
    got = _logits(*ex.load_export(merged))
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    # int8: close, not equal (a weight moves by at most half its row's scale; activations are
    # quantized per batch)
    q = _logits(*ex.load_export(int8_dir))
    assert not torch.equal(q, want)
    rel = float((q - want).norm() / want.norm())
    cos = torch.nn.functional.cosine_similarity(q, want, dim=-1)
    assert rel < 0.1 and float(cos.min()) > 0.99, (rel, float(cos.min()))


@pytest.mark.parametrize("name", ["merged", "int8"])
def test_each_export_loads_offline_from_safetensors_with_its_chat_template(
    project, merged, int8_dir, name
):
    folder = project / "models" / name
    files = {p.name for p in folder.iterdir()}
    assert any(f.endswith(".safetensors") for f in files)
    assert not {f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl"))}
    assert {"export.json", "manifest.json", "README.md", "card.json", "config.json"} <= files
    assert "auto_map" not in json.loads((folder / "config.json").read_text())  # no remote code
    info = json.loads((folder / "export.json").read_text())
    assert info["kind"] == name and info["files"] == {
        f: sha256_file(folder / f) for f in files - {"export.json", "manifest.json"}
    }
    # a fresh process with the network cut and the hub off loads it, and generates
    code = (
        "import sys, torch; from provena.export import load_export\n"
        "lm, tok = load_export(sys.argv[1])\n"
        "p = tok.apply_chat_template([{'role': 'user', 'content': 'Hi'}], tokenize=False,"
        " add_generation_prompt=True)\n"
        "ids = tok(p, return_tensors='pt', add_special_tokens=False)\n"
        "out = lm.generate(**ids, max_new_tokens=3, min_new_tokens=3, do_sample=False)\n"
        "print(out.shape[1] - ids['input_ids'].shape[1])\n"
    )
    from tests.helpers.offline import offline_env

    prefix, env = offline_env()
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "3"
    if name == "merged":  # plain transformers reads it, as vLLM would
        from transformers import AutoModelForCausalLM, AutoTokenizer

        lm = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False, use_safetensors=True
        )
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        assert lm.config.model_type == "llama"
        assert tok.chat_template == model.TINY_CHAT_TEMPLATE


def test_export_carries_the_lineage_and_trace_fails_on_a_changed_file(project, int8_dir, capsys):
    manifest = json.loads((int8_dir / "manifest.json").read_text())
    adapter = json.loads((project / "models" / "adapter" / "manifest.json").read_text())
    assert {k: v for k, v in manifest.items() if k != "export"} == adapter
    step = manifest["export"]
    assert step["kind"] == "int8" and step["params"]["quantize"] == "int8"
    assert step["source_adapter"]["path"] == "models/adapter"
    assert step["files"]["model.int8.safetensors"] == sha256_file(
        int8_dir / "model.int8.safetensors"
    )
    readme = (int8_dir / "README.md").read_text()
    assert readme.startswith("# the adapter's card") and "## Export" in readme
    assert trace(int8_dir).ok
    assert main(["trace", str(int8_dir)]) == 0
    # trained-on finds the export like an adapter
    rid = records(1, kinds=(SUPPORT_REPLY,))[0]["id"]
    found = search_trained_on(rid, [project / "models"], root=project)
    assert {"models/adapter", "models/int8"} <= {h.adapter for h in found.hits}
    # one changed byte of the weights: trace fails and names the file, loading refuses
    weights = int8_dir / "model.int8.safetensors"
    original = weights.read_bytes()
    try:
        changed = bytearray(original)
        changed[-1] ^= 1
        weights.write_bytes(bytes(changed))
        t = trace(int8_dir)
        assert [e.path for e in t.problems] == ["models/int8/model.int8.safetensors"]
        capsys.readouterr()
        assert main(["trace", str(int8_dir)]) == 1
        assert "models/int8/model.int8.safetensors CHANGED" in capsys.readouterr().out
        with pytest.raises(UserError, match="changed since export"):
            ex.load_export(int8_dir)
    finally:
        weights.write_bytes(original)
    # a file the export did not write counts as a change too
    extra = int8_dir / "pytorch_model.bin"
    extra.write_bytes(b"x")
    try:
        t = trace(int8_dir)
        assert [(e.path, e.note) for e in t.problems] == [
            ("models/int8/pytorch_model.bin", "not written by the export")
        ]
    finally:
        extra.unlink()
    assert trace(int8_dir).ok


def _degrade(monkeypatch):
    real = ex._merge

    def noisy(lm):
        merged = real(lm)
        torch.manual_seed(1)
        with torch.no_grad():
            for name, p in merged.named_parameters():
                if "mlp" in name or "self_attn" in name:
                    p.add_(torch.randn_like(p) * p.std() * 3)
        return merged

    monkeypatch.setattr(ex, "_merge", noisy)


def test_a_degraded_export_is_refused_unless_forced(project, monkeypatch, caplog):
    _degrade(monkeypatch)
    out = project / "models" / "degraded"
    with pytest.raises(ex.ExportRefused) as err:
        ex.export_adapter(project / "models" / "adapter", out, merge=True, cfg=CFG, bootstrap=200)
    assert not out.exists()  # nothing written
    assert any("support_reply rouge_l" in r for r in err.value.reasons)
    assert "below the adapter's 95% interval" in str(err.value)
    score = err.value.quality["families"]["support_reply"]["task_scores"]["rouge_l"]
    assert score["adapter"] == 1.0 and score["export"] < 1.0 and not score["within"]
    # the command: exit 1 and the reason; with --force it writes, recorded as forced
    args = ["export", str(project / "models" / "adapter"), str(out), "--merge",
            "--max-examples", "6", "--bootstrap", "200"]  # fmt: skip
    monkeypatch.chdir(project)
    assert main(args) == 1
    assert "export refused: support_reply rouge_l" in caplog.text
    assert not out.exists()
    assert main([*args, "--force"]) == 0
    info = json.loads((out / "export.json").read_text())
    assert info["forced"] is True and info["quality"]["verdict"] == "fail"
    assert "forced" in (out / "README.md").read_text()


def test_usage_errors_are_one_line(project, tmp_path):
    adapter = project / "models" / "adapter"
    with pytest.raises(UserError, match="nothing to export: give --merge"):
        ex.export_adapter(adapter, tmp_path / "x")
    with pytest.raises(UserError, match="must be apart from the adapter"):
        ex.export_adapter(adapter, adapter / "inside", merge=True)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and not an earlier export"):
        ex.export_adapter(adapter, tmp_path / "full", merge=True)
    with pytest.raises(UserError, match="no test split"):
        ex.export_adapter(adapter, tmp_path / "y", merge=True, test=tmp_path / "none.parquet")
    with pytest.raises(UserError, match="not an export folder"):
        ex.load_export(tmp_path)
    if ex.cuda_ready() is not None:
        with pytest.raises(UserError, match="nf4 needs CUDA and bitsandbytes"):
            ex.export_adapter(adapter, tmp_path / "z", quantize="nf4")


def _scored(values: list[float]) -> quality.Scored:
    return quality.Scored(
        [
            {"id": str(i), "family": "f", "prediction": str(v), "metrics": {"rouge_l": v}}
            for i, v in enumerate(values)
        ],
        [],
    )


@pytest.mark.parametrize(
    ("adapter", "export", "within", "position"),
    [
        ([1.0] * 40, [1.0] * 40, True, "inside"),
        # one answer of forty lost: outside the one-point interval, but not beyond resampling
        ([1.0] * 40, [1.0] * 39 + [0.0], True, "below"),
        ([1.0] * 40, [0.5] * 40, False, "below"),  # every answer worse
        ([0.0] * 40, [1.0] * 4 + [0.0] * 36, True, "above"),  # better is never refused
        ([0.5, 0.6] * 20, [0.5, 0.6] * 20, True, "inside"),
        ([0.5, 0.6] * 20, [0.2, 0.3] * 20, False, "below"),
    ],
)
def test_tolerance_table(adapter, export, within, position):
    q = quality.compare(_scored(adapter), _scored(export), CFG, samples=500)
    s = q["families"]["f"]["task_scores"]["rouge_l"]
    assert (s["within"], s["position"]) == (within, position)
    assert q["verdict"] == ("pass" if within else "fail")
    assert len(q["reasons"]) == (0 if within else 1)
