"""The PII detector and key as scrub_pii configures them, for every stage that looks for PII
with the same eyes (scrub_pii itself, evaluate's privacy probes)."""

from __future__ import annotations

import fnmatch
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


def detector(cfg: ScrubPiiConfig, profile: str | None = None) -> PiiDetector:
    """The detector with scrub_pii's settings, for ``profile`` (default: ``cfg.profile``).
    Detectors of several profiles in one process share spaCy's model."""
    return PiiDetector(
        profile=profile or cfg.profile,
        keep_years=cfg.keep_years,
        score_threshold=cfg.score_threshold,
        deny_list=cfg.deny_list,
        allow_list=cfg.allow_list,
        near_margin=cfg.near_threshold_margin,
    )


def profile_for(cfg: ScrubPiiConfig, source: str | None) -> str:
    """The profile of a record from ``source``: the first ``profiles`` glob that matches the
    source or its file name, else ``cfg.profile``."""
    if source:
        name = source.replace("\\", "/").rsplit("/", 1)[-1]
        for pattern, profile in cfg.profiles.items():
            if fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(name, pattern):
                return profile
    return cfg.profile
