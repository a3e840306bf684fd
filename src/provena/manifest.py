"""The lineage manifest: what an adapter was trained on, what cleared the data, and how.

Saved as ``manifest.json`` beside the adapter and embedded in the adapter's safetensors
metadata (key ``provena_manifest``), so the weights carry their lineage wherever they are
copied. It holds the hashes of the split files, the gate reports with their verdicts and
hashes, waivers and sign-offs, the params, the git commit, the base model's identity and
hash, the training mode (QLoRA or plain LoRA, and why), and library versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from provena.io import display_path, file_md5

LIBRARIES = (
    "provena",
    "torch",
    "transformers",
    "peft",
    "tokenizers",
    "safetensors",
    "accelerate",
    "bitsandbytes",
    "dvclive",
    "dvc",
)
METADATA_KEY = "provena_manifest"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_entry(path: Path, root: Path) -> dict[str, Any]:
    return {"path": display_path(path, root), "sha256": sha256_file(path), "md5": file_md5(path)}


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(root: Path) -> dict[str, Any]:
    """The commit the code was at, and whether tracked files differed from it."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def build(
    *,
    split_files: dict[str, dict[str, Any]],
    gate: dict[str, Any],
    params: dict[str, Any],
    params_file: dict[str, Any] | None,
    base_model: dict[str, Any],
    training: dict[str, Any],
    data: dict[str, Any],
    root: Path,
) -> dict[str, Any]:
    return {
        "kind": "provena.adapter_manifest",
        "version": 1,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "split": split_files,
        "gate": gate,
        "waivers": gate.get("waivers_applied", []),
        "signoffs": gate.get("signoffs", []),
        "params": params,
        "params_file": params_file,
        "git": git_state(root),
        "base_model": base_model,
        "training": training,
        "data": data,
        "libraries": library_versions(),
    }


def embed(adapter_file: Path, manifest: dict[str, Any]) -> None:
    """Rewrite the adapter's safetensors file with the manifest in its metadata."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(adapter_file, framework="pt") as fh:
        metadata = dict(fh.metadata() or {})
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    metadata[METADATA_KEY] = json.dumps(manifest, sort_keys=True, default=str)
    metadata.setdefault("format", "pt")
    save_file(tensors, adapter_file, metadata=metadata)


def read_embedded(adapter_file: Path) -> dict[str, Any] | None:
    from safetensors import safe_open

    with safe_open(adapter_file, framework="pt") as fh:
        raw = (fh.metadata() or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else None
