"""INT8 for CPU: every ``nn.Linear`` of a merged model as int8 weights with one fp32 scale per
output row, run by torch's dynamic-quantized linear (fbgemm / oneDNN int8 GEMM, activations
quantized per batch on the fly).

Stored as one safetensors file: each quantized layer's ``<name>.weight`` (int8),
``<name>.weight_scale`` (fp32, one per output row) and ``<name>.bias`` where it has one; every
other tensor (embeddings, norms) in fp32 as transformers names it. The file's metadata lists the
quantized layers (``provena_int8``). :func:`load` builds the model from its ``config.json``
with transformers' own classes (no remote code), swaps the listed layers for
``torch.ao.nn.quantized.dynamic.Linear`` and fills them from the file. No pickle anywhere.

Symmetric per-row quantization: ``scale = max|w| / 127``, ``q = round(w / scale)``; the error
of a weight is at most ``scale / 2``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from provena.errors import UserError

WEIGHTS = "model.int8.safetensors"
METADATA_KEY = "provena_int8"
SCHEME = "int8, symmetric, one fp32 scale per output row; torch dynamic-quantized linear"


def quantize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weights, fp32 scale per output row) of a 2-D weight."""
    w = w.detach().float()
    scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
    q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def _linear_names(model: Any) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def save(model: Any, out_dir: Path) -> Path:
    """Write ``model``'s config, generation config and its int8 weights to ``out_dir``."""
    from safetensors.torch import save_file

    names = _linear_names(model)
    if not names:
        raise UserError("the model has no nn.Linear layer to quantize to int8")
    quantized = set(names)
    tensors: dict[str, torch.Tensor] = {}
    for name in names:
        lin = model.get_submodule(name)
        q, scale = quantize_weight(lin.weight)
        tensors[f"{name}.weight"] = q
        tensors[f"{name}.weight_scale"] = scale
        if lin.bias is not None:
            tensors[f"{name}.bias"] = lin.bias.detach().float().contiguous()
    for key, value in model.state_dict().items():
        owner = key.rsplit(".", 1)[0]
        if owner in quantized or key in tensors:
            continue
        if any(value.data_ptr() == t.data_ptr() for t in tensors.values()):
            continue  # a tied tensor is stored once
        tensors[key] = value.detach().float().contiguous().clone()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(out_dir)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)
    path = out_dir / WEIGHTS
    meta = {"format": "pt", METADATA_KEY: json.dumps({"scheme": SCHEME, "modules": names})}
    save_file(tensors, str(path), metadata=meta)
    return path


def _qlinear(q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None) -> Any:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    out_features, in_features = q.shape
    layer = DynamicLinear(in_features, out_features, bias_=bias is not None, dtype=torch.qint8)
    weight = torch._make_per_channel_quantized_tensor(
        q, scale.double(), torch.zeros(out_features, dtype=torch.long), 0
    )
    layer.set_weight_bias(weight, bias)
    return layer


def load(path: Path) -> Any:
    """The int8 model of an export folder (transformers classes, no remote code, no hub)."""
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.initialization import no_init_weights

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise UserError(f"{weights}: no int8 weights in this export folder")
    config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    with safe_open(str(weights), framework="pt") as fh:
        meta = json.loads((fh.metadata() or {}).get(METADATA_KEY) or "null")
        if not meta or not meta.get("modules"):
            raise UserError(f"{weights}: no {METADATA_KEY} metadata (not a provena int8 file)")
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    quantized = tuple(f"{n}." for n in meta["modules"])
    rest = {k: v for k, v in tensors.items() if not k.startswith(quantized)}
    missing, unexpected = model.load_state_dict(rest, strict=False)
    missing = [k for k in missing if not k.startswith(quantized)]
    if unexpected or missing:
        raise UserError(
            f"{weights}: does not fit {config.model_type}: "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    for name in meta["modules"]:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        try:
            q, scale = tensors.pop(f"{name}.weight"), tensors.pop(f"{name}.weight_scale")
        except KeyError:
            raise UserError(
                f"{weights}: layer {name} is listed but its tensors are missing"
            ) from None
        setattr(parent, child, _qlinear(q, scale, tensors.pop(f"{name}.bias", None)))
    model.eval()
    return model
