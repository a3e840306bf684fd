"""train: the gate refuses with the failing report and check; waivers need a reason and are
recorded; loss on response tokens only; packed examples never see each other; truncation is
counted; a tiny run lowers the loss, logs, checkpoints, resumes exactly, and writes its lineage."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

from provena import manifest, signoff
from provena.config import ConfigError, GateWaiver, TrainConfig, parse_params
from provena.errors import UserError
from provena.modeling import data, model
from provena.train import gate, loop
from provena.train import run as train_run
from tests.conftest import TINY, tiny_data
from tests.helpers.train import gate_reports as _reports
from tests.helpers.train import train_paths as _paths
from tests.helpers.train import train_records as _records
from tests.helpers.train import write_records as _write

# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def tiny_params():
    raw = tiny_data()
    raw["train"].update(
        {
            "tiny": {**raw["train"]["tiny"], "vocab_size": 300, "tokenizer_examples": 200},
            "max_seq_len": 96,
            "batch_size": 4,
            "learning_rate": 3.0e-2,
            "warmup_ratio": 0.0,
            "max_steps": 12,
            "log_every": 2,
            "eval_every": 6,
            "save_every": 4,
            "eval_max_examples": 16,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
        }
    )
    return parse_params(raw, TINY)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("split")
    return _write(tmp / "train.parquet", _records(120)), _write(
        tmp / "validation.parquet", _records(16, offset=1000)
    )


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, tiny_params):
    """The tiny base (tokenizer trained on the fixture) and its tokenizer, built once."""
    out = tmp_path_factory.mktemp("base") / "base"
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in _records(120)]
    model.build_tiny_base(texts, tiny_params.train.tiny, 96, out)
    precision = model.resolve_precision("none")
    base, tok = model.load_base(out, precision)
    return base, tok


# --------------------------------------------------------------------------------- gate


@pytest.mark.parametrize(
    ("failing", "report", "needle"),
    [
        (
            "validation",
            "validation_verdict.json",
            "validation check failed: verdict 'fail'; failed critical expectations: unique_ids",
        ),
        (
            "audit",
            "audit_after.json",
            "audit check failed: verdict 'fail'; findings: gender female at 0.56 of reference",
        ),
        (
            "pii_residual",
            "scrub_pii.json",
            "pii_residual check failed: residual_rate 0.002 > residual_max_rate 0.001",
        ),
    ],
)
def test_gate_refuses_naming_the_report_and_check(tmp_path, failing, report, needle):
    kwargs = {
        "validation": {"validation": "fail"},
        "audit": {"audit": "fail"},
        "pii_residual": {"residual": 0.002},
    }[failing]
    reports = _reports(tmp_path, **kwargs)
    with pytest.raises(gate.GateError) as err:
        gate.check(reports, [], require_signoff=False, root=tmp_path)
    msg = str(err.value)
    assert msg.startswith("train refused: 1 gate check failed")
    assert f"reports/{report}: {needle}" in msg


def test_gate_refuses_a_missing_report(tmp_path):
    reports = _reports(tmp_path)
    reports.audit.unlink()
    with pytest.raises(
        gate.GateError, match=r"audit_after.json: audit check failed: the report does not exist"
    ):
        gate.check(reports, [], require_signoff=False, root=tmp_path)


def test_gate_needs_a_valid_signoff_where_params_require_one(tmp_path):
    reports = _reports(tmp_path)
    with pytest.raises(
        gate.GateError, match=r"audit_after.json: signoff check failed: .*has no sign-off"
    ):
        gate.check(reports, [], require_signoff=True, root=tmp_path)
    assert gate.check(reports, [], require_signoff=False, root=tmp_path).passed
    signoff.sign(reports.audit, "Ada Reviewer", "representation checked", tmp_path)
    result = gate.check(reports, [], require_signoff=True, root=tmp_path)
    assert result.passed and result.signoffs[0]["reviewer"] == "Ada Reviewer"
    reports.audit.write_text(json.dumps({"verdict": "pass", "findings": [], "rerun": 1}))
    with pytest.raises(
        gate.GateError,
        match=r"signoff check failed: .*changed after its last sign-off by Ada Reviewer",
    ):
        gate.check(reports, [], require_signoff=True, root=tmp_path)


def test_a_waiver_with_a_reason_lets_the_gate_pass_and_is_recorded(tmp_path):
    reports = _reports(tmp_path, audit="fail")
    waiver = GateWaiver(
        check="audit", reason="Known skew, mitigated in v2 data", approved_by="Lead"
    )
    result = gate.check(reports, [waiver], require_signoff=False, root=tmp_path)
    assert result.passed
    d = result.as_dict()
    assert d["waivers_applied"] == [waiver.model_dump()]
    audit = next(c for c in d["checks"] if c["check"] == "audit")
    assert audit["waived"] and not audit["passed"] and audit["verdict"] == "fail"


def test_a_waiver_without_reason_is_a_config_error():
    raw = tiny_data()
    raw["train"]["waivers"] = [
        {"check": "audit", "approved_by": "Lead"},
        {"check": "validation", "reason": " ", "approved_by": "Lead"},
    ]
    with pytest.raises(ConfigError) as err:
        parse_params(raw, TINY)
    assert "train.waivers.0.reason: required key is missing" in str(err.value)
    assert "train.waivers.1.reason" in str(err.value)


def test_nf4_without_cuda_fails_fast():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(UserError, match="needs CUDA and bitsandbytes"):
        model.resolve_precision("nf4")
    assert model.resolve_precision("auto").note.startswith("LoRA without quantization")


@pytest.mark.parametrize(
    ("setting", "native", "expected"),
    [
        ("auto", True, torch.bfloat16),
        ("auto", False, None),
        ("bf16", False, torch.bfloat16),
        ("none", True, None),
    ],
)
def test_autocast_is_bf16_where_the_device_has_it_or_asked_for(
    monkeypatch, setting, native, expected
):
    monkeypatch.setattr(model, "native_bf16", lambda device: native)
    lora = model.Precision("lora", "cpu", torch.float32, "LoRA")
    assert model.resolve_autocast(setting, lora) == expected
    qlora = model.Precision("qlora-nf4", "cuda", torch.bfloat16, "QLoRA")
    assert model.resolve_autocast(setting, qlora) is None  # computes in bf16 already
    if not torch.cuda.is_available():  # what train runs with, and what its log says
        resolved = model.resolve_precision("auto", setting)
        assert resolved.autocast == expected
        assert ("bf16 autocast" in resolved.note) == (expected is not None)


# --------------------------------------------------------------------------------- data


def test_labels_are_ignored_on_prompt_tokens(tiny_base):
    _, tok = tiny_base
    rec = _records(1)[0]
    prompt, response, chat = data.format_example(rec, tok, use_chat_template=True)
    assert chat and prompt.endswith("<|assistant|>") and response.endswith("<|eos|>")
    ex = data.tokenize_example(prompt, response, tok, max_seq_len=512)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert ex.labels[:n_prompt] == [data.IGNORE] * n_prompt
    assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
    assert tok.decode(ex.labels[n_prompt:]) == rec["output"] + "<|eos|>"


def test_plain_template_where_the_tokenizer_has_none(tiny_base):
    _, tok = tiny_base
    rec = _records(1)[0]
    prompt, response, chat = data.format_example(rec, tok, use_chat_template=False)
    assert not chat and prompt.endswith("### Response:\n") and "### Input:\n" in prompt
    assert response == rec["output"] + tok.eos_token


def test_truncation_and_drops_are_counted(tiny_base):
    _, tok = tiny_base
    recs = _records(10)
    n_prompt = [
        len(tok(data.format_example(r, tok, True)[0], add_special_tokens=False)["input_ids"])
        for r in recs
    ]
    limit = max(n_prompt) + 2  # every prompt fits, no full response does
    exs, stats = data.tokenize_records(recs, tok, limit, True)
    assert stats.truncated == 10 and all(len(e.input_ids) == limit for e in exs)
    _, stats = data.tokenize_records(recs, tok, min(n_prompt), True)
    assert stats.dropped_prompt_too_long == 10 and stats.examples_kept == 0


def test_packing_never_lets_one_example_attend_to_another(tiny_base):
    base, tok = tiny_base
    exs, _ = data.tokenize_records(_records(6), tok, 96, True)
    rows = data.pack(exs, 96 * 3)
    assert len(rows) < len(exs)  # several examples share a row
    batch = data.collate(rows, tok.pad_token_id)
    seg = batch["segment_ids"]
    for dtype in (torch.float32, torch.bool):
        mask = data.block_causal_mask(seg, dtype)[:, 0]
        mask = mask if dtype == torch.bool else mask == 0
        for b in range(len(rows)):
            same = seg[b][:, None] == seg[b][None, :]
            assert torch.equal(mask[b], same & torch.ones_like(same).tril())
    for b in range(len(rows)):
        # positions restart at 0 at each example; the first label of each example is ignored
        starts = torch.nonzero(torch.diff(seg[b], prepend=seg[b][:1] - 1)).flatten()
        assert (batch["position_ids"][b][starts] == 0).all()
        assert (batch["labels"][b][starts] == data.IGNORE).all()
    # and the model agrees: a packed example's logits equal its logits alone, with the 4D mask
    base.eval()
    with torch.no_grad():
        alone = [base(input_ids=torch.tensor([e.input_ids])).logits[0] for e in exs]
        for dtype in (torch.float32, torch.bool):
            packed = base(
                input_ids=batch["input_ids"],
                position_ids=batch["position_ids"],
                attention_mask=data.block_causal_mask(seg, dtype),
            ).logits
            for b, row in enumerate(rows):
                offset = 0
                for i in row.sources:
                    n = len(exs[i].input_ids)
                    got = packed[b, offset : offset + n]
                    torch.testing.assert_close(got, alone[i], atol=1e-5, rtol=1e-4)
                    offset += n


def test_packed_rows_fit_and_hold_every_example_once(tiny_base):
    _, tok = tiny_base
    exs, _ = data.tokenize_records(_records(40), tok, 96, True)
    lengths = [len(e.input_ids) for e in exs]
    for limit in (96, 150, 96 * 3):
        rows = data.pack(exs, limit)
        assert all(len(r) <= limit for r in rows)
        assert sorted(i for r in rows for i in r.sources) == list(range(len(exs)))
        for r in rows:  # each row is its examples, whole and in order of their segments
            assert r.input_ids == [t for i in r.sources for t in exs[i].input_ids]
            assert r.segment_ids == [s for s, i in enumerate(r.sources) for _ in exs[i].input_ids]
        # best-fit decreasing needs no more rows than packing in the given order
        greedy, used = 0, limit
        for n in lengths:
            greedy, used = (greedy + 1, n) if used + n > limit else (greedy, used + n)
        assert -(-sum(lengths) // limit) <= len(rows) <= greedy
    unpacked = data.pack(exs, 96, packing=False)
    assert [r.sources for r in unpacked] == [[i] for i in range(len(exs))]
    # an epoch's micro-batches hold every example exactly once too
    batches = data.epoch_batches(exs, epoch=2, seed=5, batch_size=3, max_seq_len=150, packing=True)
    seen = sorted(tuple(exs_row) for b in batches for r in b for exs_row in _split(r))
    assert seen == sorted(tuple(e.input_ids) for e in exs)


def _split(row: data.Row) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for t, s in zip(row.input_ids, row.segment_ids, strict=True):
        out.setdefault(s, []).append(t)
    return list(out.values())


def test_per_example_attention_matches_the_mask_and_each_example_alone(tiny_base):
    from provena.modeling import attention

    base, tok = tiny_base
    exs, _ = data.tokenize_records(_records(9), tok, 96, True)
    rows = data.pack(exs, 96 * 2)
    flat = data.collate(rows, tok.pad_token_id, flatten=True)
    assert flat["input_ids"].shape == (1, sum(len(e.input_ids) for e in exs))  # no padding
    assert flat["cu_seq_lens"].tolist() == [
        0,
        *itertools.accumulate(len(exs[i].input_ids) for r in rows for i in r.sources),
    ]
    base.eval()
    assert attention.attention_plan(base) == attention.SEGMENTS
    with torch.no_grad():
        alone = [base(input_ids=torch.tensor([e.input_ids])).logits[0] for e in exs]
        with attention.segment_attention_on(base) as plan:
            assert plan == attention.SEGMENTS
            cu = flat["cu_seq_lens"]
            logits = base(
                input_ids=flat["input_ids"],
                position_ids=flat["position_ids"],
                cu_seq_lens_q=cu,
                cu_seq_lens_k=cu,
            ).logits[0]
            seg_loss = loop.forward_loss(base, flat, plan)
        assert base.config._attn_implementation == "sdpa"  # restored
        mask_loss = loop.forward_loss(base, data.collate(rows, tok.pad_token_id), attention.MASK)
    order = [i for r in rows for i in r.sources]
    for i, a, b in zip(order, cu[:-1].tolist(), cu[1:].tolist(), strict=True):
        torch.testing.assert_close(logits[a:b], alone[i], atol=1e-5, rtol=1e-4)
    # the same loss over the same targets (response tokens only) either way
    n_targets = sum(sum(1 for t in e.labels if t != data.IGNORE) for e in exs)
    assert seg_loss[1] == mask_loss[1] == n_targets
    torch.testing.assert_close(seg_loss[0], mask_loss[0], atol=1e-3, rtol=1e-5)


def test_micro_batches_resume_at_the_same_batch(tiny_base):
    _, tok = tiny_base
    exs, _ = data.tokenize_records(_records(40), tok, 96, True)
    kw = {"seed": 3, "batch_size": 2, "max_seq_len": 96, "packing": True}
    full = data.micro_batches(exs, **kw)
    first = [next(full) for _ in range(30)]
    later = data.micro_batches(exs, start=17, **kw)
    for (e1, r1), (e2, r2) in zip(first[17:], [next(later) for _ in range(13)], strict=True):
        assert e1 == e2 and [r.input_ids for r in r1] == [r.input_ids for r in r2]


def test_cosine_schedule_warms_up_then_decays():
    f = [loop.cosine_with_warmup(s, total=100, warmup=10, floor=0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(f[9:])) and f[-1] > 0.1


# ---------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_params, split):
    """One uninterrupted run with a waived audit failure (12 steps)."""
    tmp = tmp_path_factory.mktemp("run")
    reports = _reports(tmp, audit="fail")
    waiver = {"check": "audit", "reason": "skew accepted for the tiny test", "approved_by": "QA"}
    params = tiny_params.model_copy(
        update={"train": tiny_params.train.model_copy(update={"waivers": [GateWaiver(**waiver)]})}
    )
    paths = _paths(tmp, split, reports)
    metrics = train_run(params.train, paths, audit_data=params.audit_data, root=tmp).metrics
    return tmp, metrics, waiver


def test_a_tiny_run_lowers_the_loss_and_logs_with_dvclive(trained):
    tmp, metrics, _ = trained
    # the base is pretrained (lower loss at step 1 than a random one): the adapter still lowers it
    assert metrics["steps"] == 12 and metrics["final_loss"] < metrics["first_loss"] - 0.05
    live = json.loads((tmp / "dvclive" / "metrics.json").read_text())
    assert {"train", "learning_rate", "tokens_per_s", "peak_memory_mb"} <= set(live)
    tsv = (tmp / "dvclive" / "plots" / "metrics" / "train" / "loss.tsv").read_text().split()
    assert tsv[:2] == ["step", "loss"] and len(tsv) == 2 + 2 * 6  # every 2 steps
    evals = (tmp / "dvclive" / "plots" / "metrics" / "eval" / "loss.tsv").read_text().split()
    assert evals[2::2] == ["6", "12"] and float(evals[5]) < float(evals[3])
    assert sorted(p.name for p in (tmp / "models" / "checkpoints").iterdir()) == [
        "step-0000008",
        "step-0000012",
    ]
    assert json.loads((tmp / "metrics" / "train.json").read_text())["steps"] == 12


def test_the_adapter_carries_its_config_and_lineage(trained, split):
    tmp, _, waiver = trained
    adapter = tmp / "models" / "adapter"
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "train_config.json",
        "manifest.json",
        "tokenizer.json",
    } <= {p.name for p in adapter.iterdir()}
    m = json.loads((adapter / "manifest.json").read_text())
    assert m["split"]["train"]["sha256"] == manifest.sha256_file(split[0])
    assert m["split"]["validation"]["sha256"] == manifest.sha256_file(split[1])
    verdicts = {c["check"]: (c["verdict"], c["waived"]) for c in m["gate"]["checks"]}
    assert verdicts == {
        "validation": ("pass", False),
        "audit": ("fail", True),
        "pii_residual": ("pass", False),
    }
    assert all(len(c["sha256"]) == 64 for c in m["gate"]["checks"])
    assert m["waivers"] == [waiver]
    assert m["training"]["note"].startswith("LoRA without quantization")
    assert m["base_model"]["name"] == "tiny" and len(m["base_model"]["sha256"]) == 64
    # the tiny base was pretrained on the train split, and the manifest says so
    pre = m["base_model"]["pretraining"]
    assert pre["train_split"]["sha256"] == manifest.sha256_file(split[0])
    assert (
        pre["steps"] == 10
        and pre["file"] == "pretraining.json"
        and "train split" in pre["corpus_note"]
    )
    assert pre["final_loss"] < pre["first_loss"]
    on_disk = json.loads((tmp / "models" / "base" / "pretraining.json").read_text())
    assert on_disk["steps"] == 10 and on_disk["history"][-1]["step"] == 10
    assert m["base_model"]["files"]["pretraining.json"]  # hashed with the weights
    assert m["training"]["pretrain_steps"] == 10
    assert m["libraries"]["torch"] and m["libraries"]["peft"] and "commit" in m["git"]
    assert m["params"]["train"]["lora"]["r"] == 8
    assert manifest.read_embedded(adapter / "adapter_model.safetensors") == m
    resolved = json.loads((adapter / "train_config.json").read_text())
    assert resolved["resolved"]["mode"] == "lora" and resolved["train"]["max_steps"] == 12


def test_base_weights_stay_frozen_while_the_adapter_learns(trained):
    from safetensors.torch import load_file

    tmp, _, _ = trained
    m = json.loads((tmp / "models" / "adapter" / "manifest.json").read_text())
    base = tmp / "models" / "base"
    # the base on disk is byte-identical to what the manifest recorded before training
    for name, digest in m["base_model"]["files"].items():
        assert manifest.sha256_file(base / name) == digest, name
    weights = load_file(str(tmp / "models" / "adapter" / "adapter_model.safetensors"))
    assert weights and all("lora_" in k for k in weights)  # only adapter tensors are saved
    lora_b = [t for k, t in weights.items() if "lora_B" in k]
    assert lora_b and all(float(t.abs().sum()) > 0 for t in lora_b)  # B starts at zero
    # and in memory: the base model with its adapter trains only adapter parameters
    params = tiny_params_train_lora()
    base, _ = model.load_base(base, model.resolve_precision("none"))
    peft_model = model.add_lora(base, params, model.resolve_precision("none"), False)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    frozen = [n for n, p in peft_model.named_parameters() if not p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert frozen and not any("lora_" in n for n in frozen)


def test_modules_to_save_train_in_full_and_leave_the_base_as_it_was(trained):
    from provena.config import LoraSettings

    tmp, _, _ = trained
    precision = model.resolve_precision("none")
    base, _ = model.load_base(tmp / "models" / "base", precision)
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    before = base(input_ids=ids).logits.detach().clone()
    settings = LoraSettings(r=4, alpha=8, modules_to_save=["embed_tokens", "lm_head"])
    peft_model = model.add_lora(base, settings, precision, False)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("embed_tokens.modules_to_save" in n for n in trainable)
    assert any("lm_head.modules_to_save" in n for n in trainable)
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    for _, p in peft_model.named_parameters():  # move every trainable weight
        if p.requires_grad:
            p.data.add_(0.05)
    with torch.no_grad():
        changed = peft_model(input_ids=ids).logits
        with peft_model.disable_adapter():
            off = peft_model(input_ids=ids).logits
    assert not torch.allclose(changed, before)
    torch.testing.assert_close(off, before)  # the base's own copies are untouched


def tiny_params_train_lora():
    from provena.config import LoraSettings

    return LoraSettings(r=8, alpha=16, dropout=0.05, target_modules="all-linear")


def test_an_interrupted_run_resumes_and_matches_an_uninterrupted_one(
    tmp_path, trained, tiny_params, split
):
    from safetensors.torch import load_file

    done, _, waiver = trained
    params = tiny_params.model_copy(
        update={"train": tiny_params.train.model_copy(update={"waivers": [GateWaiver(**waiver)]})}
    )
    paths = _paths(tmp_path, split, _reports(tmp_path, audit="fail"))
    kw = {"audit_data": params.audit_data, "root": tmp_path}
    first = train_run(params.train, paths, **kw, stop_after=6).metrics  # killed after step 6
    assert first["interrupted"] and first["steps"] == 6 and not paths.adapter_dir.exists()
    second = train_run(params.train, paths, **kw).metrics
    assert second["resumed_from"] == 4 and second["steps"] == 12  # last checkpoint: step 4
    a = load_file(done / "models" / "adapter" / "adapter_model.safetensors")
    b = load_file(paths.adapter_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    steps = [
        int(s) for s in (paths.live_dir / "plots/metrics/train/loss.tsv").read_text().split()[2::2]
    ]
    assert steps == [2, 4, 6, 8, 10, 12]  # continuous, no step logged twice


def test_a_run_refused_by_the_gate_builds_nothing(tmp_path, tiny_params, split):
    paths = _paths(tmp_path, split, _reports(tmp_path, validation="fail"))
    with pytest.raises(gate.GateError, match=r"validation_verdict\.json: validation check failed"):
        train_run(tiny_params.train, paths, audit_data=tiny_params.audit_data, root=tmp_path)
    assert not paths.base_dir.exists() and not paths.adapter_dir.exists()


def test_train_config_defaults_follow_the_issue():
    cfg = TrainConfig()
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout, cfg.lora.target_modules) == (
        16,
        32,
        0.05,
        "all-linear",
    )
    assert cfg.learning_rate == 2e-4 and cfg.quantization == "auto"
