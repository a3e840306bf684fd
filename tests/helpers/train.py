"""What the train tests share (tests/unit/test_train.py, tests/pipeline/test_train_distributed.py
and its ``torchrun`` ranks, tests/gpu): the tiny split's records, the gate's reports, the
stage's paths under a folder, and the tiny params of a data-parallel run."""

from __future__ import annotations

import json
from pathlib import Path

from provena.config import Params
from provena.records import Record
from provena.train import TrainPaths, gate
from tests import factory
from tests.factory import write_records

#: the two kinds of the train split: as factory's, without age bands, and a clinical answer
#: of age and sex only (short enough for 96-token examples)
TRAIN_KINDS = (
    {**factory.SUPPORT_REPLY, "meta": {"family": "support_reply", "gender": "male"}},
    {
        **factory.CLINICAL_NOTE,
        "instruction": "Return the patient's age and sex as JSON.",
        "output": lambda i: json.dumps({"age": 20 + i % 50, "sex": "female"}),
        "meta": {"family": "clinical_extraction", "gender": "female"},
    },
)
#: the data-parallel run: records in its train split, and optimizer steps
N_RECORDS = 16
STEPS = 12


def train_records(n: int, offset: int = 0) -> list[Record]:
    """Records ``offset``... of the tiny split: support replies (even) and notes (odd)."""
    return factory.records(n, offset=offset, kinds=TRAIN_KINDS)


def gate_reports(tmp: Path, *, validation="pass", audit="pass", residual=0.0) -> gate.GateReports:
    """The three reports train's gate reads, written under ``tmp/reports`` with the verdicts
    given (a failing audit has one finding)."""
    rep = tmp / "reports"
    rep.mkdir(parents=True, exist_ok=True)
    v = {"verdict": validation, "failed_critical": [] if validation == "pass" else ["unique_ids"]}
    a = {
        "verdict": audit,
        "findings": [
            {
                "check": "representation",
                "text": "gender female at 0.56 of reference",
                "verdict": "fail",
            }
        ]
        if audit != "pass"
        else [],
    }
    p = {
        "residual_rate": residual,
        "residual_max_rate": 0.001,
        "residual_verdict": "pass" if residual <= 0.001 else "fail",
    }
    (rep / "validation_verdict.json").write_text(json.dumps(v))
    (rep / "audit_after.json").write_text(json.dumps(a))
    (rep / "scrub_pii.json").write_text(json.dumps(p))
    return reports_at(rep)


def reports_at(rep: Path) -> gate.GateReports:
    return gate.GateReports(
        rep / "validation_verdict.json", rep / "audit_after.json", rep / "scrub_pii.json"
    )


def train_paths(tmp: Path, split, reports: gate.GateReports) -> TrainPaths:
    """The train split ``split[0]``, validation ``split[1]``; every output under ``tmp``."""
    return TrainPaths(
        train=split[0],
        validation=split[1],
        reports=reports,
        base_dir=tmp / "models" / "base",
        adapter_dir=tmp / "models" / "adapter",
        checkpoint_dir=tmp / "models" / "checkpoints",
        live_dir=tmp / "dvclive",
        metrics=tmp / "metrics" / "train.json",
    )


# ------------------------------------------------------- the data-parallel run (torchrun)


def params_for(grad_accum: int) -> Params:
    """test_train's tiny params, without dropout (ranks draw their own masks, a single process
    one stream: without it the two runs must agree) and with ``grad_accum`` as given. The base
    is not pretrained: these runs compare data-parallel training with one process's."""

    from provena.config import parse_params
    from tests.conftest import TINY, tiny_data

    raw = tiny_data()
    raw["train"].update(
        {
            "tiny": {
                **raw["train"]["tiny"],
                "vocab_size": 300,
                "tokenizer_examples": 200,
                "pretrain_steps": 0,
            },
            "max_seq_len": 96,
            "batch_size": 2,
            "grad_accum": grad_accum,
            "learning_rate": 3.0e-2,
            "warmup_ratio": 0.0,
            "max_steps": STEPS,
            "log_every": 2,
            "eval_every": 6,
            "save_every": 4,
            "eval_max_examples": 8,
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        }
    )
    return parse_params(raw, TINY)


def paths_for(tmp: Path) -> TrainPaths:
    """The split (written once, by whoever comes first) and every output under ``tmp``."""
    split = tmp / "split"
    if not (split / "validation.parquet").is_file():
        split.mkdir(parents=True, exist_ok=True)
        write_records(split / "train.parquet", train_records(N_RECORDS))
        write_records(split / "validation.parquet", train_records(8, offset=1000))
    reports = (
        gate_reports(tmp)
        if not (tmp / "reports" / "scrub_pii.json").is_file()
        else (reports_at(tmp / "reports"))
    )
    return train_paths(tmp, (split / "train.parquet", split / "validation.parquet"), reports)


def random_adapter(
    texts: list[str], tiny_params: Params, max_seq_len: int, base_dir: Path, adapter_dir: Path
) -> tuple[Path, Path]:
    """A tiny base built on ``texts`` and a LoRA adapter on it whose B matrices are random (so
    it answers unlike its base), saved as the train stage saves them; no training."""
    import torch

    from provena.modeling import model

    model.build_tiny_base(texts, tiny_params.train.tiny, max_seq_len, base_dir)
    precision = model.resolve_precision("none")
    base, tok = model.load_base(base_dir, precision)
    torch.manual_seed(0)
    peft_model = model.add_lora(base, tiny_params.train.lora, precision, checkpointing=False)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    peft_model.save_pretrained(adapter_dir, safe_serialization=True)
    tok.save_pretrained(adapter_dir)
    return base_dir, adapter_dir
