"""Exports of a trained adapter for inference, which keep its lineage.

``provena export ADAPTER_DIR OUT_DIR`` merges the LoRA adapter into its base (peft's
``merge_and_unload``) and writes one of:

- ``merged`` (``--merge``): the merged model in fp32 as a Hugging Face folder (safetensors,
  tokenizer and chat template): ``AutoModelForCausalLM.from_pretrained`` loads it offline with
  no remote code, and vLLM or any transformers-compatible engine serves it.
- ``int8`` (``--quantize int8``): for CPU, every linear layer as int8 weights with a scale per
  output row, run by torch's dynamic-quantized linear (:mod:`.int8`); safetensors too.
- ``nf4`` (``--quantize nf4``): bitsandbytes 4-bit NF4 for CUDA, saved by transformers; offered
  only where CUDA and bitsandbytes are present.

Before anything is written, the export is scored against the unmerged adapter on the test
split (:mod:`.quality`): an export whose task scores fall outside the adapter's 95% bootstrap
intervals is refused, unless forced (and then recorded as forced).

Each export folder holds ``export.json`` (kind, quantization, source adapter, the quality
comparison and the SHA-256 of every file), the adapter's lineage manifest with an ``export``
section added (``manifest.json``: ``provena trace OUT_DIR`` checks the exported files and
follows the manifest back to the audited data; ``provena trained-on`` finds the folder like an
adapter) and the model card with an Export section (``README.md``, ``card.json``).
:func:`load_export` loads any kind.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provena.config import EvaluateConfig
from provena.errors import UserError
from provena.export import int8
from provena.io import atomic_dir, display_path, read_records, write_json
from provena.manifest import git_state, library_versions, sha256_file

log = logging.getLogger(__name__)

EXPORT_FILE = "export.json"
FORMAT = "provena.export"
MANIFEST_FILE = "manifest.json"
#: --quantize -> the export's kind
KINDS = {"none": "merged", "int8": "int8", "nf4": "nf4"}
QUANTIZATIONS = tuple(KINDS)
RUNTIMES = {
    "merged": "transformers (AutoModelForCausalLM), fp32; any engine that reads a Hugging Face "
    "folder (vLLM, TGI)",
    "int8": f"torch on CPU: {int8.SCHEME}",
    "nf4": "bitsandbytes 4-bit NF4 with double quantization, bf16 compute (CUDA)",
}
DEFAULT_TEST = Path("data") / "processed" / "test.parquet"
DEFAULT_CARD = Path("models") / "card"


class ExportRefused(UserError):
    """The export's task scores fall outside the adapter's intervals (and it was not forced)."""

    def __init__(self, reasons: list[str], quality: dict[str, Any]):
        self.reasons = reasons
        self.quality = quality
        super().__init__(
            "export refused: "
            + "; ".join(reasons)
            + ". Nothing was written; --force writes it anyway (recorded as forced)"
        )


@dataclass
class ExportResult:
    out_dir: Path
    kind: str
    quality: dict[str, Any]
    forced: bool
    files: dict[str, str] = field(default_factory=dict)
    bytes: int = 0


# ------------------------------------------------------------------------------------ checks


def cuda_ready() -> str | None:
    """None where nf4 can run, else what is missing."""
    import torch

    if not torch.cuda.is_available():
        return "CUDA"
    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes (pip install 'provena[cuda]')"
    return None


def _check_out_dir(out_dir: Path, adapter_dir: Path) -> None:
    out, src = out_dir.resolve(), adapter_dir.resolve()
    if out == src or src in out.parents or out in src.parents:
        raise UserError(f"{out_dir}: the export folder must be apart from the adapter {src}")
    if out_dir.is_file():
        raise UserError(f"{out_dir}: a file, not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / EXPORT_FILE).is_file():
        raise UserError(
            f"{out_dir}: not empty and not an earlier export (no {EXPORT_FILE}); "
            "choose another folder"
        )


def _train_settings(manifest: dict[str, Any], adapter_dir: Path) -> tuple[int, bool]:
    """(max_seq_len, use_chat_template) the adapter was trained with."""
    train = (manifest.get("params") or {}).get("train") or {}
    if not train and (adapter_dir / "train_config.json").is_file():
        train = json.loads((adapter_dir / "train_config.json").read_text()).get("train") or {}
    if "max_seq_len" not in train:
        raise UserError(
            f"{adapter_dir}: neither manifest.json nor train_config.json records the train "
            "settings (max_seq_len, use_chat_template)"
        )
    return int(train["max_seq_len"]), bool(train.get("use_chat_template", True))


def _base_dir(manifest: dict[str, Any], root: Path) -> Path:
    rel = (manifest.get("base_model") or {}).get("path") or "models/base"
    path = Path(rel)
    return path if path.is_absolute() else root / path


# ------------------------------------------------------------------------------------ writing


def _merge(lm: Any) -> Any:
    """The adapter merged into its base weights (peft), ready for generation."""
    merged = lm.merge_and_unload()
    merged.config.use_cache = True
    merged.eval()
    return merged


def _save_weights(kind: str, merged: Any, tokenizer: Any, out: Path) -> None:
    if kind == "merged":
        merged.save_pretrained(out)
    elif kind == "int8":
        int8.save(merged, out)
    else:  # nf4: transformers quantizes a saved fp32 folder on load, then saves 4-bit
        import torch
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        with tempfile.TemporaryDirectory() as staging:
            merged.save_pretrained(staging)
            quantized = AutoModelForCausalLM.from_pretrained(
                staging,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
                quantization_config=BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_use_double_quant=True,
                    bnb_4bit_compute_dtype=torch.bfloat16,
                ),
                device_map={"": torch.cuda.current_device()},
            )
            quantized.save_pretrained(out)
    tokenizer.save_pretrained(out)
    stray = sorted(p.name for p in out.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pth"))
    if stray:
        raise UserError(f"{out}: pickled files written ({', '.join(stray)}); refusing to ship")


def _hashes(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.relative_to(folder).as_posix() not in skip
    }


def _card(card_dir: Path, export: dict[str, Any], out: Path, out_name: str) -> None:
    """The adapter's card with an Export section (README.md), and card.json as it was."""
    readme = card_dir / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8").rstrip() + "\n"
    else:
        text = (
            f"# Export of {export['source_adapter']['path']}\n\n"
            f"No model card was found at {card_dir} (the card stage writes it); the lineage is "
            "in manifest.json.\n"
        )
    if (card_dir / "card.json").is_file():
        shutil.copyfile(card_dir / "card.json", out / "card.json")
    q = export["quality"]
    lines = [
        "",
        "## Export",
        "",
        f"Written by `provena export` on {export['created_at']}: **{export['kind']}** "
        f"({RUNTIMES[export['kind']]}), merged from the adapter "
        f"`{export['source_adapter']['path']}` (adapter_model.safetensors sha256 "
        f"`{export['source_adapter']['weights_sha256']}`).",
        "",
        f"Quality against the unmerged adapter on the test split ({q['tolerance']}): "
        f"**{q['verdict']}**"
        + (" (forced: written although outside the tolerance)" if export["forced"] else "")
        + ".",
        "",
        "| family | score | adapter | adapter 95% interval | export | within |",
        "|---|---|---|---|---|---|",
    ]
    for fam, entry in q["families"].items():
        ppl = entry.get("perplexity")
        if ppl:
            lo, hi = ppl["adapter_interval"]
            lines.append(
                f"| {fam} | perplexity | {ppl['adapter']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                f"{ppl['export']:.3f} | (not judged) |"
            )
        for name, s in entry.get("task_scores", {}).items():
            lo, hi = s["adapter_interval"]
            lines.append(
                f"| {fam} | {name} | {s['adapter']:.3f} | [{lo:.3f}, {hi:.3f}] | "
                f"{s['export']:.3f} | {'yes' if s['within'] else 'no'} |"
            )
    lines += [
        "",
        f"Lineage: `manifest.json` is the adapter's manifest with an `export` section; "
        f"`provena trace {out_name}` checks these files and follows the manifest back to the "
        "audited data. Files (sha256):",
        "",
    ]
    lines += [f"- `{name}`: `{digest}`" for name, digest in export["files"].items()]
    (out / "README.md").write_text(text + "\n".join(lines) + "\n", encoding="utf-8")


def export_adapter(
    adapter_dir: Path,
    out_dir: Path,
    *,
    merge: bool = False,
    quantize: str = "none",
    force: bool = False,
    cfg: EvaluateConfig | None = None,
    test: Path | None = None,
    root: Path | None = None,
    card_dir: Path | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> ExportResult:
    """Merge (and quantize) the adapter, score the export against the adapter on the test
    split, and write the folder with its lineage; :class:`ExportRefused` (nothing written)
    when a task score falls outside the adapter's interval and ``force`` is off."""
    from provena import lineage
    from provena.evaluate import load_adapter
    from provena.export import quality

    if quantize not in KINDS:
        raise UserError(f"--quantize {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    if quantize == "none" and not merge:
        raise UserError(
            "nothing to export: give --merge (the merged model in fp32) or --quantize int8|nf4 "
            "(these merge first); vLLM serves the adapter folder itself as it is "
            "(docs/export.md)"
        )
    kind = KINDS[quantize]
    if kind == "nf4" and (missing := cuda_ready()):
        raise UserError(
            f"--quantize nf4 needs CUDA and bitsandbytes; {missing} is missing here. "
            "On CPU use --quantize int8"
        )
    if bootstrap < 100:
        raise UserError(f"--bootstrap {bootstrap}: at least 100 resamples for a 95% interval")
    cfg = cfg or EvaluateConfig()
    manifest = lineage.load_manifest(adapter_dir)
    root = (root or lineage.project_root(adapter_dir)).resolve()
    _check_out_dir(out_dir, adapter_dir)
    test = test or root / DEFAULT_TEST
    if not test.is_file():
        raise UserError(f"{test}: no test split to score the export on (give --test FILE)")
    records = [r for batch in read_records(test) for r in batch]
    if not records:
        raise UserError(f"{test}: the test split is empty")
    max_seq_len, chat = _train_settings(manifest, adapter_dir)

    lm, tokenizer = load_adapter(_base_dir(manifest, root), adapter_dir, "none")
    gen, ppl = quality.prepare(records, tokenizer, cfg, max_seq_len, chat)
    log.info("scoring the adapter: %d answers, %d perplexity examples", len(gen), len(ppl))
    adapter_scores = quality.score_model(lm, tokenizer, gen, ppl, cfg)
    merged = _merge(lm)
    weights = adapter_dir / "adapter_model.safetensors"
    source = {
        "path": display_path(adapter_dir, root),
        "weights_sha256": sha256_file(weights),
        "manifest_sha256": sha256_file(adapter_dir / MANIFEST_FILE),
        "base_model": {
            k: (manifest.get("base_model") or {}).get(k) for k in ("name", "path", "sha256")
        },
    }
    params = {
        "merge": True,
        "quantize": quantize,
        "force": force,
        "test": display_path(test, root),
        "max_examples": cfg.max_examples,
        "max_new_tokens": cfg.max_new_tokens,
        "batch_size": cfg.batch_size,
        "bootstrap": bootstrap,
        "seed": seed,
    }
    with atomic_dir(out_dir) as tmp:
        _save_weights(kind, merged, tokenizer, tmp)
        del merged
        export = {
            "format": FORMAT,
            "version": 1,
            "kind": kind,
            "quantization": {"method": quantize, "runtime": RUNTIMES[kind]},
            "merged": True,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "source_adapter": source,
            "params": params,
        }
        write_json(tmp / EXPORT_FILE, export)  # load_export reads the kind from it
        model, tok = load_export(tmp, verify=False)
        log.info("scoring the %s export", kind)
        export_scores = quality.score_model(model, tok, gen, ppl, cfg)
        del model
        q = quality.compare(adapter_scores, export_scores, cfg, samples=bootstrap, seed=seed)
        if q["verdict"] == "fail" and not force:
            raise ExportRefused(q["reasons"], q)
        forced = q["verdict"] == "fail"
        export |= {"quality": q, "forced": forced}
        export["files"] = _hashes(tmp, skip=(EXPORT_FILE,))
        _card(card_dir or root / DEFAULT_CARD, export, tmp, display_path(out_dir, root))
        export["files"] = _hashes(tmp, skip=(EXPORT_FILE,))
        write_json(tmp / EXPORT_FILE, export)
        files = _hashes(tmp)
        step = {k: v for k, v in export.items() if k not in ("format", "version", "quality")}
        step |= {
            "quality": {k: q[k] for k in ("verdict", "reasons", "tolerance", "confidence")},
            "files": files,
            "git": git_state(root),
            "libraries": library_versions(),
        }
        write_json(tmp / MANIFEST_FILE, {**manifest, "export": step})
        size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
    return ExportResult(out_dir, kind, q, forced, files, size)


# ------------------------------------------------------------------------------------ loading


def read_export(path: Path) -> dict[str, Any]:
    f = Path(path) / EXPORT_FILE
    if not f.is_file():
        raise UserError(f"{f}: not an export folder (no {EXPORT_FILE}; `provena export` writes it)")
    try:
        info = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"{f}: not valid JSON ({err})") from None
    if (
        not isinstance(info, dict)
        or info.get("format") != FORMAT
        or info.get("kind") not in RUNTIMES
    ):
        raise UserError(
            f"{f}: not a provena export (format {FORMAT}, kind one of {list(RUNTIMES)})"
        )
    return info


def verify_files(path: Path, info: dict[str, Any]) -> None:
    """Every file the export recorded is there with its SHA-256."""
    for name, digest in (info.get("files") or {}).items():
        f = Path(path) / name
        if not f.is_file():
            raise UserError(f"{f}: missing from the export (recorded in {EXPORT_FILE})")
        now = sha256_file(f)
        if now != digest:
            raise UserError(
                f"{f}: changed since export (sha256 recorded {digest[:12]}, now {now[:12]}); "
                f"`provena trace {path}` shows the lineage"
            )


def load_export(path: Path | str, *, verify: bool = True) -> tuple[Any, Any]:
    """(model, tokenizer) of any export folder, offline, with no remote code and safetensors
    weights only; with ``verify``, each file's SHA-256 is checked against export.json first."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    info = read_export(path)
    if verify:
        verify_files(path, info)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(path, **common)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    kind = info["kind"]
    if kind == "int8":
        model = int8.load(path)
    elif kind == "nf4":
        if missing := cuda_ready():
            raise UserError(
                f"{path}: an nf4 export runs on CUDA with bitsandbytes; {missing} is missing"
            )
        model = AutoModelForCausalLM.from_pretrained(
            path, **common, use_safetensors=True, device_map={"": torch.cuda.current_device()}
        )
    else:
        model = AutoModelForCausalLM.from_pretrained(
            path, **common, use_safetensors=True, dtype=torch.float32
        )
    model.config.use_cache = True
    model.eval()
    return model, tokenizer


__all__ = ["ExportRefused", "ExportResult", "export_adapter", "load_export", "read_export"]
