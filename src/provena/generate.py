"""``provena generate``: answers from an adapter or an export, each checked by the guardrail.

The model folder is one of three kinds:

- an **adapter** (``adapter_config.json``): the base it was trained on (``train_config.json``'s
  resolved base path, else the manifest's, else ``adapter_config.json``'s) with the adapter
  on top, loaded as the evaluate stage loads it: local folders, safetensors, no remote code;
- an **export** (``export.json``): loaded by :func:`provena.export.load_export`;
- a **merged model** (``config.json`` and ``*.safetensors``): ``AutoModelForCausalLM``.

Prompts are built as training built them (:func:`provena.modeling.data.format_example`: the
chat template where training used it, with ``train_config.json``'s setting), answers generated
in left-padded batches, greedy unless asked otherwise. Input lines are records with
``instruction`` and an optional ``input`` (text normalized with ingest's default rules, as
ingest reads them); every other field goes through to the output line unchanged, which adds
``answer`` and ``guardrail`` (the verdict, or null with ``--no-guardrail``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from provena.config import NormalizeConfig
from provena.errors import UserError
from provena.io import atomic_open, dumps_line, read_jsonl_lines
from provena.modeling import data, model
from provena.normalize import TextNormalizer
from provena.progress import progress

log = logging.getLogger(__name__)


@dataclass
class Loaded:
    """A model ready to generate, and how training prompted it."""

    lm: Any
    tokenizer: Any
    kind: str  # adapter, export or merged
    use_chat_template: bool
    max_seq_len: int


def _train_config(folder: Path) -> dict[str, Any]:
    path = folder / "train_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def base_of(adapter_dir: Path, root: Path | None = None) -> Path:
    """The base model folder an adapter was trained on: a path the adapter's files record,
    relative to ``root`` (default: the working directory), else to the project the adapter
    sits in (``<root>/models/adapter``)."""
    names: list[str] = []
    resolved = _train_config(adapter_dir).get("resolved", {})
    if resolved.get("base_model_path"):
        names.append(resolved["base_model_path"])
    manifest = adapter_dir / "manifest.json"
    if manifest.is_file():
        path = json.loads(manifest.read_text(encoding="utf-8")).get("base_model", {}).get("path")
        if path:
            names.append(path)
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if cfg.get("base_model_name_or_path"):
        names.append(cfg["base_model_name_or_path"])
    tried = []
    for name in names:
        p = Path(name)
        for cand in (
            [p] if p.is_absolute() else [(root or Path.cwd()) / p, adapter_dir.parent.parent / p]
        ):
            tried.append(str(cand))
            if (cand / "config.json").is_file():
                return cand
    where = ", ".join(tried) or "nothing: no base path recorded"
    raise UserError(
        f"{adapter_dir}: its base model is not found (tried {where}); run from the project "
        "root or pass --root"
    )


def load_model(model_dir: Path, root: Path | None = None) -> Loaded:
    """The model of ``model_dir`` (adapter, export or merged folder) for generation."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model folder")
    tc = _train_config(model_dir).get("train", {})
    use_chat = bool(tc.get("use_chat_template", True))
    if (model_dir / "export.json").is_file():
        from provena.export import load_export

        lm, tok = load_export(model_dir)
        kind = "export"
    elif (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        if not (model_dir / "adapter_model.safetensors").is_file():
            raise UserError(f"{model_dir}: no adapter_model.safetensors (run the train stage)")
        precision = model.resolve_precision(tc.get("quantization", "auto"))
        base, tok = model.load_base(base_of(model_dir, root), precision)
        if (model_dir / "tokenizer_config.json").is_file():  # training saves it with the adapter
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        lm = PeftModel.from_pretrained(
            base, model_dir, is_trainable=False, local_files_only=True, use_safetensors=True
        )
        kind = "adapter"
    elif (model_dir / "config.json").is_file() and any(model_dir.glob("*.safetensors")):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        common = {"local_files_only": True, "trust_remote_code": False}
        tok = AutoTokenizer.from_pretrained(model_dir, **common)
        lm = AutoModelForCausalLM.from_pretrained(model_dir, use_safetensors=True, **common)
        kind = "merged"
    else:
        raise UserError(
            f"{model_dir}: not a model folder: an adapter needs adapter_config.json, an export "
            "export.json, a merged model config.json and *.safetensors"
        )
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    lm.eval()
    lm.config.use_cache = True  # training turns it off; generation wants it
    max_len = tc.get("max_seq_len") or getattr(lm.config, "max_position_embeddings", 2048)
    return Loaded(lm, tok, kind, use_chat, int(max_len))


# ---------------------------------------------------------------------------------- input


def read_inputs(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file: each line an object with a non-empty text ``instruction``
    and an optional text ``input``; the first bad line raises a one-line error naming it."""
    if not path.is_file():
        raise UserError(f"{path}: no such input file")
    norm = TextNormalizer(NormalizeConfig())
    rows = []
    for n, row in read_jsonl_lines(path):
        inst = row.get("instruction")
        if not isinstance(inst, str) or not inst.strip():
            got = "missing" if inst is None else f"a {type(inst).__name__}"
            raise UserError(
                f"{path}, line {n}: field 'instruction' must be non-empty text (got {got})"
            )
        extra = row.get("input")
        if extra is not None and not isinstance(extra, str):
            raise UserError(
                f"{path}, line {n}: field 'input' must be text or absent "
                f"(got a {type(extra).__name__})"
            )
        row["instruction"] = norm(inst)[0]
        row["input"] = norm(extra)[0] if extra else ""
        rows.append(row)
    if not rows:
        raise UserError(f"{path}: no input records")
    return rows


def user_text(row: dict[str, Any]) -> str:
    """What the user gave: instruction and input (what the guardrail compares answers with)."""
    return f"{row['instruction']}\n\n{row['input']}" if row.get("input") else row["instruction"]


def _as_record(row: dict[str, Any]) -> dict[str, Any]:
    return {"instruction": row["instruction"], "input": row.get("input") or "", "output": ""}


# ------------------------------------------------------------------------------ generation


@torch.no_grad()
def answer_prompts(
    loaded: Loaded,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    batch_size: int,
    do_sample: bool = False,
    temperature: float = 1.0,
) -> list[str]:
    """Answers to templated ``prompts``, a batch at a time, left padded (each prompt ends
    where generation starts), with a progress bar on a terminal."""
    tok, lm = loaded.tokenizer, loaded.lm
    tok.padding_side = "left"
    device = next(lm.parameters()).device
    kwargs: dict[str, Any] = {"do_sample": do_sample}
    if do_sample:
        kwargs["temperature"] = temperature
    else:  # a model's generation_config may ask for sampling; greedy means greedy
        kwargs.update(temperature=None, top_p=None, top_k=None)
    out: list[str] = []
    with progress(total=len(prompts), desc="generate", unit="answer") as bar:
        for i in range(0, len(prompts), batch_size):
            chunk = list(prompts[i : i + batch_size])
            enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            gen = lm.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
                **kwargs,
            )
            out += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            bar.update(len(chunk))
    return out


@dataclass
class GenerateResult:
    rows: list[dict[str, Any]]
    blocked: int
    too_long: int
    flagged: int = 0  # answers returned with a flag (pii.actions: flag)


def generate_rows(
    loaded: Loaded,
    rows: list[dict[str, Any]],
    guardrail: Any | None,
    *,
    max_new_tokens: int,
    batch_size: int,
    do_sample: bool = False,
    temperature: float = 1.0,
) -> GenerateResult:
    """Each row with ``answer`` and ``guardrail`` added. A row whose prompt fills the model's
    ``max_seq_len`` gets no answer (null) and an ``error`` saying so: no row is dropped."""
    tok = loaded.tokenizer
    prompts, todo, out = [], [], [dict(r) for r in rows]
    for i, row in enumerate(rows):
        prompt = data.format_example(_as_record(row), tok, loaded.use_chat_template)[0]
        n = len(tok(prompt, add_special_tokens=False)["input_ids"])
        if n >= loaded.max_seq_len:
            out[i] |= {
                "answer": None,
                "guardrail": None,
                "error": f"the prompt is {n} tokens; the model takes {loaded.max_seq_len}",
            }
            continue
        prompts.append(prompt)
        todo.append(i)
    answers = answer_prompts(
        loaded,
        prompts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        do_sample=do_sample,
        temperature=temperature,
    )
    blocked = flagged = 0
    if guardrail is not None:
        verdicts = guardrail.check_many(
            [user_text(rows[i]) for i in todo],
            answers,
            [rows[i].get("source") for i in todo],
        )
        for i, v in zip(todo, verdicts, strict=True):
            out[i] |= {"answer": v.answer, "guardrail": v.as_dict()}
            blocked += not v.allowed
            flagged += v.allowed and v.flagged
    else:
        for i, a in zip(todo, answers, strict=True):
            out[i] |= {"answer": a, "guardrail": None}
    return GenerateResult(out, blocked, len(rows) - len(todo), flagged)


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_open(path) as f:
        for r in rows:
            f.write(dumps_line(r))


__all__ = [
    "GenerateResult",
    "Loaded",
    "answer_prompts",
    "base_of",
    "generate_rows",
    "load_model",
    "read_inputs",
    "user_text",
    "write_rows",
]
