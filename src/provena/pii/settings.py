"""The PII detector and key as scrub_pii configures them, for every stage that looks for PII
with the same eyes (scrub_pii itself, evaluate's privacy probes)."""

from __future__ import annotations

import fnmatch

from provena.config import ScrubPiiConfig
from provena.ledger_key import secret_key  # noqa: F401  (re-exported: the stages import it here)
from provena.pii.engine import PiiDetector


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
