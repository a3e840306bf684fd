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
#: a check whose confidence interval crosses its threshold: the data cannot tell pass from fail
INCONCLUSIVE = "inconclusive"


def build_frame(records: Iterable[Record], cfg: AuditDataConfig) -> pd.DataFrame:
    """One row per record: id, family, the attributes (recorded or inferred), outcome fields."""
    fields = list(dict.fromkeys(o.field for o in cfg.outcomes if o.field not in NUMERIC_FIELDS))
    # a list per column, not a dict per row, and each repeated value (a group, a label) one
    # shared string: a few dozen bytes a record, where row dicts took about a kilobyte
    names = ["id", "family", "augmented", "output_chars", "input_chars"]
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
        cols["augmented"].append(rec.get("parent_id") is not None)  # a child of augment
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
    """Each row's group: its value of the attribute, or of each (joined by " & ")."""
    if len(attrs) == 1:
        return df[attrs[0]]
    out = df[attrs[0]].astype(str)
    for a in attrs[1:]:  # column-wise string concatenation, not a Python join per row
        out = out + " & " + df[a].astype(str)
    return out


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


def reference_sources(cfg: AuditDataConfig) -> dict[str, dict[str, Any]]:
    """Per audited attribute: its reference shares ("parity" when params give none), the params
    key, whether params set it or it is the default, and where the shares come from (params
    ``audit_data.reference_source``); an intersection's reference is the product of these."""
    set_in = "params" if "reference" in cfg.model_fields_set else "default"
    out = {}
    for a in cfg.attributes:
        key = f"audit_data.reference.{a}"
        if a not in cfg.reference:
            out[a] = {
                "shares": "parity",
                "key": key,
                "set_in": "default",
                "source": "parity: equal shares of the groups present (no reference given)",
            }
            continue
        out[a] = {
            "shares": cfg.reference[a],
            "key": key,
            "set_in": set_in,
            "source": cfg.reference_source.get(a)
            or f"no source given (audit_data.reference_source.{a} is not set)",
        }
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


def _split_counts(data: pd.DataFrame, groups: pd.Series) -> dict[str, dict[str, int]]:
    """Per group: records that are original, and records augment made (``parent_id`` set)."""
    aug = data["augmented"].to_numpy(dtype=bool)
    out: dict[str, dict[str, int]] = {}
    sizes = groups.value_counts()
    for g, n_aug in pd.Series(aug, index=groups.index).groupby(groups.to_numpy()).sum().items():
        n = int(sizes[g])
        out[str(g)] = {"original": n - int(n_aug), "augmented": int(n_aug)}
    return out


def _rep_verdict(ci: list[float], ref: float, cfg: AuditDataConfig) -> str:
    """pass or fail when the share's whole interval is on one side of ``min_representation_ratio``
    x the reference; inconclusive when the interval crosses it."""
    line = cfg.min_representation_ratio * ref
    if ci[1] < line:
        return "fail"
    if ci[0] >= line:
        return "pass"
    return INCONCLUSIVE


def representation(
    df: pd.DataFrame, attrs: list[str], cfg: AuditDataConfig, split: bool = False
) -> dict[str, Any]:
    data = _recorded(df, attrs, cfg.judge_inferred)
    groups = _groups(data, attrs)
    counts = groups.value_counts().sort_index()
    n = int(counts.sum())
    ref = _reference(cfg, attrs, list(counts.index))
    parts = _split_counts(data, groups) if split else {}
    out: dict[str, Any] = {}
    for g, c in counts.items():
        share = c / n if n else 0.0
        r = ref.get(g, 0.0)
        small = int(c) < cfg.min_group_size
        ratio = share / r if r else None
        ci = wilson(int(c), n, cfg.ci)
        point = None
        if small:
            verdict = "too_small"
        elif ratio is None:
            verdict = "no_reference"
        else:
            point = "pass" if ratio >= cfg.min_representation_ratio else "fail"
            verdict = _rep_verdict(ci, r, cfg)
        out[str(g)] = {
            "n": int(c),
            "share": round(share, 4),
            "ci": ci,
            "reference": round(r, 4),
            "ratio": None if ratio is None else round(ratio, 4),
            "verdict": verdict,
        }
        if point is not None:
            out[str(g)]["point"] = point
        if split:
            out[str(g)].update(parts.get(str(g), {"original": int(c), "augmented": 0}))
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
                    "point": "fail",
                }
                if split:
                    out[g].update({"original": 0, "augmented": 0})
    return {
        "attributes": attrs,
        "records": n,
        "groups": out,
        "verdict": _worst(e["verdict"] for e in out.values()),
    }


def _worst(verdicts: Iterable[str]) -> str:
    """fail if any check fails, else inconclusive if any is, else pass."""
    seen = set(verdicts)
    return "fail" if "fail" in seen else INCONCLUSIVE if INCONCLUSIVE in seen else "pass"


def _group_means(
    columns: dict[str, np.ndarray], groups: np.ndarray, n_boot: int, cfg: AuditDataConfig
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Each group's mean of each column, and (``n_boot`` > 0) its bootstrap interval.

    Returns the groups (sorted), the means per column (one per group, in that order) and the
    intervals per column (an array of shape (groups, 2)), or None without a bootstrap.

    The means are fairlearn's :class:`~fairlearn.metrics.MetricFrame` over the distinct rows
    (group, values), each weighted by how many records it stands for (``sample_weight``): the
    same group means as over every record, from a few hundred rows instead of every record.

    The intervals are fairlearn's bootstrap (``MetricFrame(n_boot=..., ci_quantiles=...,
    random_state=cfg.seed)``) done on arrays: the same resamples, drawn the way fairlearn draws
    them (a seed per resample from ``default_rng(seed)``, then ``DataFrame.sample(frac=1,
    replace=True)``, which is ``RandomState(seed).randint(0, n, n)``), each reduced to counts
    per distinct row by one ``bincount`` instead of a metric call per group and resample; the
    quantiles as fairlearn takes them (``nanquantile`` over the resamples). Where the values
    are whole numbers (0/1 shares, lengths) every sum is exact, so the intervals are fairlearn's
    to the last bit; other values may differ in their last bits (another summation order)."""
    from fairlearn.metrics import MetricFrame

    names = list(columns)
    codes, labels = pd.factorize(groups, sort=True)
    # each record's distinct row (group, values): codes combined column by column, renumbered
    # after each so that they stay small (hash-based, no sort)
    row_of = codes.astype(np.int64)
    for name in names:
        vcode, uniq = pd.factorize(columns[name], use_na_sentinel=False)
        row_of = pd.factorize(row_of * len(uniq) + vcode)[0]
    n_rows = int(row_of.max()) + 1
    one = np.empty(n_rows, dtype=np.int64)
    one[row_of] = np.arange(len(row_of))  # a record of each distinct row (any: they are equal)
    weight = np.bincount(row_of, minlength=n_rows)
    row_group = codes[one].astype(np.int64)
    values = np.column_stack([columns[name][one] for name in names])

    def mean_of(j: int):
        def metric(y_true, y_pred, sample_weight):  # y_pred is not used: data properties
            picked = np.asarray(y_true, dtype=np.int64)
            return float(np.average(values[picked, j], weights=sample_weight))

        return metric

    index = np.arange(n_rows)
    mf = MetricFrame(
        metrics={name: mean_of(j) for j, name in enumerate(names)},
        y_true=index,
        y_pred=index,
        sensitive_features=np.asarray(labels, dtype=object)[row_group],
        sample_params={name: {"sample_weight": weight} for name in names},
    )
    order = [str(g) for g in labels]
    means = {name: mf.by_group[name].reindex(labels).to_numpy(dtype=float) for name in names}
    if not n_boot:
        return order, means, None
    n, n_groups = len(codes), len(labels)
    seeds = np.random.default_rng(cfg.seed).integers(
        low=0, high=np.iinfo(np.uint32).max, size=n_boot, dtype=np.uint32
    )
    stats = np.empty((n_boot, n_groups, len(names)))
    for i, seed in enumerate(seeds):
        drawn = np.random.RandomState(seed).randint(0, n, size=n)
        per_row = np.bincount(row_of[drawn], minlength=n_rows)
        size = np.bincount(row_group, weights=per_row, minlength=n_groups)
        for j in range(len(names)):
            total = np.bincount(row_group, weights=per_row * values[:, j], minlength=n_groups)
            with np.errstate(invalid="ignore", divide="ignore"):  # a group not drawn: NaN
                stats[i, :, j] = np.where(size > 0, total / size, np.nan)
    lo, hi = (1 - cfg.ci) / 2, 1 - (1 - cfg.ci) / 2
    q = np.nanquantile(stats, [lo, hi], axis=0)  # (2, groups, columns)
    cis = {name: np.stack([q[0, :, j], q[1, :, j]], axis=1) for j, name in enumerate(names)}
    return order, means, cis


def _wilson_raw(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _pair_ci(
    x: np.ndarray, best: np.ndarray, level: float, binary: bool
) -> tuple[list[float], list[float]]:
    """Intervals of mean(x) / mean(best) and mean(best) - mean(x) at confidence ``level``.

    Shares (a 0/1 column): the ratio by the Katz log method (half a record added to each count
    when one is zero), the difference by Newcombe's hybrid score method (from the two Wilson
    intervals). Means: both by the delta method (normal approximation), each group's variance
    its own."""
    z = _z(level)
    nx, nb = len(x), len(best)
    mx, mb = float(x.mean()), float(best.mean())
    if binary:
        kx, kb = float(x.sum()), float(best.sum())
        lx, ux = _wilson_raw(kx, nx, z)
        lb, ub = _wilson_raw(kb, nb, z)
        d = mb - mx
        dci = [d - math.hypot(mb - lb, ux - mx), d + math.hypot(ub - mb, mx - lx)]
        if kx == 0 or kb == 0:
            kx, kb, nx, nb = kx + 0.5, kb + 0.5, nx + 1, nb + 1
        log_r = math.log((kx / nx) / (kb / nb))
        se = math.sqrt(max(0.0, 1 / kx - 1 / nx + 1 / kb - 1 / nb))
        rci = [math.exp(log_r - z * se), math.exp(log_r + z * se)]
    else:
        vx = float(x.var(ddof=1)) / nx if nx > 1 else math.inf
        vb = float(best.var(ddof=1)) / nb if nb > 1 else math.inf
        d = mb - mx
        half = z * math.sqrt(vx + vb)
        dci = [d - half, d + half]
        if mb > 0:
            r = mx / mb
            se = math.sqrt(vx / mb**2 + (r**2) * vb / mb**2)
            rci = [max(0.0, r - z * se), r + z * se]
        else:
            rci = [0.0, math.inf]
    return [_round4(v) for v in rci], [_round4(v) for v in dci]


def _round4(v: float) -> float:
    return round(v, 4) if math.isfinite(v) else 1e9


def _judge(
    ratio: float | None,
    diff: float,
    rci: list[float] | None,
    dci: list[float] | None,
    is_share: bool,
    cfg: AuditDataConfig,
) -> tuple[str, str]:
    """(verdict, verdict on the point estimate) of one group against the best. A share fails
    with a ratio below ``min_outcome_ratio`` and a gap above ``max_outcome_difference``; a mean
    on its ratio alone. With intervals, a verdict is fail or pass only when the whole interval
    is on that side of the thresholds: otherwise inconclusive."""
    low = ratio is not None and ratio < cfg.min_outcome_ratio
    point = "fail" if low and ((not is_share) or diff > cfg.max_outcome_difference) else "pass"
    if rci is None or dci is None:
        return point, point
    r, d = cfg.min_outcome_ratio, cfg.max_outcome_difference
    if rci[1] < r and ((not is_share) or dci[0] > d):
        return "fail", point
    if rci[0] >= r or (is_share and dci[1] <= d):
        return "pass", point
    return INCONCLUSIVE, point


_RANK = {"fail": 0, INCONCLUSIVE: 1, "pass": 2}


def _compare(
    columns: dict[str, np.ndarray],
    groups: pd.Series,
    cfg: AuditDataConfig,
    is_share: bool,
    judge: bool,
    augmented: np.ndarray | None = None,
    group_ci: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per property: by-group values (intervals when judged), difference and ratio between
    the groups large enough to judge, and a verdict.

    Each judged group is compared with the best one (the highest value): its ratio and
    difference, with intervals (:func:`_pair_ci`) and a verdict (:func:`_judge`). The
    property's verdict is the worst of its groups'; ``worst`` names that group. Given
    ``augmented`` (one flag per row), each group's value is also given for its original and its
    augmented records apart. ``group_ci`` false skips the per-group bootstrap intervals, not
    the verdicts' intervals."""
    sizes = groups.value_counts()
    big = [str(g) for g in sizes[sizes >= cfg.min_group_size].index]
    small = {str(g): int(n) for g, n in sizes.items() if n < cfg.min_group_size}
    codes, labels = pd.factorize(groups.to_numpy())
    # each group's rows, found once by integer code (not a string comparison per use)
    rows_of = {str(g): codes == k for k, g in enumerate(labels)}
    out: dict[str, dict[str, Any]] = {}
    for name, col in columns.items():
        res: dict[str, Any] = {"by_group": {}, "too_small": small}
        for g in sorted(small):
            value = float(col[rows_of[g]].mean())
            res["by_group"][g] = {"value": round(value, 4), "n": small[g]}
        out[name] = res
    if len(big) >= 2:
        mask = groups.isin(big).to_numpy()
        sub = {name: col[mask] for name, col in columns.items()}
        boot = cfg.bootstrap if (judge and group_ci) else 0
        order, values, cis = _group_means(sub, groups.to_numpy()[mask], boot, cfg)
        for name, res in out.items():
            for k, g in enumerate(order):
                entry: dict[str, Any] = {
                    "value": round(float(values[name][k]), 4),
                    "n": int(sizes[g]),
                }
                if cis is not None:
                    entry["ci"] = [
                        round(float(cis[name][k, 0]), 4),
                        round(float(cis[name][k, 1]), 4),
                    ]
                res["by_group"][g] = entry
    for name, res in out.items():
        col = columns[name]
        if augmented is not None:
            for g, entry in res["by_group"].items():
                in_g = rows_of[g]
                for part, flag in (("original", False), ("augmented", True)):
                    vals = col[in_g & (augmented == flag)]
                    entry[part] = {
                        "n": len(vals),
                        "value": round(float(vals.mean()), 4) if len(vals) else None,
                    }
        if len(big) < 2:
            res.update({"difference": None, "ratio": None, "verdict": "too_small"})
            continue
        means = {g: float(col[rows_of[g]].mean()) for g in big}
        best = max(means, key=means.__getitem__)
        low = min(means, key=means.__getitem__)
        res["highest"], res["lowest"] = best, low
        res["difference"] = round(means[best] - means[low], 4)
        res["ratio"] = round(means[low] / means[best], 4) if means[best] else None
        if not judge:
            res["verdict"] = "not_checked"
            continue
        x_best = col[rows_of[best]]
        # each group is compared with the best: Bonferroni over those comparisons, so that a
        # confident "fail" is not the noise of many small groups
        level = 1 - (1 - cfg.ci) / (len(big) - 1)
        res["level"] = round(level, 4)
        verdicts: dict[str, tuple[str, str]] = {}
        for g in sorted(big):
            if g == best:
                continue
            ratio = means[g] / means[best] if means[best] else None
            diff = means[best] - means[g]
            rci = dci = None
            if means[best]:  # every group at zero: no gap to judge, a pass
                rci, dci = _pair_ci(col[rows_of[g]], x_best, level, binary=is_share)
            verdict, point = _judge(ratio, diff, rci, dci, is_share, cfg)
            verdicts[g] = (verdict, point)
            vs = {"ratio": None if ratio is None else round(ratio, 4), "difference": round(diff, 4)}
            if rci is not None:
                vs.update({"ratio_ci": rci, "difference_ci": dci})
            res["by_group"][g]["vs_highest"] = {**vs, "verdict": verdict}
        top = means[best] or 1.0
        worst = min(verdicts, key=lambda g: (_RANK[verdicts[g][0]], means[g] / top))
        res["worst"] = worst
        vs = res["by_group"][worst]["vs_highest"]
        if "ratio_ci" in vs:
            res["ratio_ci"], res["difference_ci"] = vs["ratio_ci"], vs["difference_ci"]
        res["verdict"] = _worst(v for v, _ in verdicts.values())
        res["point"] = _worst(p for _, p in verdicts.values())
    return out


def outcome(
    df: pd.DataFrame,
    spec: OutcomeSpec,
    attrs: list[str],
    cfg: AuditDataConfig,
    judge: bool,
    *,
    split: bool = False,
    group_ci: bool = True,
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
        aug = data["augmented"].to_numpy(dtype=bool)[ok] if split else None
        res = _compare(
            {"mean": values[ok]},
            groups[ok].reset_index(drop=True),
            cfg,
            False,
            judge,
            aug,
            group_ci,
        )
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
        aug = data["augmented"].to_numpy(dtype=bool) if split else None
        out["values"] = _compare(cols, groups, cfg, True, judge, aug, group_ci)
        checks = list(out["values"].values())
    judged = [c["verdict"] for c in checks if c["verdict"] in _RANK]
    if judged:
        out["verdict"] = _worst(judged)
    elif any(c["verdict"] == "not_checked" for c in checks):
        out["verdict"] = "not_checked"
    else:
        out["verdict"] = "too_small"
    return out


def _not_judged(attrs: list[str], records: int, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        "attributes": attrs,
        "records": records,
        **extra,
        "verdict": NOT_JUDGED,
        "reason": reason,
    }


def audit(df: pd.DataFrame, cfg: AuditDataConfig, *, group_ci: bool = True) -> dict[str, Any]:
    """The whole audit of one table, as plain JSON-able data.

    Where the table holds records augment made (``augmented``), every group row also counts
    its original and augmented records (and outcome rows give each part's value), ``synthetic``
    gives the augmented share per group, and ``original_records`` holds the audit of the
    original records alone: its verdict sits beside this one, which is the verdict on the
    training distribution. ``group_ci`` false skips fairlearn's per-group intervals (slow),
    not the intervals the verdicts use."""
    split = bool(len(df)) and "augmented" in df and bool(df["augmented"].any())
    counts = {a: attribute_counts(df, a) for a in cfg.attributes}
    reasons = {a: judgeable(df, a, cfg) for a in cfg.attributes}
    judged = [a for a in cfg.attributes if reasons[a] is None]

    def why(attrs: list[str]) -> str | None:
        off = [a for a in attrs if reasons[a] is not None]
        return "; ".join(str(reasons[a]) for a in off) if off else None

    def rep_of(attrs: list[str]) -> dict[str, Any]:
        reason = why(attrs)
        if reason is None:
            return representation(df, attrs, cfg, split)
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
                outcome(df, spec, combo, cfg, judge=judge, split=split, group_ci=group_ci)
                if reason is None
                else _not_judged(combo, 0, reason, kind=spec.kind)
            )
            if res["verdict"] == "not_checked":  # the page says why
                res["reason"] = (
                    f"outcome {spec.name} has check: false in audit_data.outcomes"
                    if not spec.check
                    else "audit_data.check_intersection_outcomes is false: outcomes per "
                    "intersection are shown, not judged"
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
        verdict = _worst(f["verdict"] for f in findings if f["verdict"] in _RANK)
        for f in findings:
            if f["check"] == "all" and not_judged:
                f["text"] = f["text"].replace("every check", "every judged check")
    findings += not_judged
    findings.sort(key=lambda f: -1 if f["check"] == "all" else FINDING_ORDER.get(f["verdict"], 9))
    result: dict[str, Any] = {
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
        "reference_sources": reference_sources(cfg),
        "thresholds": {
            "min_group_size": cfg.min_group_size,
            "min_representation_ratio": cfg.min_representation_ratio,
            "min_outcome_ratio": cfg.min_outcome_ratio,
            "max_outcome_difference": cfg.max_outcome_difference,
            "ci": cfg.ci,
            "bootstrap": cfg.bootstrap,
            "check_intersection_outcomes": cfg.check_intersection_outcomes,
        },
    }
    if split:
        original = df[~df["augmented"].to_numpy(dtype=bool)].reset_index(drop=True)
        sub = audit(original, cfg, group_ci=False)
        result["verdict_scope"] = "training distribution"
        result["synthetic"] = synthetic_shares(df, cfg)
        result["original_records"] = {
            "records": sub["records"],
            "verdict": sub["verdict"],
            "findings": sub["findings"],
            "checks": check_verdicts(sub),
        }
    return result


#: findings in the order an audit team reads them
FINDING_ORDER = {"fail": 0, INCONCLUSIVE: 1, NOT_JUDGED: 2, "pass": 3, "too_small": 4}


def synthetic_shares(df: pd.DataFrame, cfg: AuditDataConfig) -> dict[str, Any]:
    """How much of each group augment made: per attribute (recorded values) and intersection,
    the group's records, those with a ``parent_id``, and their share."""
    aug = df["augmented"].to_numpy(dtype=bool)
    out: dict[str, Any] = {
        "records": len(df),
        "augmented": int(aug.sum()),
        "share": round(float(aug.mean()), 4) if len(df) else 0.0,
        "by_attribute": {},
    }
    for attrs in [[a] for a in cfg.attributes] + [list(c) for c in cfg.intersections]:
        data = _recorded(df, attrs, cfg.judge_inferred)
        if data.empty:
            continue
        groups = _groups(data, attrs)
        flags = pd.Series(data["augmented"].to_numpy(dtype=bool), index=groups.index)
        per = flags.groupby(groups.to_numpy()).agg(["size", "sum"]).sort_index()
        out["by_attribute"][" x ".join(attrs)] = {
            str(g): {
                "records": int(r["size"]),
                "augmented": int(r["sum"]),
                "share": round(int(r["sum"]) / int(r["size"]), 4),
            }
            for g, r in per.iterrows()
        }
    return out


def _comparisons(outcome: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    """An outcome's judged comparisons for one attribute, by label: its mean, or one per value
    of the outcome field ('resolution = refund')."""
    if res["kind"] == "mean":
        return {"mean": res["value"]}
    return {f"{outcome['field']} = {v}": c for v, c in res["values"].items()}


def check_verdicts(result: dict[str, Any]) -> dict[str, str]:
    """Every judged check of an audit by its id (the ``check`` of its finding) -> verdict."""
    out: dict[str, str] = {}
    for name, block in [*result["representation"].items(), *result["intersections"].items()]:
        for g, e in block.get("groups", {}).items():
            if e["verdict"] in _RANK:
                out[f"representation:{name}:{g}"] = e["verdict"]
    for oname, o in result["outcomes"].items():
        for attr, res in o["by_attribute"].items():
            if res["verdict"] == NOT_JUDGED:
                continue
            for label, c in _comparisons(o, res).items():
                if c["verdict"] in _RANK:
                    out[f"outcome:{oname}:{attr}:{label}"] = c["verdict"]
    return out


#: what a finding's status says about it, against the audit before augmentation
STATUSES = {
    "resolved_by_augmentation": "resolved by augmentation",
    "persisting": "persisting",
    "new": "new",
}


def with_status(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``after`` with each failing or inconclusive finding given a status against ``before``
    (``persisting`` when it failed or was inconclusive there too, else ``new``), and a
    ``resolved_by_augmentation`` finding for each check that failed or was inconclusive before
    and passes now. Where ``after`` holds augmented records, each also says its verdict in the
    original records alone (``in_original_records``): a gap augmentation closed in the training
    distribution persists in the records it was given."""
    bad = {"fail", INCONCLUSIVE}
    was = check_verdicts(before)
    now = check_verdicts(after)
    orig = (after.get("original_records") or {}).get("checks")
    orig_text = {
        f["check"]: f["text"] for f in (after.get("original_records") or {}).get("findings", [])
    }
    for f in after["findings"]:
        if f["verdict"] in bad and f["check"] != "all":
            f["status"] = "persisting" if was.get(f["check"]) in bad else "new"
            if orig is not None:
                f["in_original_records"] = orig.get(f["check"])
    resolved = []
    for f in before.get("findings", []):
        if f["verdict"] not in bad or now.get(f["check"]) != "pass":
            continue
        entry = {
            "verdict": "pass",
            "check": f["check"],
            "status": "resolved_by_augmentation",
            "text": f"resolved by augmentation: before, {f['text']}",
        }
        if orig is not None:
            entry["in_original_records"] = orig.get(f["check"])
            if orig.get(f["check"]) in bad:
                there = orig_text.get(f["check"], "")
                entry["text"] += "; in the original records alone it persists" + (
                    ", unchanged" if there == f["text"] else f": {there}"
                )
        resolved.append(entry)
    at = next(
        (i for i, f in enumerate(after["findings"]) if FINDING_ORDER.get(f["verdict"], 9) > 2),
        len(after["findings"]),
    )
    after["findings"][at:at] = resolved
    return after


def attribute_summary(result: dict[str, Any]) -> dict[str, str]:
    """One line per attribute and intersection of an audit of augmented data: its verdict on
    the training distribution and on the original records, the machine-made share of each
    group, and (given statuses) how many findings augmentation resolved, left or made."""
    now = check_verdicts(result)
    orig = (result.get("original_records") or {}).get("checks") or {}
    synthetic = (result.get("synthetic") or {}).get("by_attribute", {})
    out = {}
    for name in [*result["representation"], *result["intersections"]]:

        def worst(checks: dict[str, str], name: str = name) -> str:
            mine = [
                v for k, v in checks.items() if k.split(":")[2 if k.startswith("o") else 1] == name
            ]
            return _worst(mine) if mine else NOT_JUDGED

        line = f"{name}: {worst(now)} on the training distribution"
        if orig:
            line += f", {worst(orig)} on the original records"
        shares = synthetic.get(name)
        if shares:
            parts = ", ".join(f"{g} {_pct(e['share'])}" for g, e in shares.items())
            line += f"; machine-made share: {parts}"
        statuses: dict[str, int] = {}
        for f in result["findings"]:
            check = f["check"].split(":")
            if (
                f.get("status")
                and len(check) > 2
                and check[2 if check[0] == "outcome" else 1] == name
            ):
                statuses[f["status"]] = statuses.get(f["status"], 0) + 1
        if statuses:
            said = ", ".join(f"{n} {STATUSES[s]}" for s, n in sorted(statuses.items()))
            line += f"; findings against the before-audit: {said}"
        out[name] = line
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _ci_text(ci: list[float] | None, pct: bool = False) -> str:
    if not ci:
        return ""
    lo, hi = (_pct(ci[0]), _pct(ci[1])) if pct else (f"{ci[0]:.2f}", f"{ci[1]:.2f}")
    return f", CI {lo}-{hi}"


def findings_of(rep, inter, outcomes, cfg: AuditDataConfig) -> list[dict[str, Any]]:
    """Plain-language findings, failures first: what an audit team reads before any table.

    An inconclusive check (its interval crosses the threshold) is a finding of its own."""
    out = []
    r_min = cfg.min_representation_ratio
    for name, block in [*rep.items(), *inter.items()]:
        if block["verdict"] == NOT_JUDGED:
            continue
        for g, e in block["groups"].items():
            if e["verdict"] in ("fail", INCONCLUSIVE):
                said = (
                    f"ratio {e['ratio']:.2f}, below {r_min}"
                    if e["verdict"] == "fail"
                    else f"ratio {e['ratio']:.2f}; the interval of the share "
                    f"{_pct(e['ci'][0])}-{_pct(e['ci'][1])} crosses {r_min} x the reference: "
                    "inconclusive"
                )
                out.append(
                    {
                        "verdict": e["verdict"],
                        "check": f"representation:{name}:{g}",
                        "text": f"{g} ({name}) are {_pct(e['share'])} of records against a "
                        f"{_pct(e['reference'])} reference ({said})",
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
            for label, c in _comparisons(o, res).items():
                if c["verdict"] not in ("fail", INCONCLUSIVE):
                    continue
                lo_g, hi_g = c["worst"], c["highest"]
                lo, hi = c["by_group"][lo_g]["value"], c["by_group"][hi_g]["value"]
                vs = c["by_group"][lo_g]["vs_highest"]
                if res["kind"] == "mean":
                    what = f"mean {o['field']}{fam} is {lo:.0f} for {lo_g}, {hi:.0f} for {hi_g}"
                else:
                    what = f"{label}{fam}: {_pct(lo)} of {lo_g}, {_pct(hi)} of {hi_g}"
                if c["verdict"] == "fail":
                    said = f"ratio {vs['ratio']:.2f}{_ci_text(vs.get('ratio_ci'))}, below "
                    said += str(cfg.min_outcome_ratio)
                else:
                    said = f"ratio {vs['ratio']:.2f}{_ci_text(vs.get('ratio_ci'))}"
                    if res["kind"] != "mean":
                        said += f", gap {vs['difference']:.3f}"
                        said += _ci_text(vs.get("difference_ci"))
                    said += f": the interval crosses {cfg.min_outcome_ratio}"
                    if res["kind"] != "mean":
                        said += f" or {cfg.max_outcome_difference}"
                    said += ", inconclusive"
                out.append(
                    {
                        "verdict": c["verdict"],
                        "check": f"outcome:{oname}:{attr}:{label}",
                        "text": f"{what} ({said}) [{attr}]",
                    }
                )
    if not any(f["verdict"] in ("fail", INCONCLUSIVE) for f in out):
        out.insert(0, {"verdict": "pass", "check": "all", "text": "every check passed"})
    elif not any(f["verdict"] == "fail" for f in out):
        n = sum(f["verdict"] == INCONCLUSIVE for f in out)
        out.insert(
            0,
            {
                "verdict": INCONCLUSIVE,
                "check": "all",
                "text": f"no check failed; {n} inconclusive (an interval crosses its threshold)",
            },
        )
    return out
