"""The base model and its adapter: the built-in tiny Llama or a local model folder, 4-bit
NF4 (QLoRA) where CUDA and bitsandbytes are present, plain LoRA otherwise.

Models load from local folders only, in safetensors, never with remote code: there is no hub
at run time, and a pickle or a model's own Python would run whatever its author wrote. The
tiny base is built the same way a user's model is then loaded (saved as a Hugging Face folder
and read back), so both take one code path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from provena.config import LoraSettings, TinyBaseConfig
from provena.errors import UserError

log = logging.getLogger(__name__)

TINY = "tiny"
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"]
#: the tiny tokenizer's chat template: a turn marker before each message, eos after replies
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>{{ m['content'] }}{{ eos_token }}"
    "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
NOTE_LORA_CPU = "LoRA without quantization"


@dataclass(frozen=True)
class Precision:
    """How the base is loaded and trained: the mode, the device, and why."""

    mode: str  # "qlora-nf4" or "lora"
    device: str
    compute_dtype: torch.dtype
    note: str
    #: the dtype training's matrix products run in under ``torch.autocast`` (None: no autocast)
    autocast: torch.dtype | None = None


def resolve_precision(quantization: str, autocast: str = "none") -> Precision:
    """QLoRA where it can run, plain LoRA otherwise; ``nf4`` without CUDA fails fast.
    ``autocast`` (``train.autocast``): see :func:`resolve_autocast`."""
    has_cuda = torch.cuda.is_available()
    has_bnb = importlib.util.find_spec("bitsandbytes") is not None
    if quantization == "nf4" and not (has_cuda and has_bnb):
        missing = "CUDA" if not has_cuda else "bitsandbytes (pip install 'provena[cuda]')"
        raise UserError(
            f"train.quantization = 'nf4' needs CUDA and bitsandbytes; {missing} is missing. "
            "Set train.quantization to auto (QLoRA where possible) or none."
        )
    if quantization != "none" and has_cuda and has_bnb:
        return Precision(
            "qlora-nf4",
            "cuda",
            torch.bfloat16,
            "QLoRA: 4-bit NF4 base with double quantization, bf16 compute, paged 8-bit AdamW",
        )
    why = (
        "quantization: none"
        if quantization == "none"
        else ("no CUDA device" if not has_cuda else "bitsandbytes not installed")
    )
    device = "cuda" if has_cuda else "cpu"
    lora = Precision("lora", device, torch.float32, "")
    dtype = resolve_autocast(autocast, lora)
    weights = "fp32 weights with bf16 autocast" if dtype is not None else "fp32"
    note = f"{NOTE_LORA_CPU} ({why}), {weights}, AdamW"
    return dataclasses.replace(lora, note=note, autocast=dtype)


def native_bf16(device: str) -> bool:
    """Whether ``device`` computes bf16 matrix products natively (faster than fp32)."""
    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def resolve_autocast(setting: str, precision: Precision) -> torch.dtype | None:
    """The dtype training runs its matrix products in under ``torch.autocast``, or None.

    QLoRA already computes in bf16 (its ``bnb_4bit_compute_dtype``). For plain LoRA, ``auto``
    takes bf16 where the device has it natively: on a 2-core CPU with AVX512-BF16 a 768-wide
    base pretrains about 1.6x faster (the 256-wide tiny base gains nothing: its products are
    too small), while the weights, optimizer state and loss stay fp32 (mixed precision), so
    the adapter saved is fp32 as before."""
    if setting == "none" or precision.mode == "qlora-nf4":
        return None
    if setting == "bf16" or native_bf16(precision.device):
        return torch.bfloat16
    return None


# ----------------------------------------------------------------------------- tiny base


def tiny_tokenizer(texts: list[str], cfg: TinyBaseConfig) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, every digit a token of its own (a
    number is copied digit by digit instead of being one of many merged tokens)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if not texts:
        raise UserError("the training split is empty: nothing to train the tiny tokenizer on")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # any byte stays encodable
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    return tokenizer


def tiny_model(tokenizer: Any, cfg: TinyBaseConfig, max_seq_len: int) -> Any:
    """A small Llama from a config, with weights drawn from ``cfg.seed``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        max_position_embeddings=max_seq_len,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(config)


def save_base(lm: Any, tokenizer: Any, out_dir: Path) -> Path:
    """The model and its tokenizer as a Hugging Face folder (safetensors)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lm.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    log.info(
        "tiny base: Llama %d layers, hidden %d, vocab %d (%.2fM parameters) -> %s",
        lm.config.num_hidden_layers,
        lm.config.hidden_size,
        len(tokenizer),
        sum(p.numel() for p in lm.parameters()) / 1e6,
        out_dir,
    )
    return out_dir


def build_tiny_base(texts: list[str], cfg: TinyBaseConfig, max_seq_len: int, out_dir: Path) -> Path:
    """The tiny base before pretraining: its tokenizer trained on ``texts``, random weights,
    saved as a Hugging Face folder. The train stage pretrains it before saving
    (:mod:`provena.train.pretrain`)."""
    tokenizer = tiny_tokenizer(texts, cfg)
    return save_base(tiny_model(tokenizer, cfg, max_seq_len), tokenizer, out_dir)


# ------------------------------------------------------------------------------ loading


def check_model_folder(path: Path, name: str) -> None:
    if not path.is_dir():
        raise UserError(
            f'train.base_model = {name!r}: not a local folder. Use "tiny" or the path of a '
            "Hugging Face model folder (models are never downloaded: no hub at run time)."
        )
    if not (path / "config.json").is_file() or not any(path.glob("*.safetensors")):
        raise UserError(
            f"train.base_model = {name!r}: the folder needs config.json and *.safetensors "
            "weights (pickled .bin weights are not loaded)"
        )


def load_base(path: Path, precision: Precision) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder: safetensors only, no remote code, no hub."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    common: dict[str, Any] = {
        "local_files_only": True,
        "trust_remote_code": False,
    }
    tokenizer = AutoTokenizer.from_pretrained(path, **common)
    kwargs: dict[str, Any] = {**common, "use_safetensors": True, "dtype": precision.compute_dtype}
    if precision.mode == "qlora-nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        # this process's GPU: cuda:0 alone, cuda:LOCAL_RANK under torchrun (set_device)
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if precision.mode != "qlora-nf4":
        model.to(precision.device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # pads carry no loss and see only themselves
    return model, tokenizer


def add_lora(model: Any, cfg: LoraSettings, precision: Precision, checkpointing: bool) -> Any:
    """Wrap the base in a LoRA adapter; base weights frozen, adapter weights trainable."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if precision.mode == "qlora-nf4":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif checkpointing:
        # non-reentrant checkpointing needs no input grads; transformers 5 renamed the method
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    model.config.use_cache = False  # a cache is for generation; it conflicts with checkpointing
    lora = LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules,
        modules_to_save=cfg.modules_to_save or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


# ------------------------------------------------------------------------------ identity


def folder_hash(path: Path) -> tuple[str, dict[str, str]]:
    """SHA-256 of each file of a model folder, and one hash over (relative path, hash) pairs."""
    files = {}
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        files[f.relative_to(path).as_posix()] = h.hexdigest()
    overall = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    return overall, files


def identity(path: Path, name: str, model: Any | None = None) -> dict[str, Any]:
    """What the base model is: its name in params, folder, architecture and content hash."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    overall, files = folder_hash(path)
    out = {
        "name": name,
        "path": path.as_posix(),
        "model_type": config.get("model_type"),
        "architectures": config.get("architectures"),
        "sha256": overall,
        "files": files,
    }
    if model is not None:
        out["parameters"] = sum(p.numel() for p in model.parameters())
    return out
