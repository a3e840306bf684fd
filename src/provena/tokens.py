"""Token counts: a local Hugging Face tokenizer when one is configured, else an estimate.

The tokenizer is a ``tokenizer.json`` (or a folder holding one) loaded with the ``tokenizers``
library, never fetched from a hub. Without one, :func:`estimate_tokens` gives a conservative
count (the larger of word-and-punctuation pieces and characters / 4, the usual rule of thumb
for English BPE vocabularies), so length checks still mean something.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from provena.errors import UserError

_PIECE_RE = re.compile(r"\w+|[^\w\s]")


def load_tokenizer(raw: str, root: Path, key: str) -> Any:
    """Load ``root / raw`` (a tokenizer.json or a folder with one); ``key`` names the param."""
    from tokenizers import Tokenizer

    path = root / raw
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise UserError(
            f"{key} = {raw!r}: no tokenizer.json at {path} "
            "(give a local Hugging Face tokenizer file or a folder holding one)"
        )
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises a bare Exception on a bad file
        raise UserError(f"{path}: not a Hugging Face tokenizer.json ({err})") from None


def estimate_tokens(text: str) -> int:
    return max(len(_PIECE_RE.findall(text)), (len(text) + 3) // 4)


class TokenCounter:
    """Counts tokens with the tokenizer at ``raw`` (relative to ``root``), or estimates."""

    def __init__(self, raw: str | None, root: Path, key: str):
        self.tokenizer = load_tokenizer(raw, root, key) if raw else None
        self.exact = self.tokenizer is not None

    def __call__(self, texts: list[str]) -> list[int]:
        if self.tokenizer is None:
            return [estimate_tokens(t) for t in texts]
        return [len(e.ids) for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
