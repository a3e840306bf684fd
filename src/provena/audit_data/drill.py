"""The records behind each finding of an audit: for every failing or inconclusive finding about
a group (a representation shortfall of an attribute's or an intersection's group; an outcome
gap, about its worst group), the ids of that group's records and a bounded sample of them.

A finding's group is the records its check counted: those whose attributes are recorded (or
inferred, where ``judge_inferred``), of the outcome's family, with a number in the outcome's
field for a mean. Ids are listed in input order, up to ``audit_data.report_ids``; the sample is
the first ``audit_data.report_examples`` records in input order, up to half of them augmented
children where augment made some of the group, each field cut at
``audit_data.report_text_chars``. The audit's input is scrubbed (clean's output, or augment's):
the sample's text is what the training data holds, never a raw value.

Nothing here changes a number of the audit: :func:`attach` only adds ``group``,
``attribute``, ``record_count``, ``record_ids``, ``sample`` (and, on augmented data,
``original`` and ``augmented``) to each such finding.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from provena.config import AuditDataConfig
from provena.errors import UserError
from provena.group_audit import INCONCLUSIVE, _comparisons, _groups, _recorded
from provena.records import Record

#: the verdicts whose findings get the records behind them
DRILLED = ("fail", INCONCLUSIVE)
#: the fields of a sampled record, as the page shows them
SAMPLE_FIELDS = ("instruction", "input", "output")
#: the params that bound what a finding carries (the audit JSON's ``drill`` repeats them)
BOUNDS = ("report_ids", "report_examples", "report_text_chars")


def target(result: dict[str, Any], check: str) -> dict[str, Any] | None:
    """What a finding's ``check`` is about: {attribute (its name, "gender x age_band" for an
    intersection), attributes, group, family, field (a mean's, else None)}; None for a check
    of another shape ("all", "attribute:...") or one the audit does not hold."""
    kind = check.split(":", 1)[0]
    if kind == "representation":
        parts = check.split(":", 2)
        if len(parts) < 3:
            return None
        name, group = parts[1], parts[2]
        block = result["representation"].get(name) or result["intersections"].get(name)
        if not block or group not in block.get("groups", {}):
            return None
        return {
            "attribute": name,
            "attributes": block["attributes"],
            "group": group,
            "family": None,
            "field": None,
        }
    if kind == "outcome":
        parts = check.split(":", 3)
        if len(parts) < 4:
            return None
        _, oname, attr, label = parts
        o = result["outcomes"].get(oname)
        res = (o or {}).get("by_attribute", {}).get(attr)
        if not o or not res or "kind" not in res:
            return None
        c = _comparisons(o, res).get(label) if ("value" in res or "values" in res) else None
        if not c or "worst" not in c:
            return None
        return {
            "attribute": attr,
            "attributes": res["attributes"],
            "group": c["worst"],
            "family": o.get("family"),
            "field": o["field"] if res["kind"] == "mean" else None,
        }
    return None


def rows_of(df: pd.DataFrame, t: dict[str, Any], cfg: AuditDataConfig) -> np.ndarray:
    """The positions (in input order) of the records a finding's check counted in its group."""
    if len(df) == 0:
        return np.array([], dtype=int)
    data = _recorded(df, t["attributes"], cfg.judge_inferred)
    if t["family"] is not None:
        data = data[data["family"] == t["family"]]
    if t["field"] is not None:
        data = data[pd.to_numeric(data[t["field"]], errors="coerce").notna().to_numpy()]
    if data.empty:
        return np.array([], dtype=int)
    in_group = (_groups(data, t["attributes"]) == t["group"]).to_numpy()
    labels = data.index.to_numpy()[in_group]
    return np.sort(df.index.get_indexer(labels))


def sample_rows(rows: np.ndarray, augmented: np.ndarray, k: int) -> list[int]:
    """Up to ``k`` of ``rows`` (positions in input order): the first in input order; where the
    group has original and augmented records both, up to half augmented (more where the
    originals run short), so the page shows each kind."""
    if k <= 0 or len(rows) == 0:
        return []
    flags = augmented[rows]
    orig, aug = rows[~flags], rows[flags]
    if len(orig) and len(aug):
        n_aug = min(len(aug), k // 2)
        n_orig = min(len(orig), k - n_aug)
        n_aug = min(len(aug), k - n_orig)
        return sorted(int(r) for r in (*orig[:n_orig], *aug[:n_aug]))
    return [int(r) for r in rows[:k]]


def plan(df: pd.DataFrame, result: dict[str, Any], cfg: AuditDataConfig) -> dict[int, list[int]]:
    """Add to each failing or inconclusive finding of ``result`` (in place) its group, the
    count and ids of the group's records and, on augmented data, how many are original and
    augmented; return the sample each needs: finding index -> record positions."""
    split = bool(len(df)) and "augmented" in df and bool(df["augmented"].any())
    augmented = df["augmented"].to_numpy(dtype=bool) if len(df) else np.array([], dtype=bool)
    ids = df["id"].to_numpy() if len(df) else np.array([], dtype=object)
    samples: dict[int, list[int]] = {}
    for i, f in enumerate(result["findings"]):
        if f["verdict"] not in DRILLED or f["check"] == "all":
            continue
        t = target(result, f["check"])
        if t is None:
            continue
        rows = rows_of(df, t, cfg)
        f["attribute"], f["group"] = t["attribute"], t["group"]
        f["record_count"] = len(rows)
        f["record_ids"] = [str(x) for x in ids[rows[: cfg.report_ids]]]
        if split:
            n_aug = int(augmented[rows].sum())
            f["original"], f["augmented"] = len(rows) - n_aug, n_aug
        samples[i] = sample_rows(rows, augmented, cfg.report_examples)
    return samples


def _cut(text: str, n: int) -> tuple[str, int]:
    return text[:n], max(0, len(text) - n)


def sampled(rec: Record, cfg: AuditDataConfig) -> dict[str, Any]:
    """A sampled record as the audit JSON holds it: its id, whether augment made it (and its
    parent's id), and its scrubbed instruction, input and output, each cut at
    ``report_text_chars`` with what was left out counted."""
    fields = []
    for name in SAMPLE_FIELDS:
        text, left = _cut(str(rec.get(name) or ""), cfg.report_text_chars)  # type: ignore[misc]
        fields.append({"field": name, "text": text, "chars_left_out": left})
    parent = rec.get("parent_id")
    return {
        "id": rec["id"],
        "augmented": parent is not None,
        "parent_id": parent,
        "op": rec.get("op"),
        "fields": fields,
    }


def attach(
    result: dict[str, Any],
    samples: dict[int, list[int]],
    records: Iterable[Record],
    cfg: AuditDataConfig,
    where: str = "audit_data",
) -> None:
    """Give each planned finding its ``sample`` (in place), read from ``records``: the same
    records, in the same order, as the audit's frame was built from (``where`` names them in
    the error if they are fewer)."""
    wanted: dict[int, list[int]] = {}
    for i, rows in samples.items():
        for r in rows:
            wanted.setdefault(r, []).append(i)
    found: dict[int, dict[str, Any]] = {}
    if wanted:
        last = max(wanted)
        for pos, rec in enumerate(records):
            if pos in wanted:
                found[pos] = sampled(rec, cfg)
            if pos >= last:
                break
    if len(found) < len(wanted):
        raise UserError(
            f"{where}: the records read again for the findings' samples end before record "
            f"{min(set(wanted) - set(found)) + 1}: the input changed while it was audited"
        )
    for i, rows in samples.items():
        result["findings"][i]["sample"] = [found[r] for r in rows]
