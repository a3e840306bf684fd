"""Group audit (shared by audit_data and augment): who is under-represented in the data, and
who is treated differently in it.

For each sensitive attribute in params (and their intersections) the audit compares each
group's share of records with a reference, and compares outcome properties across groups with
fairlearn's :class:`~fairlearn.metrics.MetricFrame`: the share of each value of a label (how
often a support reply offers a refund) or a mean (how long the replies are), with bootstrap
confidence intervals, the difference and the ratio between the best and the worst group.
Thresholds in params turn each comparison into a check with a verdict; the audit's verdict is
``fail`` when any check fails. Groups smaller than ``min_group_size`` are listed and flagged
"too small to judge", never hidden and never judged.

Where a record lacks an attribute, it may be inferred from its text by transparent rules
(:func:`infer_gender`, :func:`infer_age_band`): inferred values are about the people in the
text, not recorded facts about a record's subject. They are marked and reported in a section of
their own (with the rule that inferred them), never mixed into the checks unless
``judge_inferred`` is true.

An attribute that no record carries (or whose every group is smaller than ``min_group_size``)
is "not judged", with the count of records that carry it: no representation or outcome finding
is computed on zero records. The audit's verdict is ``not_judged`` when no attribute was judged;
it is never ``pass`` on nothing.

The audit always finishes and writes its verdict: a failed audit is a report, not a crash.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from provena.config import AuditDataConfig, OutcomeSpec
from provena.records import Record

STAGE = "audit_data"
log = logging.getLogger(__name__)
MISSING = "(missing)"
NUMERIC_FIELDS = {"output_chars": "output", "input_chars": "input"}

# pronouns and words for the person themself; relations (wife, son) name someone else
_FEMALE = r"she|her|hers|herself|woman|girl|lady|mrs|ms|miss"
_MALE = r"he|him|his|himself|man|boy|gentleman|mr"
_FEMALE_RE = re.compile(rf"\b(?:{_FEMALE})\b\.?", re.I)
_MALE_RE = re.compile(rf"\b(?:{_MALE})\b\.?", re.I)
_AGE_RE = re.compile(r"\b(\d{1,3})[- ]?(?:years?[- ]old|y/?o|yo)\b", re.I)
AGE_BANDS = ((18, 29, "18-29"), (30, 44, "30-44"), (45, 64, "45-64"), (65, 130, "65+"))


def infer_gender(text: str) -> str | None:
    """'female' or 'male' when the text's gendered words all point one way (two at least)."""
    f, m = len(_FEMALE_RE.findall(text)), len(_MALE_RE.findall(text))
    if f >= 2 and m == 0:
        return "female"
    if m >= 2 and f == 0:
        return "male"
    return None


def infer_age_band(text: str) -> str | None:
    """The band of the first stated age ('54 year old', '31 Y/O'), if the text states one."""
    m = _AGE_RE.search(text)
    if not m:
        return None
    age = int(m.group(1))
    return next((band for lo, hi, band in AGE_BANDS if lo <= age <= hi), None)


INFER = {"gender": infer_gender, "age_band": infer_age_band}
#: what each inference rule does, as the report states it
RULES = {
    "gender": "infer_gender: 'female' or 'male' when the text's gendered words (pronouns, "
    "woman/man, Mrs/Mr) all point one way, two at least",
    "age_band": "infer_age_band: the band of the first age the text states ('54 year old', "
    "'31 Y/O')",
}
NOT_JUDGED = "not_judged"


def build_frame(records: Iterable[Record], cfg: AuditDataConfig) -> pd.DataFrame:
    """One row per record: id, family, the attributes (recorded or inferred), outcome fields."""
    fields = list(dict.fromkeys(o.field for o in cfg.outcomes if o.field not in NUMERIC_FIELDS))
    # a list per column, not a dict per row, and each repeated value (a group, a label) one
    # shared string: a few dozen bytes a record, where row dicts took about a kilobyte
    names = ["id", "family", "output_chars", "input_chars"]
    for attr in cfg.attributes:
        names += [f"{attr}_inferred", attr]
    cols: dict[str, list[Any]] = {c: [] for c in [*names, *fields]}
    overwrite = {f for f in fields if f in names}  # an outcome field that is a column already

    def label(value: Any) -> str:
        return MISSING if value in (None, "") else sys.intern(str(value))

    for rec in records:
        meta = rec["meta"]
        cols["id"].append(rec["id"])
        cols["family"].append(label(meta.get("family")))  # no family: one group, MISSING
        cols["output_chars"].append(len(rec["output"]))
        cols["input_chars"].append(len(rec["input"]))
        text = None
        for attr in cfg.attributes:
            value = meta.get(attr)
            inferred = False
            if value in (None, "") and attr in cfg.infer_missing and attr in INFER:
                text = text if text is not None else "\n".join((rec["input"], rec["output"]))
                value = INFER[attr](text)
                inferred = value is not None
            cols[f"{attr}_inferred"].append(inferred)
            cols[attr].append(label(value))
        for f in fields:
            if f in overwrite:
                cols[f][-1] = label(meta.get(f))
            else:
                cols[f].append(label(meta.get(f)))
    if not cols["id"]:
        return pd.DataFrame([])
    return pd.DataFrame(cols)


def _groups(df: pd.DataFrame, attrs: list[str]) -> pd.Series:
    if len(attrs) == 1:
        return df[attrs[0]]
    return df[attrs].astype(str).agg(" & ".join, axis=1)


def _recorded(df: pd.DataFrame, attrs: list[str], judge_inferred: bool = False) -> pd.DataFrame:
    """Rows whose attributes are all recorded (not missing, not inferred unless
    ``judge_inferred``): what checks use."""
    keep = np.ones(len(df), dtype=bool)
    for a in attrs:
        keep &= (df[a] != MISSING).to_numpy()
        if not judge_inferred:
            keep &= ~df[f"{a}_inferred"].to_numpy(dtype=bool)
    return df[keep]


def attribute_counts(df: pd.DataFrame, attr: str) -> dict[str, int]:
    """Records that carry ``attr``: recorded, inferred from the text, and missing."""
    if len(df) == 0 or attr not in df:
        return {"records": len(df), "recorded": 0, "inferred": 0, "missing": len(df)}
    inferred = df[f"{attr}_inferred"].to_numpy(dtype=bool)
    present = (df[attr] != MISSING).to_numpy()
    return {
        "records": len(df),
        "recorded": int((present & ~inferred).sum()),
        "inferred": int(inferred.sum()),
        "missing": int((~present).sum()),
    }


def judgeable(df: pd.DataFrame, attr: str, cfg: AuditDataConfig) -> str | None:
    """None when ``attr`` can be judged; else the reason it is not (no recorded value, or
    every group smaller than ``min_group_size``)."""
    counts = attribute_counts(df, attr)
    usable = counts["recorded"] + (counts["inferred"] if cfg.judge_inferred else 0)
    what = "recorded or inferred" if cfg.judge_inferred else "recorded"
    if usable == 0:
        return f"no record carries a {what} {attr}"
    sizes = _recorded(df, [attr], cfg.judge_inferred)[attr].value_counts()
    if int(sizes.max()) < cfg.min_group_size:
        return (
            f"every {attr} group has fewer than {cfg.min_group_size} records "
            f"({usable} records carry a {what} value)"
        )
    return None


def _reference(cfg: AuditDataConfig, attrs: list[str], present: list[str]) -> dict[str, float]:
    """Reference share per group; for an intersection, the product of the marginals."""
    per_attr = []
    for a in attrs:
        ref = cfg.reference.get(a, "parity")
        if ref == "parity":
            levels = sorted({g.split(" & ")[attrs.index(a)] for g in present})
            ref = {lv: 1 / len(levels) for lv in levels}
        per_attr.append(ref)
    out = {}
    for g in present:
        parts = g.split(" & ") if len(attrs) > 1 else [g]
        share = 1.0
        for ref, part in zip(per_attr, parts, strict=True):
            share *= ref.get(part, 0.0)
        out[g] = share
    return out


def wilson(k: int, n: int, ci: float) -> list[float]:
    """Wilson score interval for a proportion k/n."""
    if n == 0:
        return [0.0, 0.0]
    z = _z(ci)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _z(ci: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + ci / 2)


def representation(df: pd.DataFrame, attrs: list[str], cfg: AuditDataConfig) -> dict[str, Any]:
    data = _recorded(df, attrs, cfg.judge_inferred)
    groups = _groups(data, attrs)
    counts = groups.value_counts().sort_index()
    n = int(counts.sum())
    ref = _reference(cfg, attrs, list(counts.index))
    out: dict[str, Any] = {}
    for g, c in counts.items():
        share = c / n if n else 0.0
        r = ref.get(g, 0.0)
        small = int(c) < cfg.min_group_size
        ratio = share / r if r else None
        if small:
            verdict = "too_small"
        elif ratio is None:
            verdict = "no_reference"
        else:
            verdict = "pass" if ratio >= cfg.min_representation_ratio else "fail"
        out[str(g)] = {
            "n": int(c),
            "share": round(share, 4),
            "ci": wilson(int(c), n, cfg.ci),
            "reference": round(r, 4),
            "ratio": None if ratio is None else round(ratio, 4),
            "verdict": verdict,
        }
    # a group in the reference with no records at all is the worst case of under-representation
    if len(attrs) == 1 and isinstance(cfg.reference.get(attrs[0]), dict):
        for g, r in cfg.reference[attrs[0]].items():
            if g not in out and r > 0:
                out[g] = {
                    "n": 0,
                    "share": 0.0,
                    "ci": [0.0, 0.0],
                    "reference": r,
                    "ratio": 0.0,
                    "verdict": "fail",
                }
    return {
        "attributes": attrs,
        "records": n,
        "groups": out,
        "verdict": "fail" if any(v["verdict"] == "fail" for v in out.values()) else "pass",
    }


def _metric_frame(columns: dict[str, np.ndarray], groups: pd.Series, n_boot: int, cfg):
    """One fairlearn MetricFrame for several properties at once (one bootstrap for all).

    ``y_true`` is the row index, so each metric reads its own column for the rows fairlearn
    hands it (a group, or a bootstrap resample of one).
    """
    from fairlearn.metrics import MetricFrame

    def mean_of(col: np.ndarray):
        def metric(y_true, y_pred):  # y_pred is not used: these are properties of the data
            return float(col[np.asarray(y_true, dtype=np.int64)].mean())

        return metric

    lo, hi = (1 - cfg.ci) / 2, 1 - (1 - cfg.ci) / 2
    kwargs: dict[str, Any] = {}
    if n_boot:
        kwargs = {"n_boot": n_boot, "ci_quantiles": [lo, hi], "random_state": cfg.seed}
    rows = np.arange(len(groups))
    return MetricFrame(
        metrics={name: mean_of(col) for name, col in columns.items()},
        y_true=rows,
        y_pred=rows,
        sensitive_features=groups.to_numpy(),
        **kwargs,
    )


def _compare(
    columns: dict[str, np.ndarray],
    groups: pd.Series,
    cfg: AuditDataConfig,
    is_share: bool,
    judge: bool,
) -> dict[str, dict[str, Any]]:
    """Per property: by-group values (intervals when judged), difference and ratio between
    the groups large enough to judge, and a verdict."""
    sizes = groups.value_counts()
    big = [str(g) for g in sizes[sizes >= cfg.min_group_size].index]
    small = {str(g): int(n) for g, n in sizes.items() if n < cfg.min_group_size}
    out: dict[str, dict[str, Any]] = {}
    for name, col in columns.items():
        res: dict[str, Any] = {"by_group": {}, "too_small": small}
        for g in sorted(small):
            value = float(col[(groups == g).to_numpy()].mean())
            res["by_group"][g] = {"value": round(value, 4), "n": small[g]}
        out[name] = res
    if len(big) < 2:
        for res in out.values():
            res.update({"difference": None, "ratio": None, "verdict": "too_small"})
        return out
    mask = groups.isin(big).to_numpy()
    sub = {name: col[mask] for name, col in columns.items()}
    mf = _metric_frame(sub, groups[mask].reset_index(drop=True), cfg.bootstrap if judge else 0, cfg)
    diffs = mf.difference(method="between_groups")
    ratios = mf.ratio(method="between_groups")
    if judge and cfg.bootstrap:
        lo_ci, hi_ci = mf.by_group_ci
        dci, rci = mf.difference_ci(method="between_groups"), mf.ratio_ci(method="between_groups")
    for name, res in out.items():
        for g, v in mf.by_group[name].items():
            entry: dict[str, Any] = {"value": round(float(v), 4), "n": int(sizes[g])}
            if judge and cfg.bootstrap:
                entry["ci"] = [round(float(lo_ci[name][g]), 4), round(float(hi_ci[name][g]), 4)]
            res["by_group"][str(g)] = entry
        diff, ratio = float(diffs[name]), float(ratios[name])
        res["difference"] = round(diff, 4)
        res["ratio"] = None if math.isnan(ratio) else round(ratio, 4)
        if judge and cfg.bootstrap:
            res["difference_ci"] = [round(float(dci[0][name]), 4), round(float(dci[1][name]), 4)]
            res["ratio_ci"] = [round(float(rci[0][name]), 4), round(float(rci[1][name]), 4)]
        judged = {g: res["by_group"][g]["value"] for g in big}
        res["highest"] = max(judged, key=judged.get)
        res["lowest"] = min(judged, key=judged.get)
        low_ratio = res["ratio"] is not None and res["ratio"] < cfg.min_outcome_ratio
        wide = (not is_share) or diff > cfg.max_outcome_difference
        if not judge:
            res["verdict"] = "not_checked"
        else:
            res["verdict"] = "fail" if (low_ratio and wide) else "pass"
    return out


def outcome(
    df: pd.DataFrame, spec: OutcomeSpec, attrs: list[str], cfg: AuditDataConfig, judge: bool
) -> dict[str, Any]:
    data = _recorded(df, attrs, cfg.judge_inferred)
    if spec.family is not None:
        data = data[data["family"] == spec.family]
        if data.empty:  # a family the data does not have: nothing to compare, not a pass
            n = int((df["family"] == spec.family).sum())
            why = (
                f"no record of family {spec.family}"
                if not n
                else f"no record of family {spec.family} carries a recorded {' and '.join(attrs)}"
            )
            return _not_judged(attrs, 0, why, kind=spec.kind)
    groups = _groups(data, attrs).reset_index(drop=True)
    judge = judge and spec.check
    out: dict[str, Any] = {"attributes": attrs, "records": len(data), "kind": spec.kind}
    where = f" in family {spec.family}" if spec.family else ""
    if spec.kind == "mean":
        values = pd.to_numeric(data[spec.field], errors="coerce").to_numpy(dtype=float)
        ok = ~np.isnan(values)
        if not ok.any():
            return _not_judged(
                attrs, len(data), f"no record{where} has a number in {spec.field}", kind=spec.kind
            )
        res = _compare({"mean": values[ok]}, groups[ok].reset_index(drop=True), cfg, False, judge)
        out["value"] = res["mean"]
        checks = [out["value"]]
    else:
        labels = data[spec.field].to_numpy()
        values = sorted(set(labels) - {MISSING})
        if not values:
            return _not_judged(
                attrs, len(data), f"no record{where} carries meta {spec.field}", kind=spec.kind
            )
        cols = {str(v): (labels == v).astype(float) for v in values}
        out["values"] = _compare(cols, groups, cfg, True, judge)
        checks = list(out["values"].values())
    out["verdict"] = "fail" if any(c["verdict"] == "fail" for c in checks) else "pass"
    return out


def _not_judged(attrs: list[str], records: int, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "attributes": attrs,
        "records": records,
        **extra,
        "verdict": NOT_JUDGED,
        "reason": reason,
    }


def audit(df: pd.DataFrame, cfg: AuditDataConfig) -> dict[str, Any]:
    """The whole audit of one table, as plain JSON-able data."""
    counts = {a: attribute_counts(df, a) for a in cfg.attributes}
    reasons = {a: judgeable(df, a, cfg) for a in cfg.attributes}
    judged = [a for a in cfg.attributes if reasons[a] is None]

    def why(attrs: list[str]) -> str | None:
        off = [a for a in attrs if reasons[a] is not None]
        return "; ".join(str(reasons[a]) for a in off) if off else None

    def rep_of(attrs: list[str]) -> dict[str, Any]:
        reason = why(attrs)
        if reason is None:
            return representation(df, attrs, cfg)
        return _not_judged(attrs, len(_recorded(df, attrs, cfg.judge_inferred)), reason, groups={})

    rep = {a: rep_of([a]) for a in cfg.attributes}
    inter = {" x ".join(c): rep_of(list(c)) for c in cfg.intersections}
    outcomes: dict[str, Any] = {}
    # outcomes with nothing to compare (their family or field absent from the data), said once
    outcome_not_judged: dict[str, dict[str, Any]] = {}
    for spec in cfg.outcomes:
        per = {}
        for combo, judge in [
            *(([a], True) for a in cfg.attributes),
            *((list(c), cfg.check_intersection_outcomes) for c in cfg.intersections),
        ]:
            reason = why(combo)
            res = (
                outcome(df, spec, combo, cfg, judge=judge)
                if reason is None
                else _not_judged(combo, 0, reason, kind=spec.kind)
            )
            per[" x ".join(combo)] = res
            if reason is None and res["verdict"] == NOT_JUDGED and spec.check:
                text = f"outcome {spec.name}: not judged: {res['reason']}"
                outcome_not_judged.setdefault(
                    text, {"verdict": NOT_JUDGED, "check": f"outcome:{spec.name}", "text": text}
                )
        outcomes[spec.name] = {"field": spec.field, "family": spec.family, "by_attribute": per}
    inferred: dict[str, dict[str, int]] = {a: {} for a in cfg.attributes}
    for a in cfg.attributes if len(df) else ():
        sub = df[df[f"{a}_inferred"].astype(bool)]
        inferred[a] = {str(g): int(n) for g, n in sub[a].value_counts().sort_index().items()}
    missing = {a: counts[a]["missing"] for a in cfg.attributes}
    findings = findings_of(rep, inter, outcomes, cfg)
    not_judged = [
        {
            "verdict": NOT_JUDGED,
            "check": f"attribute:{a}",
            "text": f"{a}: not judged: {reasons[a]} ({counts[a]['recorded']} of "
            f"{counts[a]['records']} records carry it recorded, {counts[a]['inferred']} "
            "inferred from the text)",
        }
        for a in cfg.attributes
        if reasons[a] is not None
    ]
    not_judged += outcome_not_judged.values()
    failed = [f for f in findings if f["verdict"] == "fail"]
    if not judged:
        # nothing judged: no "every check passed"
        findings = [f for f in findings if f["check"] != "all"]
        if not cfg.attributes:
            not_judged.append(
                {
                    "verdict": NOT_JUDGED,
                    "check": "attributes",
                    "text": "not judged: no attribute is listed (audit_data.attributes is empty)",
                }
            )
        verdict = NOT_JUDGED
    else:
        verdict = "fail" if failed else "pass"
        for f in findings:
            if f["check"] == "all" and not_judged:
                f["text"] = "every judged check passed"
    at = next((i for i, f in enumerate(findings) if f["verdict"] != "fail"), len(findings))
    findings[at:at] = not_judged
    return {
        "verdict": verdict,
        "records": len(df),
        "findings": findings,
        "representation": rep,
        "intersections": inter,
        "outcomes": outcomes,
        "inferred": inferred,
        "missing": missing,
        "attribute_counts": counts,
        "judged_attributes": judged,
        "inferred_rules": {
            a: RULES[a] for a in cfg.attributes if a in cfg.infer_missing and a in RULES
        },
        "judge_inferred": cfg.judge_inferred,
        "thresholds": {
            "min_group_size": cfg.min_group_size,
            "min_representation_ratio": cfg.min_representation_ratio,
            "min_outcome_ratio": cfg.min_outcome_ratio,
            "max_outcome_difference": cfg.max_outcome_difference,
            "ci": cfg.ci,
            "bootstrap": cfg.bootstrap,
        },
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def findings_of(rep, inter, outcomes, cfg: AuditDataConfig) -> list[dict[str, Any]]:
    """Plain-language findings, failures first: what an audit team reads before any table."""
    out = []
    for name, block in [*rep.items(), *inter.items()]:
        if block["verdict"] == NOT_JUDGED:
            continue
        for g, e in block["groups"].items():
            if e["verdict"] == "fail":
                out.append(
                    {
                        "verdict": "fail",
                        "check": f"representation:{name}:{g}",
                        "text": f"{g} ({name}) are {_pct(e['share'])} of records against a "
                        f"{_pct(e['reference'])} reference (ratio {e['ratio']:.2f}, below "
                        f"{cfg.min_representation_ratio})",
                    }
                )
            elif e["verdict"] == "too_small":
                out.append(
                    {
                        "verdict": "too_small",
                        "check": f"representation:{name}:{g}",
                        "text": f"{g} ({name}): only {e['n']} records, fewer than "
                        f"{cfg.min_group_size}: too small to judge",
                    }
                )
    for oname, o in outcomes.items():
        fam = f" in {o['family']} records" if o["family"] else ""
        for attr, res in o["by_attribute"].items():
            if res["verdict"] == NOT_JUDGED:
                continue
            comps = (
                {"mean": res["value"]}
                if res["kind"] == "mean"
                else {f"{o['field']} = {v}": c for v, c in res["values"].items()}
            )
            for label, c in comps.items():
                if c["verdict"] != "fail":
                    continue
                lo_g, hi_g = c["lowest"], c["highest"]
                lo, hi = c["by_group"][lo_g]["value"], c["by_group"][hi_g]["value"]
                if res["kind"] == "mean":
                    what = f"mean {o['field']}{fam} is {lo:.0f} for {lo_g}, {hi:.0f} for {hi_g}"
                else:
                    what = f"{label}{fam}: {_pct(lo)} of {lo_g}, {_pct(hi)} of {hi_g}"
                ratio = f"ratio {c['ratio']:.2f}, below {cfg.min_outcome_ratio}"
                out.append(
                    {
                        "verdict": "fail",
                        "check": f"outcome:{oname}:{attr}:{label}",
                        "text": f"{what} ({ratio}) [{attr}]",
                    }
                )
    if not any(f["verdict"] == "fail" for f in out):
        out.insert(0, {"verdict": "pass", "check": "all", "text": "every check passed"})
    return out
