"""The PII detector and key as scrub_pii configures them, for every stage that looks for PII
with the same eyes (scrub_pii itself, evaluate's privacy probes)."""

from __future__ import annotations

import os

from provena.config import ScrubPiiConfig
from provena.pii.engine import PiiDetector


def secret_key(cfg: ScrubPiiConfig) -> tuple[bytes, bytes | None]:
    """(key for surrogates and ledger hashes, salt for the hash operator or None).

    The salt comes from the environment variable named by ``salt_env`` and is never written
    anywhere. Without it, the key falls back to ``surrogate_seed``, which anyone holding
    params.yaml can recompute: fine for the synthetic default data, not for real data.
    """
    salt = os.environ.get(cfg.salt_env)
    if salt:
        return salt.encode("utf-8"), salt.encode("utf-8")
    return f"provena-surrogate-seed:{cfg.surrogate_seed}".encode(), None


def detector(cfg: ScrubPiiConfig) -> PiiDetector:
    """The detector with scrub_pii's settings ."""
    return PiiDetector(
        score_threshold=cfg.score_threshold, deny_list=cfg.deny_list, allow_list=cfg.allow_list
    )
