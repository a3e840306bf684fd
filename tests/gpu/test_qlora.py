"""train on CUDA: with bitsandbytes, ``quantization: auto`` is QLoRA and the base loads in 4 bits.

Skipped, with the reason, where there is no CUDA device or no bitsandbytes (extra ``cuda``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from provena.config import TrainConfig
from provena.modeling import model
from tests.helpers.train import params_for, train_records

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """The tiny base of the train tests (tokenizer trained on their split), in a folder."""
    out = tmp_path_factory.mktemp("base") / "base"
    texts = [f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in train_records(120)]
    model.build_tiny_base(texts, params_for(grad_accum=1).train.tiny, 96, out)
    return out


def test_qlora_on_cuda_loads_the_base_in_4bit(tiny_base):
    pytest.importorskip("bitsandbytes")
    precision = model.resolve_precision("auto")
    assert precision.mode == "qlora-nf4"
    base, _ = model.load_base(tiny_base, precision)
    peft_model = model.add_lora(base, TrainConfig().lora, precision, checkpointing=True)
    assert any("4bit" in type(m).__name__ for m in peft_model.modules())
