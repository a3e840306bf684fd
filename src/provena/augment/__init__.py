"""augment: mitigate what the "before" audit found, and add controlled variety.

Counterfactual children are planned from the audit's failed checks (:func:`plan`):

- a group under-represented against its reference (women at 27% against 49.5%) gets children
  made from records of the attribute's largest group, rewritten as if about a member of the
  named group (:meth:`Counterfactual.gender_swap`: pronouns, gendered terms, first names, the
  ``sex`` of an extraction output), until its share reaches ``target`` x its reference;
- a group whose outcome shares differ (support replies that decline women 24% of the time and
  men 11%) gets children whose outcomes are chosen, value by value, so that after augmentation
  the group's distribution matches the largest group's (:func:`quotas`);
- a group whose mean differs (replies to customers aged 65+ shorter) gets children from the
  other groups' records, relabelled to the group: the same conversation, had the customer been
  65 or older (the text has no age cue to change, so each such child also has its people,
  places and companies swapped, so it is not a copy). The donors are a fair top slice of the
  other groups' records (:func:`_fair_tail`), not their longest ones.

After the children are made, :func:`provena.augment.resemble.check` compares the
counterfactual children of each group with their parents and with the pool they came from
(lengths, labels, non-empty fields, families) and flags a group outside
``augment.resemblance``'s tolerances.

Every child carries ``parent_id`` and ``op`` (``counterfactual:gender=female``,
``counterfactual:age_band=65+``, ``entity_swap``, ``noise``) and a ledger line with the audit
finding it answers. New records are capped at ``max_new_share`` of the input. A clinical note
whose diagnoses are sex-specific is never given another sex. Everything is deterministic.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from provena.config import AuditDataConfig, AugmentConfig
from provena.group_audit import MISSING, NUMERIC_FIELDS, build_frame
from provena.io import LinesWriter, RecordWriter, atomic_path, read_records, write_json
from provena.progress import progress
from provena.records import (
    RECORD_SCHEMA,
    LedgerLine,
    Record,
    StageResult,
    StageStats,
    from_row,
    ledger_line,
    make_record,
    stage_metrics,
    to_row,
)

if TYPE_CHECKING:
    from provena.counterfactual import Counterfactual

STAGE = "augment"
#: records turned into Arrow rows together (input batches, children)
CHUNK = 5_000
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Child:
    parent: int  # row of the parent in the input
    op: str  # counterfactual:gender=female, counterfactual:age_band=65+, entity_swap, noise
    attribute: str | None = None
    target: str | None = None
    reason: str = ""


def _order(ids: pd.Series, seed: int, salt: str) -> list[int]:
    """Rows in a deterministic pseudo-random order (by a hash of id, seed and salt)."""
    keys = [hashlib.sha256(f"{seed}:{salt}:{i}".encode()).digest()[:8] for i in ids]
    return [r for _, r in sorted(zip(keys, ids.index, strict=True))]


def quotas(current: Counter, target_dist: dict[str, float], n_now: int, n_new: int) -> Counter:
    """How many of ``n_new`` children should carry each value so that the group's distribution
    after augmentation matches ``target_dist`` as closely as non-negative counts allow."""
    want = {v: max(0.0, p * (n_now + n_new) - current.get(v, 0)) for v, p in target_dist.items()}
    total = sum(want.values())
    if total <= 0:
        want, total = dict(target_dist), 1.0
    scaled = {v: n_new * w / total for v, w in want.items()}
    out = Counter({v: math.floor(x) for v, x in scaled.items()})
    for v, _ in sorted(scaled.items(), key=lambda kv: kv[1] - math.floor(kv[1]), reverse=True):
        if sum(out.values()) >= n_new:
            break
        out[v] += 1
    return out


def _point_fails(c: dict[str, Any]) -> bool:
    """A check whose point estimate fails (its verdict fail, or inconclusive: the interval
    crosses the threshold). Augment answers these for each attribute."""
    return c.get("point", c["verdict"]) == "fail"


def _failed(audit: dict[str, Any]) -> tuple[dict, dict, list]:
    """(attribute -> failing groups with reason) for representation and for outcomes, and the
    intersection outcomes that fail with confidence (their interval wholly below the
    threshold: an intersection's groups are small, and a gap in its point estimates alone is
    often noise)."""
    rep: dict[str, dict[str, str]] = defaultdict(dict)
    for attr, block in audit["representation"].items():
        for g, e in block["groups"].items():
            if _point_fails(e):
                rep[attr][g] = (
                    f"{g} are {100 * e['share']:.1f}% of records against a "
                    f"{100 * e['reference']:.1f}% reference"
                )
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    inter: list[dict[str, Any]] = []
    for name, o in audit["outcomes"].items():
        for attr, res in o["by_attribute"].items():
            if res["verdict"] == "not_judged":  # nothing judged: nothing to mitigate
                continue
            comps = [res["value"]] if res["kind"] == "mean" else list(res["values"].values())
            entry = {
                "name": name,
                "kind": res["kind"],
                "field": o["field"],
                "family": o["family"],
                "res": res,
            }
            if attr not in audit["representation"]:  # an intersection
                fails = [c for c in comps if c["verdict"] == "fail"]
                inter += [{**entry, "attrs": res["attributes"], "comp": c} for c in fails]
            elif any(_point_fails(c) for c in comps):
                out[attr].append(entry)
    return rep, out, inter


def plan(
    df: pd.DataFrame,
    audit: dict[str, Any],
    acfg: AuditDataConfig,
    cfg: AugmentConfig,
    can_swap: pd.Series,
    rounds: int = 4,
) -> list[Child]:
    """The counterfactual children that answer the audit's failed checks, deterministically.

    Children for one group move the others' numbers (65+ children make 45-64 rarer; female
    children from male records carry those records' ages), so planning is done in rounds: the
    audit is recomputed on the data as it would be with the children planned so far, and the
    next round answers what still fails. Donors are always original records.
    """
    from provena.group_audit import audit as run_audit

    children: list[Child] = []
    quick = acfg.model_copy(update={"bootstrap": 0})
    for _round in range(rounds):
        log.info("augment: planning round %d", _round + 1)
        proj = _project(df, children)
        more = _plan_round(df, proj, audit, acfg, cfg, can_swap, children)
        if not more:
            break
        children += more
        audit = run_audit(_project(df, children), quick)
        if audit["verdict"] == "pass":
            break
    return children


def _project(df: pd.DataFrame, children: list[Child]) -> pd.DataFrame:
    """The frame as it would be with ``children`` added (a child: its parent's row with the
    attribute it changes set to its target)."""
    if not children:
        return df
    rows = df.loc[[c.parent for c in children]].copy()
    rows.index = range(len(df), len(df) + len(children))
    for attr in {c.attribute for c in children if c.attribute}:
        mask = [c.attribute == attr for c in children]
        rows.loc[rows.index[mask], attr] = [c.target for c in children if c.attribute == attr]
    return pd.concat([df, rows])


def _plan_round(df, proj, audit, acfg, cfg, can_swap, done: list[Child]) -> list[Child]:
    rep_fail, out_fail, inter_fail = _failed(audit)
    used: dict[str, set[int]] = defaultdict(set)
    for c in done:
        used[c.op].add(c.parent)
    children: list[Child] = []
    for attr in cfg.attributes:
        if attr not in acfg.attributes:
            continue
        recorded = proj[(proj[attr] != MISSING) & ~proj[f"{attr}_inferred"].astype(bool)]
        if recorded.empty:
            continue
        largest = recorded[attr].value_counts().idxmax()
        groups = set(rep_fail.get(attr, {}))
        mean_fail: dict[str, list[dict[str, Any]]] = defaultdict(list)
        label_fail: dict[str, set[str]] = defaultdict(set)
        for f in out_fail.get(attr, []):
            if f["kind"] == "mean":
                c = f["res"]["value"]
                if _point_fails(c):
                    groups.add(c["lowest"])
                    mean_fail[c["lowest"]].append(f)
            else:
                for c in f["res"]["values"].values():
                    if _point_fails(c):  # the largest group is the yardstick
                        for end in {c["lowest"], c["highest"]} - {largest}:
                            groups.add(end)
                            label_fail[end].add(f["name"])
        for g in sorted(groups):
            if attr == "gender" and g == largest:
                continue  # gender children are made from the largest group's records
            children += _children_for(
                df,
                recorded,
                attr,
                g,
                largest,
                rep_fail.get(attr, {}),
                mean_fail.get(g, []),
                label_fail.get(g, set()),
                acfg,
                cfg,
                can_swap,
                exclude=used[f"counterfactual:{attr}={g}"],
            )
    now = _project(df, done + children)  # intersections judged with this round's children
    children += _intersection_children(df, now, audit, cfg, can_swap, used, children)
    if children:  # intersections' outcomes once their attributes' checks are answered
        return children
    return _intersection_outcome_children(df, proj, inter_fail, acfg, cfg, can_swap, used)


def _intersection_outcome_children(df, now, fails, acfg, cfg, can_swap, used):
    """Children for an intersection whose mean differs with confidence ('female & 65+' replies
    shorter than every other group's): the group below gets children as for one attribute's
    group (:func:`_children_for`), by relabelling the intersection's attribute that has no cue
    in the text (age band) on donors of its other groups (female records of other ages, the
    longest replies first), their outcome labels in the proportions of the largest other group
    of the same other groups (never more of a label than that: fewer children instead, so
    closing the gap in length opens none in outcomes). Gaps in shares between intersections
    are left to the attributes' checks: their groups are small, and augment answers them per
    attribute."""
    out: list[Child] = []
    for f in fails:
        attrs, c = f["attrs"], f["comp"]
        swap = next((a for a in cfg.attributes if a in attrs and a != "gender"), None)
        if f["kind"] != "mean" or swap is None:
            continue
        values = dict(zip(attrs, c["worst"].split(" & "), strict=True))
        keep = (now[swap] != MISSING) & ~now[f"{swap}_inferred"].astype(bool)
        for a, v in values.items():
            if a != swap:
                keep &= now[a] == v
        rec = now[keep]
        if rec.empty:
            continue
        g = values[swap]
        op = f"counterfactual:{swap}={g}"
        # the labels' yardstick: the largest other group of the same other groups (women aged
        # 45-64, for women aged 65+), so the children bring the group's outcomes in line too
        others = rec.loc[rec[swap] != g, swap]
        if others.empty:
            continue
        yardstick = others.value_counts().idxmax()
        out += _children_for(
            df,
            rec,
            swap,
            g,
            yardstick,
            {},
            [f],
            set(),
            acfg,
            cfg,
            can_swap,
            exclude=used[op],
            strict=True,  # never more of a label than its share: fewer children instead
        )
    return out


def _intersection_children(df, now, audit, cfg, can_swap, used, planned) -> list[Child]:
    """Children for an under-represented intersection ('female & 30-44'): records of the same
    other groups (30-44) rewritten into the missing one (female), by the first attribute of
    the intersection that augment may change."""
    out: list[Child] = []
    total = len(now)
    for block in audit.get("intersections", {}).values():
        attrs = block["attributes"]
        swap = next((a for a in cfg.attributes if a in attrs), None)
        if swap is None:
            continue
        for name, e in block["groups"].items():
            if not _point_fails(e):
                continue
            values = dict(zip(attrs, name.split(" & "), strict=True))
            t = cfg.target * e["reference"]
            have = int(
                np.logical_and.reduce([(now[a] == v).to_numpy() for a, v in values.items()]).sum()
            )
            n = math.ceil((t * total - have) / (1 - t)) if t < 1 else 0
            if n <= 0:
                continue
            original = now[now.index < len(df)]
            mask = np.ones(len(original), dtype=bool)
            for a, v in values.items():
                if a != swap:
                    mask &= (original[a] == v).to_numpy()
            pool = original[mask & (original[swap] != values[swap]).to_numpy()]
            if swap == "gender":
                largest = original["gender"].value_counts().idxmax()
                pool = pool[(pool["gender"] == largest) & can_swap.loc[pool.index]]
            op = f"counterfactual:{swap}={values[swap]}"
            taken = used[op] | {c.parent for c in (*planned, *out) if c.op == op}
            pool = pool[~pool.index.isin(list(taken))]
            reason = (
                f"{name} are {100 * e['share']:.1f}% of records against a "
                f"{100 * e['reference']:.1f}% reference"
            )
            rows = _order(pool["id"], cfg.seed, op + ":" + name)[:n]
            out += [Child(r, op, swap, values[swap], reason) for r in rows]
    return out


def _children_for(
    df,
    recorded,
    attr,
    g,
    largest,
    rep_fail,
    mean_fail,
    label_fail,
    acfg,
    cfg,
    can_swap,
    n_rep: int = 0,
    exclude: frozenset | set = frozenset(),
    strict: bool = False,
) -> list[Child]:
    in_g = recorded[recorded[attr] == g]
    op = f"counterfactual:{attr}={g}"
    original = recorded[recorded.index < len(df)]  # donors are original records only
    if attr == "gender":
        donors = original[(original[attr] == largest) & can_swap.loc[original.index]]
    else:
        donors = original[original[attr] != g]
    if exclude:
        donors = donors[~donors.index.isin(list(exclude))]
    reasons = []
    # 1. representation: children needed for the group's share to reach target x reference
    if n_rep:
        reasons.append(rep_fail[g])
    elif g in rep_fail:
        ref = acfg.reference.get(attr)
        share = ref.get(g, 0.0) if isinstance(ref, dict) else 1 / recorded[attr].nunique()
        t = cfg.target * share
        n_rep = max(0, math.ceil((t * len(recorded) - len(in_g)) / (1 - t)))
        reasons.append(rep_fail[g])
    # 2. per family: every checked label keeps the group's distribution in line with the
    #    largest group's (so children never open a new gap); a failed mean sets a minimum
    per_family: dict[Any, dict[str, Any]] = {}
    for spec in acfg.outcomes:
        if not spec.check:
            continue
        fam = spec.family
        fam_g = in_g if fam is None else in_g[in_g["family"] == fam]
        fam_big = recorded[recorded[attr] == largest]
        fam_donors = donors
        if fam is not None:
            fam_big = fam_big[fam_big["family"] == fam]
            fam_donors = donors[donors["family"] == fam]
        entry = per_family.setdefault(fam, {"min": 0, "labels": [], "mean": None})
        if spec.kind == "label":
            target = fam_big[spec.field].value_counts(normalize=True).to_dict()
            cur = Counter(fam_g[spec.field])
            need = [cur[v] / p - len(fam_g) for v, p in target.items() if p > 0]
            if spec.name in label_fail:
                entry["min"] = max(entry["min"], math.ceil(max(need, default=0)))
                reasons.append(f"{spec.name}: {g}'s {spec.field} differs from {largest}'s")
            entry["labels"].append((spec.field, target, cur, len(fam_g)))
        elif any(f["name"] == spec.name for f in mean_fail):
            f = next(f for f in mean_fail if f["name"] == spec.name)
            best = max(e["value"] for e in f["res"]["value"]["by_group"].values())
            goal = cfg.target * best
            have = fam_g[spec.field].astype(float)
            short = goal * len(have) - float(have.sum())
            eligible = _fair_tail(
                fam_donors[spec.field], cfg.resemblance.max_length_distance, short, goal
            )
            c = float(fam_donors.loc[list(eligible), spec.field].mean()) if eligible else 0.0
            k = len(eligible) if c <= goal else math.ceil(max(0.0, short) / (c - goal))
            entry["min"] = max(entry["min"], min(k, len(eligible)))
            entry["mean"] = eligible
            reasons.append(f"{spec.name}: mean {spec.field} of {g} below {goal:.0f}")
    n = min(max(n_rep, sum(e["min"] for e in per_family.values())), len(donors))
    if n <= 0:
        return []
    # 3. split across families: each family's minimum, the rest by donor supply
    alloc: dict[Any, int] = {fam: e["min"] for fam, e in per_family.items() if e["min"]}
    rest = n - sum(alloc.values())
    if rest > 0:
        supply = donors["family"].value_counts()
        for fam, cnt in supply.items():
            alloc[fam] = alloc.get(fam, 0) + math.floor(rest * cnt / supply.sum())
        for fam in list(supply.index)[: n - sum(alloc.values())]:
            alloc[fam] += 1
    out: list[Child] = []
    reason = "; ".join(reasons)
    for fam, k in sorted(alloc.items(), key=lambda kv: str(kv[0])):
        pool = donors if fam is None else donors[donors["family"] == fam]
        entry = per_family.get(fam, {"labels": [], "mean": None})
        order = _balanced(_order(pool["id"], cfg.seed, op), df, in_g, attr, acfg, k)
        if entry["mean"] is not None:  # drawn from the donors a fair tilt allows
            order = [r for r in order if r in entry["mean"]]
        if entry["labels"]:
            field, target, cur, n_now = entry["labels"][0]
            q = quotas(cur, target, n_now, k)
            picked: list[int] = []
            value = df[field].to_dict()  # row -> value: a dict lookup, not a pandas call, a row
            for v, want in sorted(q.items()):
                picked += [r for r in order if value[r] == v][:want]
            if len(picked) < k and not strict:  # a value ran short: fill from the rest, in order
                chosen = set(picked)
                picked += [r for r in order if r not in chosen][: k - len(picked)]
            position = {r: i for i, r in enumerate(order)}
            rows = sorted(picked, key=position.__getitem__)
        else:
            rows = order[:k]
        out += [Child(r, op, attr, g, reason) for r in rows]
    if len(out) < n:
        log.warning("%s: %d children planned, %d donors available", op, n, len(out))
    return out


def _fair_tail(values: pd.Series, max_distance: float, short: float, goal: float) -> set[int]:
    """The donors (rows) to draw children from for a mean that is ``short`` of ``goal`` x the
    group's count: the smallest slice of the donors with the largest ``values`` whose mean
    stays within 0.8 x ``max_distance`` of all the donors' mean and which holds the children
    its mean calls for; all the donors when no slice does.

    A draw of the donors above a cutoff dominates the pool, so its Wasserstein distance to it
    is the gap of the means: the bound keeps children resembling the pool they come from (0.8
    leaves room for the rewrite's own changes). The longest donors alone would lift the mean
    with fewer children, but they are the pool's tail, not a draw of it."""
    v = values.astype(float).sort_values(ascending=False, kind="stable")
    if v.empty:
        return set()
    bound = float(v.mean()) * (1 + 0.8 * max_distance)
    size = np.arange(1, len(v) + 1)
    mean = v.cumsum().to_numpy() / size
    with np.errstate(divide="ignore"):
        need = np.where(mean > goal, np.ceil(max(short, 0.0) / (mean - goal)), np.inf)
    ok = (mean <= bound) & (size >= need)
    m = int(np.argmax(ok)) + 1 if ok.any() else len(v)
    return set(v.index[:m])


def _balanced(
    order: list[int],
    df: pd.DataFrame,
    in_g: pd.DataFrame,
    attr: str,
    acfg: AuditDataConfig,
    k: int,
) -> list[int]:
    """Reorder donors so that any prefix spreads over the other attributes' groups as their
    references ask, given what the group already has (so adding women does not leave women
    aged 45-64 short)."""
    for other in acfg.attributes:
        ref = acfg.reference.get(other)
        if other == attr or not isinstance(ref, dict):
            continue
        q = quotas(Counter(in_g[other]), ref, len(in_g), max(k, 1))
        rank: Counter[str] = Counter()
        prio = {}
        value = df[other].to_dict()
        for r in order:
            band = value[r]
            prio[r] = rank[band] / q[band] if q.get(band) else float("inf")
            rank[band] += 1
        order = sorted(order, key=lambda r: prio[r])
    return order


def _cut(planned: list[Child], keep: int, df: pd.DataFrame, acfg: AuditDataConfig):
    """Keep ``keep`` of the planned children: the same share of every operation and, within
    it, of every combination of outcome labels (so the cut opens no new gap); the first ones
    of each stratum (the best donors) stay."""
    labels = [o.field for o in acfg.outcomes if o.kind == "label" and o.check and o.field in df]
    strata: dict[tuple, list[Child]] = defaultdict(list)
    values = [df[f].to_dict() for f in labels]
    for c in planned:
        strata[(c.op, *(v[c.parent] for v in values))].append(c)
    kept = [c for cs in strata.values() for c in cs[: len(cs) * keep // len(planned)]]
    position = {id(c): i for i, c in enumerate(planned)}
    return sorted(kept, key=lambda c: position[id(c)])


def _swap_ok(rec: Record) -> bool:
    """A clinical note may change sex only if none of its diagnoses is sex-specific."""
    from provena.counterfactual import sex_specific

    try:
        codes = json.loads(rec["output"]).get("icd10", [])
    except (ValueError, AttributeError):
        return True
    return not (isinstance(codes, list) and sex_specific([str(c) for c in codes]))


def run(
    inp: Path,
    audit_json: Path,
    cfg: AugmentConfig,
    acfg: AuditDataConfig,
    *,
    out: Path,
    ledger: Path,
    metrics: Path | None = None,
    surrogates: Path | None = None,
) -> dict[str, Any]:
    """Children of the input's records; write them after the input, with their ledger lines.

    ``surrogates``: scrub_pii's surrogates file (:mod:`provena.placed`), the people, places and
    organisations an entity swap changes when ``augment.entities`` is "surrogates". Without it
    no record has any, and entity swaps fall back as they do for a record without: a child of
    an attribute gets typos, an entity_swap child is not made."""
    from provena.counterfactual import SURROGATE_KINDS, Counterfactual

    # the input is held as one Arrow table of its output rows (a few hundred bytes a record,
    # not a few kilobytes of Python dicts); a parent becomes a record again when a child needs it
    batches: list[pa.Table] = []
    swap_ok: list[bool] = []

    def stream():
        for batch in read_records(inp, batch_size=CHUNK):
            batches.append(pa.Table.from_pylist([to_row(r) for r in batch], schema=RECORD_SCHEMA))
            swap_ok.extend(_swap_ok(r) for r in batch)
            yield from batch

    audit = json.loads(Path(audit_json).read_text(encoding="utf-8"))
    df = build_frame(stream(), acfg)
    # one chunk, as RecordWriter writes one list of records: the Parquet bytes stay the same
    table = pa.concat_tables(batches).combine_chunks() if batches else RECORD_SCHEMA.empty_table()
    batches.clear()  # the combined copy is the one kept
    n_in = table.num_rows

    def records(rows: list[int]) -> dict[int, Record]:
        """Parents by row: one Arrow take for a chunk of children, not a slice each."""
        unique = sorted(set(rows))
        got = table.take(pa.array(unique, type=pa.int64())).to_pylist()
        return {i: from_row(r) for i, r in zip(unique, got, strict=True)}

    for name in NUMERIC_FIELDS:
        df[name] = df[name].astype(int)
    can_swap = pd.Series(swap_ok, index=df.index)
    planned = plan(df, audit, acfg, cfg, can_swap) if cfg.counterfactual else []
    by_surrogates = cfg.entities == "surrogates"
    if by_surrogates and surrogates is None:
        log.warning("augment: no surrogates file given: entity swaps have nothing to swap")
    # one read: which records have surrogates to swap, and where they stand
    placed = _placed(surrogates, SURROGATE_KINDS) if by_surrogates and surrogates else {}
    extra = []
    for op, rate in (("entity_swap", cfg.entity_swap_rate), ("noise", cfg.noise_rate)):
        order = _order(df["id"], cfg.seed, op)
        if op == "entity_swap" and by_surrogates:
            # only records with surrogates to swap: a swap would leave the others as they are
            ids = df["id"].to_numpy()
            order = [r for r in order if ids[r] in placed]
        extra += [Child(r, op) for r in order[: round(rate * len(df))]]
    cap = math.floor(cfg.max_new_share * len(df))
    if len(planned) + len(extra) > cap:
        log.warning(
            "augment: %d new records planned, capped at %d (augment.max_new_share = %s)",
            len(planned) + len(extra),
            cap,
            cfg.max_new_share,
        )
        keep = max(0, cap - len(extra))
        if keep < len(planned):
            planned = _cut(planned, keep, df, acfg)
        extra = extra[: max(0, cap - len(planned))]
    cf = Counterfactual(seed=cfg.seed)
    # children become Arrow rows a chunk at a time, like the input
    made_parts: list[pa.Table] = []
    added: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    lines: list[LedgerLine] = []
    jobs = planned + extra
    bar = progress(total=len(jobs), desc=STAGE, unit=" rec", unit_scale=True)
    gender_jobs = [c for c in planned if c.attribute == "gender"]
    swapped = _gender_texts(cf, records, gender_jobs)
    seen = set(table.column("id").to_pylist())
    for start in range(0, len(jobs), CHUNK):
        chunk = jobs[start : start + CHUNK]
        parents = records([c.parent for c in chunk])
        res = make_children(
            chunk,
            parents.__getitem__,
            cf,
            cfg,
            swapped=swapped,
            seen=seen,
            placed=placed if by_surrogates else None,
        )
        made_parts.append(_rows(res.kept))
        lines += res.ledger
        added.update(r["op"] for r in res.kept)
        skipped.update(res.detail)
        bar.update(len(chunk))
    bar.close()
    stats = StageStats(records_in=n_in, records_kept=n_in)
    children = pa.concat_tables([*made_parts, _rows([])]).combine_chunks()
    made_parts.clear()
    _write(out, table, children)
    with LinesWriter(ledger) as lw:
        lw.write(lines)
    report = _resemblance(df, table, children, acfg, cfg)
    for name, g in report["groups"].items():
        if g["verdict"] == "warn":
            log.warning(
                "augment: children of %s do not resemble their parents: %s",
                name,
                "; ".join(g["flags"]),
            )
    result = stage_metrics(
        STAGE,
        stats,
        records_added=children.num_rows,
        records_out=n_in + children.num_rows,
        added_by_op=dict(sorted(added.items())),
        skipped_unchanged_by_op=dict(sorted(skipped.items())),
        new_share=round(children.num_rows / n_in, 4) if n_in else 0.0,
        max_new_share=cfg.max_new_share,
        resemblance=report,
    )
    if metrics is not None:
        write_json(metrics, result)
    return result


def _resemblance(
    df: pd.DataFrame, table: pa.Table, children: pa.Table, acfg: AuditDataConfig, cfg
) -> dict[str, Any]:
    """:func:`provena.augment.resemble.check` on the counterfactual children of this run."""
    import pyarrow.compute as pc

    from provena.augment.resemble import check

    df = df.copy()
    df["instruction_chars"] = pc.utf8_length(table.column("instruction")).to_numpy()
    ops = children.column("op").to_pylist()
    keep = [i for i, op in enumerate(ops) if op and op.startswith("counterfactual:")]
    if not keep:
        return check(df, pd.DataFrame(columns=["attribute", "group"]), {}, cfg.resemblance)
    part = children.take(pa.array(keep, type=pa.int64()))
    kids = build_frame((from_row(r) for r in part.to_pylist()), acfg)
    for name in NUMERIC_FIELDS:
        kids[name] = kids[name].astype(int)
    kids["instruction_chars"] = pc.utf8_length(part.column("instruction")).to_numpy()
    row = {i: r for r, i in enumerate(df["id"])}
    kids["parent"] = [row[p] for p in part.column("parent_id").to_pylist()]
    change = [op.split(":", 1)[1].split("=", 1) for op in part.column("op").to_pylist()]
    kids["attribute"] = [a for a, _ in change]
    kids["group"] = [g for _, g in change]
    labels = {
        fam: [
            o.field
            for o in acfg.outcomes
            if o.kind == "label" and o.family in (None, fam) and o.field in kids
        ]
        for fam in kids["family"].unique()
    }
    return check(df, kids, labels, cfg.resemblance)


def make_children(
    jobs: Sequence[Child],
    record: Callable[[int], Record],
    cf: Counterfactual,
    cfg: AugmentConfig,
    *,
    swapped: dict[tuple[int, str], tuple[str, str]],
    seen: set[str],
    placed: dict[str, dict[str, list[tuple[int, int, str]]]] | None = None,
) -> StageResult:
    """The children of ``jobs``, in order, each with its ``added`` ledger line.

    ``record`` gives a parent by its row; ``cf`` rewrites texts and ``swapped`` holds the
    gender-swapped ones (:func:`_gender_texts`). An entity swap changes the surrogates at
    ``placed`` (parent id -> field -> [(start, end, scrub_pii's entity type)]; see
    :mod:`provena.placed`); with ``placed`` None, the entities spaCy's NER finds, the swaps of
    all ``jobs`` in one NER pass (:meth:`Counterfactual.entity_swap_many`: only the texts a
    swap can change are read), so callers pass a chunk of jobs, not one at a time.
    A child whose id is in ``seen`` (its rewrite changed nothing: it would copy its parent or
    an earlier child) is skipped and counted by operation in the result's ``detail`` (a
    ``Counter``); the ids of the children made are added to ``seen``. Children are new
    records, not input ones: the books are empty. No file I/O."""
    result = StageResult(detail=Counter())
    parents = [record(c.parent) for c in jobs]
    keys = [f"{p['id']}:{c.op}" for c, p in zip(jobs, parents, strict=True)]
    # the entity swaps of all the jobs at once: one NER pass over the texts it can change
    ent = [i for i, c in enumerate(jobs) if c.attribute != "gender" and _swaps_entities(c)]
    if placed is None:
        done = cf.entity_swap_many(
            [parents[i][f] for i in ent for f in ("input", "output")],
            [keys[i] for i in ent for _ in range(2)],
        )
    else:
        from provena.counterfactual import SURROGATE_KINDS

        done = [
            cf.swap_spans(
                parents[i][f],
                keys[i],
                [
                    (a, b, SURROGATE_KINDS[t])
                    for a, b, t in placed.get(parents[i]["id"], {}).get(f, [])
                ],
            )
            for i in ent
            for f in ("input", "output")
        ]
    entities = {i: (done[2 * k], done[2 * k + 1]) for k, i in enumerate(ent)}
    for i, c in enumerate(jobs):
        parent, key = parents[i], keys[i]
        fields = {f: parent[f] for f in ("instruction", "input", "output")}
        meta = dict(parent["meta"])
        if c.attribute == "gender":
            fields["input"], fields["output"] = swapped[(c.parent, c.target)]  # type: ignore[index]
            meta["gender"] = c.target
        elif c.attribute is not None:
            # no cue of this attribute in the text to rewrite: the child differs from its
            # parent by its people, places and companies (or, failing those, by a few typos)
            meta[c.attribute] = c.target
            fields["input"], fields["output"] = entities[i]
            if fields["input"] == parent["input"] and fields["output"] == parent["output"]:
                fields["input"] = cf.noise(fields["input"], key, max(cfg.typo_rate, 0.1), 0.0)
        elif c.op == "entity_swap":
            fields["input"], fields["output"] = entities[i]
        else:
            fields["input"] = cf.noise(fields["input"], key, cfg.typo_rate, cfg.case_rate)
        child = make_record(
            source=parent["source"],
            messages=None,
            meta=meta,
            parent_id=parent["id"],
            op=c.op,
            **fields,
        )
        if child["id"] in seen:  # nothing changed: a copy would add nothing
            result.detail[c.op] += 1
            continue
        seen.add(child["id"])
        result.kept.append(child)
        result.ledger.append(
            ledger_line(
                id=child["id"],
                stage=STAGE,
                action="added",
                rule=c.op,
                parent_id=parent["id"],
                reason=c.reason or c.op,
            )
        )
    return result


def _placed(path: Path, kinds: dict[str, str]) -> dict:
    """The surrogates in the input and output text whose type is one of ``kinds``'s, by
    record id and field."""
    from provena.placed import read_placed

    return read_placed(path, fields=("input", "output"), types=kinds)


def _swaps_entities(c: Child) -> bool:
    """A child made by an entity swap: an entity_swap, or a counterfactual of an attribute
    with no cue in the text (age band), which swaps entities instead."""
    return c.op == "entity_swap" or (c.attribute is not None and c.attribute != "gender")


#: children whose texts go through spaCy together: the tagged docs of one chunk are freed before
#: the next, instead of every doc of the run being held until the last is tagged
GENDER_CHUNK = 1000


def _gender_texts(cf, records, jobs: list[Child]) -> dict[tuple[int, str], tuple]:
    """(parent row, target) -> (input, output) rewritten, through spaCy a chunk at a time
    (``records``: rows -> their records)."""
    out: dict[tuple[int, str], tuple] = {}
    for start in range(0, len(jobs), GENDER_CHUNK):
        chunk = jobs[start : start + GENDER_CHUNK]
        parents = records([c.parent for c in chunk])
        texts, targets, keys = [], [], []
        for c in chunk:
            rec = parents[c.parent]
            for field in ("input", "output"):
                texts.append(rec[field])
                targets.append(c.target)
                keys.append(f"{rec['id']}:{c.target}")
        done = cf.gender_swap_many(texts, targets, keys)
        for i, c in enumerate(chunk):
            out[(c.parent, c.target)] = (done[2 * i], done[2 * i + 1])
    return out


def _rows(records: list[Record]) -> pa.Table:
    return pa.Table.from_pylist([to_row(r) for r in records], schema=RECORD_SCHEMA)


def _write(out: Path, table: pa.Table, children: pa.Table) -> None:
    """The input rows, then the children: what ``RecordWriter`` writes for the two lists
    (one row group each, zstd), without turning the input back into Python records."""
    if out.suffix == ".jsonl":  # a person reads these: RecordWriter's JSON lines, a batch at a time
        with RecordWriter(out) as rw:
            for part in (table, children):
                for batch in part.to_batches(max_chunksize=CHUNK):
                    rw.write(from_row(r) for r in batch.to_pylist())
        return
    with atomic_path(out) as tmp:
        writer = pq.ParquetWriter(tmp, RECORD_SCHEMA, compression="zstd")
        for part in (table, children):
            if part.num_rows:
                writer.write_table(part)
        if not table.num_rows and not children.num_rows:
            writer.write_table(RECORD_SCHEMA.empty_table())
        writer.close()
