"""A small before/after bias audit (the JSON audit_data writes) for the audit page's tests:
support replies whose refund rate and share depend on gender, and clinical records whose
ICD-10 chapter is an outcome with ``check: false`` (so the page has not-checked sections)."""

from __future__ import annotations

import random
from typing import Any

from provena import group_audit as audit
from provena.config import AuditDataConfig
from tests.factory import record

CFG = AuditDataConfig(bootstrap=0, min_group_size=20)


def audit_records(female: float, seed: int = 3, n: int = 500) -> list:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gender = "nonbinary" if i % 40 == 0 else ("female" if rng.random() < female else "male")
        band = rng.choice(["18-29", "30-44", "45-64", "65+"])
        clinical = i % 5 == 0
        meta: dict[str, Any] = {"gender": gender, "age_band": band}
        if clinical:
            meta |= {"family": "clinical_extraction", "icd10_chapter": rng.choice(["I", "J", "K"])}
        else:
            refund = rng.random() < (0.2 if gender == "female" else 0.45)
            meta |= {"family": "support_reply", "resolution": "refund" if refund else "other"}
        out.append(
            record(
                source="t",
                instruction="Reply.",
                input=f"Message {i}",
                output="Sorry. " + "x" * (100 if band == "65+" else 300),
                meta=meta,
            )
        )
    return out


def audits(cfg: AuditDataConfig = CFG) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after): before under-represents women (about 28%), after much less so."""
    out = []
    for when, share in (("before", 0.28), ("after", 0.45)):
        res = audit.audit(audit.build_frame(audit_records(share), cfg), cfg)
        res |= {"when": when, "dataset": {"records": res["records"], "path": "x", "md5": "0" * 32}}
        out.append(res)
    before, after = out
    return before, audit.with_status(after, before)
