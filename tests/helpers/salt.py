"""Where a secret (the PII salt) turns up: in files or in texts, raw, hex, base64 or as JSON.
Used by tests/unit/test_security.py and tests/pipeline/test_pipeline.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path


def _salt_forms(salt: str) -> list[bytes]:
    raw = salt.encode()
    return [
        raw,
        raw.hex().encode(),
        raw.hex().upper().encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        json.dumps(salt).encode(),
    ]


def salt_hits(folder: Path, salt: str, extra: dict[str, str] | None = None) -> list[str]:
    """Files under ``folder`` (and named texts in ``extra``) that hold the salt in any form."""
    forms = _salt_forms(salt)
    hits = [
        str(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and any(f in p.read_bytes() for f in forms)
    ]
    return hits + [k for k, text in (extra or {}).items() if any(f.decode() in text for f in forms)]
