"""The groups evaluate scores, and which metrics each group gets, and why.

Records are grouped by their ``meta`` family; a record without one is in the group
:data:`~provena.records.NO_FAMILY`, a group like any other. A family listed in
``evaluate.extraction_families`` is scored as JSON extraction, one in
``evaluate.free_text_families`` by ROUGE-L against the reference; every other group (no family,
or a family in neither list) as ``evaluate.unlisted_families`` says: free text by default, so
data without families is scored without naming any.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provena.config import EvaluateConfig
from provena.records import NO_FAMILY, Record

EXTRACTION, FREE_TEXT, PERPLEXITY = "extraction", "free_text", "perplexity"
#: the metrics of each kind of scoring, as metrics/evaluate.json names them per group
METRICS = {
    EXTRACTION: ("perplexity", "json_valid", "age_em", "sex_em", "icd10_micro_f1"),
    FREE_TEXT: ("perplexity", "rouge_l"),
    PERPLEXITY: ("perplexity",),
}


def family_of(rec: Record | dict[str, Any]) -> str:
    """The record's family, :data:`NO_FAMILY` where its meta names none."""
    fam = rec["meta"].get("family")
    return NO_FAMILY if fam in (None, "") else str(fam)


def scoring(family: str, cfg: EvaluateConfig) -> tuple[str, str]:
    """(kind of scoring, why) for the group ``family``: extraction, free_text or perplexity."""
    if family in cfg.extraction_families:
        return EXTRACTION, "listed in evaluate.extraction_families"
    if family in cfg.free_text_families:
        return FREE_TEXT, "listed in evaluate.free_text_families"
    what = (
        "records without a family"
        if family == NO_FAMILY
        else "a family in neither evaluate.extraction_families nor evaluate.free_text_families"
    )
    if cfg.unlisted_families == FREE_TEXT:
        return FREE_TEXT, f"{what}: evaluate.unlisted_families is free_text"
    return PERPLEXITY, f"{what}: evaluate.unlisted_families is perplexity (no answer generated)"


def generated_groups(families: Iterable[str], cfg: EvaluateConfig) -> list[str]:
    """The groups among ``families`` whose answers are generated, in a fixed order: the
    extraction families, then the free-text ones as listed, then the others sorted."""
    present = set(families)
    listed = [f for f in (*cfg.extraction_families, *cfg.free_text_families) if f in present]
    others = sorted(f for f in present - set(listed) if scoring(f, cfg)[0] != PERPLEXITY)
    return list(dict.fromkeys([*listed, *others]))
