"""Do counterfactual children resemble their parents? Per audited group and task family.

Two references, two questions:

- the children's **parents** (the records they were made from, one per child): does the
  rewrite keep the text's shape? Judged on the lengths of instruction, input and output (the
  Wasserstein distance of the two length distributions over the parents' mean length, which
  bounds the relative gap of the means), the total variation distance of every label the audit
  reads, the non-empty share of each field and the share of each family;
- the **donor pool** (the original records of the groups the parents come from, in the same
  family): are the parents a fair draw of it, or its tail? Judged on the lengths the same way.
  Labels are not judged against the pool: a label finding is answered by choosing children's
  labels on purpose (:func:`provena.augment.quotas`).

The relative gap of the means and the two-sample Kolmogorov-Smirnov statistic are reported, KS
not judged: a rewrite that adds two characters to every short output (``"sex": "female"`` for
``"male"``) moves every record and gives a large KS for a negligible change.
A family with fewer than ``min_children`` children is "too_small" (reported, not judged).
A group outside a tolerance gets ``verdict: "warn"`` with a line per breach in ``flags``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy.stats import ks_2samp, wasserstein_distance

from provena.config import ResemblanceConfig

#: the text fields whose lengths (in characters) are compared
FIELDS = ("instruction", "input", "output")


def _num(x: float) -> float:
    return round(float(x), 4)


def _shares(s: pd.Series) -> dict[str, float]:
    return {str(k): _num(v) for k, v in s.value_counts(normalize=True).sort_index().items()}


def _tv(a: dict[str, float], b: dict[str, float]) -> float:
    """Total variation distance of two share tables: half the sum of absolute gaps."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _gap(child: float, ref: float) -> float:
    if ref == 0:
        return 0.0 if child == 0 else 1.0
    return abs(child / ref - 1.0)


def _distance(a: pd.Series, ref: pd.Series) -> float:
    """Wasserstein distance of two length samples over the reference's mean length."""
    mean = float(ref.mean())
    d = float(wasserstein_distance(a, ref))
    return d / mean if mean else (0.0 if d == 0 else 1.0)


def _length(kids: pd.Series, parents: pd.Series, pool: pd.Series) -> dict[str, Any]:
    out: dict[str, Any] = {
        "mean": {
            "children": _num(kids.mean()),
            "parents": _num(parents.mean()),
            "pool": _num(pool.mean()) if len(pool) else None,
        },
        "median": {
            "children": _num(kids.median()),
            "parents": _num(parents.median()),
            "pool": _num(pool.median()) if len(pool) else None,
        },
        "distance_parents": _num(_distance(kids, parents)),
        "mean_gap_parents": _num(_gap(kids.mean(), parents.mean())),
        "ks_parents": _num(ks_2samp(kids, parents).statistic),
    }
    if len(pool):
        out["distance_pool"] = _num(_distance(kids, pool))
        out["mean_gap_pool"] = _num(_gap(kids.mean(), pool.mean()))
        out["ks_pool"] = _num(ks_2samp(kids, pool).statistic)
    return out


def check(
    df: pd.DataFrame,
    kids: pd.DataFrame,
    labels: dict[str, list[str]],
    cfg: ResemblanceConfig,
) -> dict[str, Any]:
    """The resemblance report of the counterfactual children in ``kids``.

    ``df``: the input records, one row each (``family``, the attributes, ``<field>_chars`` for
    each of :data:`FIELDS`, the label fields), indexed by row. ``kids``: one row per child with
    the same columns plus ``parent`` (its parent's row in ``df``), ``attribute`` and ``group``
    (the attribute it changes and the value it takes); children of other operations are left
    out by the caller. ``labels``: family -> the label fields the audit reads in it."""
    groups: dict[str, Any] = {}
    for (attr, group), k in kids.groupby(["attribute", "group"], sort=True):
        par = df.loc[k["parent"].to_numpy()]
        entry: dict[str, Any] = {
            "attribute": attr,
            "group": group,
            "children": len(k),
            "families": {},
            "flags": [],
        }
        fam_kids, fam_par = _shares(k["family"]), _shares(par["family"])
        fam_gap = max((abs(fam_kids.get(f, 0) - fam_par.get(f, 0)) for f in fam_par), default=0)
        entry["family_shares"] = {
            "children": fam_kids,
            "parents": fam_par,
            "gap": _num(fam_gap),
        }
        if fam_gap > cfg.max_share_gap:
            entry["flags"].append(f"family shares differ by {fam_gap:.3f}")
        for fam, kf in k.groupby("family", sort=True):
            pf = df.loc[kf["parent"].to_numpy()]
            donor_groups = set(pf[attr])
            pool = df[(df["family"] == fam) & df[attr].isin(donor_groups)]
            block: dict[str, Any] = {
                "children": len(kf),
                "parents": int(kf["parent"].nunique()),
                "pool": len(pool),
                "pool_groups": sorted(str(g) for g in donor_groups),
            }
            entry["families"][fam] = block
            if len(kf) < cfg.min_children:
                block["verdict"] = "too_small"
                continue
            block["lengths"] = {}
            block["labels"] = {}
            block["non_empty"] = {}
            for f in FIELDS:
                col = f"{f}_chars"
                st = _length(kf[col], pf[col], pool[col])
                block["lengths"][f] = st
                if st["distance_parents"] > cfg.max_length_distance:
                    entry["flags"].append(
                        f"{fam} {f}: lengths {st['distance_parents']:.3f} from the parents' "
                        f"(mean {st['mean']['children']:.0f} against {st['mean']['parents']:.0f})"
                    )
                if st.get("distance_pool", 0.0) > cfg.max_length_distance:
                    entry["flags"].append(
                        f"{fam} {f}: lengths {st['distance_pool']:.3f} from the donor pool's "
                        f"(mean {st['mean']['children']:.0f} against {st['mean']['pool']:.0f}): "
                        "the parents are not a fair draw of it"
                    )
                kids_share = float((kf[col] > 0).mean())
                par_share = float((pf[col] > 0).mean())
                gap = abs(kids_share - par_share)
                block["non_empty"][f] = {
                    "children": _num(kids_share),
                    "parents": _num(par_share),
                    "gap": _num(gap),
                }
                if gap > cfg.max_share_gap:
                    entry["flags"].append(f"{fam} {f}: non-empty share differs by {gap:.3f}")
            for field in labels.get(fam, []):
                a, b = _shares(kf[field]), _shares(pf[field])
                tv = _tv(a, b)
                block["labels"][field] = {"children": a, "parents": b, "tv": _num(tv)}
                if tv > cfg.max_share_gap:
                    entry["flags"].append(
                        f"{fam} {field}: distribution differs from the parents' (TV {tv:.3f})"
                    )
            block["verdict"] = "pass"
        judged = [b for b in entry["families"].values() if b["verdict"] != "too_small"]
        if entry["flags"]:
            entry["verdict"] = "warn"
            for fam, b in entry["families"].items():
                if b["verdict"] == "pass" and any(x.startswith(f"{fam} ") for x in entry["flags"]):
                    b["verdict"] = "warn"
        else:
            entry["verdict"] = "pass" if judged else "too_small"
        groups[f"{attr}={group}"] = entry
    verdicts = {g["verdict"] for g in groups.values()}
    return {
        "verdict": "warn" if "warn" in verdicts else "pass",
        "tolerance": cfg.model_dump(),
        "groups": groups,
    }
