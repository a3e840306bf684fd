"""split: deterministic, stratified train / validation / test splits and a held-out gold set.

The unit of assignment is a *group*: an original record and the augmented children that name it
as ``parent_id``. A group is never cut, so a counterfactual twin always lies in its parent's
split. Groups are stratified by the parent's ``meta`` values named in ``stratify_by`` (task
family and gender by default) and ordered inside each stratum by a hash of the parent id and
the seed, so the same input and params always give the same splits, and adding records moves
few others.

1. **Near-duplicates.** Every record's text goes through the MinHash LSH of
   :mod:`provena.dedup` (clean's detector, exact copies included as similarity 1). A pair of
   records of different groups is a *cross-group pair*; pairs inside a group are expected (a
   child is an edit of its parent) and only counted.
2. **Gold set.** ``gold_size`` records, drawn first, stratified like the splits (quotas in
   proportion to each stratum's groups, largest remainder), from records that are original, have
   no augmented child and are in no cross-group pair: no twin, child or near-copy of a gold
   record can be anywhere else, so gold is held out by construction.
3. **Splits.** In each stratum, the remaining groups in hash order are cut by the cumulative
   record count at ``shares`` (a group goes where the middle of its records falls), so every
   stratum gets the same shares in records, not just in groups.
4. **Contamination rule.** Groups joined by cross-group pairs form clusters; a cluster that
   spans splits is moved whole into the most training-side split among its members (train,
   then validation, then test). Evaluation sets thus never hold a near-copy of training data
   or of each other, and no record is dropped: the cost is a slightly larger train share, which
   the metrics show. Every moved record gets a ledger line with the near-duplicate that caused
   the move, and the pairs found and resolved are counted.
5. **Canaries.** ``split.canaries.count`` secret records (:func:`provena.split.canaries.
   make_canaries`), each ``repeats`` times, are appended to the train split only, so evaluate
   can test whether the model memorized them. They take no part in steps 1-4, are planted
   after the audits ran, and each gets a ``planted`` ledger line; the books read
   ``records_in = records_out - canaries.planted_records``.

The planning core (:func:`plan_split`) is pure: items and pairs in, assignment out. :func:`run`
does the I/O in two streaming passes (plan, then write), like clean.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from provena.canary import Canary
from provena.config import ContaminationConfig, SplitConfig
from provena.dedup import Deduplicator, lsh_params
from provena.errors import UserError
from provena.io import LinesWriter, RecordWriter, read_records, write_json
from provena.progress import progress
from provena.records import (
    LedgerLine,
    Record,
    StageResult,
    StageStats,
    ledger_line,
    stage_metrics,
)
from provena.split.canaries import make_canaries

STAGE = "split"
SPLITS = ("train", "validation", "test")  # in order: a contaminated cluster moves leftwards
GOLD = "gold"
ALL_SPLITS = (*SPLITS, GOLD)
MISSING = "(missing)"
RULE = "contamination"
CANARY_RULE = "canary"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    """What the plan needs of one record."""

    row: int
    id: str
    parent_id: str | None
    stratum: tuple[str, ...]
    family: str = MISSING
    gender: str = MISSING


@dataclass
class Group:
    key: str  # the parent's id (the root of the parent_id chain)
    rows: list[int]  # every member, in input order
    stratum: tuple[str, ...]  # the parent's (or, if it is absent, the first member's)


@dataclass(frozen=True)
class Move:
    row: int
    from_split: str
    to_split: str
    other_row: int  # the near-duplicate in another group that caused the move
    via_row: int  # the member of this record's group that is near `other_row`
    similarity: float
    group: str  # the moved group's key (its parent's id)


@dataclass
class SplitPlan:
    split_of: list[str]  # per input row
    initial: list[str]  # before the contamination rule
    groups: list[Group]
    pairs: list[tuple[int, int, float]]  # cross-group near pairs (row a < row b)
    within_group_pairs: int
    moves: list[Move] = field(default_factory=list)
    gold_eligible: int = 0
    gold_quota: dict[str, int] = field(default_factory=dict)


def item_of(row: int, rec: Record, cfg: SplitConfig) -> Item:
    meta = rec.get("meta") or {}

    def val(key: str) -> str:
        v = meta.get(key)
        return MISSING if v is None or v == "" else str(v)

    return Item(
        row=row,
        id=rec["id"],
        parent_id=rec.get("parent_id") or None,
        stratum=tuple(val(k) for k in cfg.stratify_by),
        family=val("family"),
        gender=val("gender"),
    )


def text_of(rec: Record, fields: Sequence[str]) -> str:
    return "\n\n".join(rec[f] for f in fields if rec.get(f))  # type: ignore[literal-required]


def group_hash(key: str, seed: int, salt: str) -> int:
    """Stable order of groups: a hash of the parent id, the seed and what it orders."""
    digest = hashlib.sha256(f"{seed}\0{salt}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class PairFinder:
    """Near-duplicate pairs among records fed in row order (MinHash LSH of provena.dedup)."""

    def __init__(self, cfg: ContaminationConfig):
        self.cfg = cfg
        self.dd = Deduplicator(cfg.dedup_config())
        self._rows: list[int] = []
        self._texts: list[str] = []

    def add(self, row: int, text: str) -> None:
        self._rows.append(row)
        self._texts.append(text)
        if len(self._rows) >= self.cfg.chunk_size:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self.dd.add(self._rows, self._texts)
            self._rows, self._texts = [], []

    def pairs(self) -> list[tuple[int, int, float]]:
        self.flush()
        return sorted((min(a, b), max(a, b), round(s, 4)) for a, b, s in self.dd.near_pairs())


def find_groups(items: Sequence[Item]) -> tuple[list[Group], list[int]]:
    """Groups (a parent and its children) and each row's group index.

    A child is grouped under the root of its ``parent_id`` chain, so grandchildren would stay
    with their grandparent; children whose parent is not in the input share a group keyed by
    the missing parent's id.
    """
    row_of = {}
    for it in items:
        if it.id in row_of:
            raise UserError(
                f"{STAGE}: id {it.id} appears twice (rows {row_of[it.id]} and {it.row}); "
                "ids are content hashes, so the input holds an exact copy that clean should "
                "have removed"
            )
        row_of[it.id] = it.row
    by_row = {it.row: it for it in items}

    def root(it: Item) -> str:
        seen = {it.id}
        while it.parent_id is not None:
            parent = row_of.get(it.parent_id)
            if parent is None:
                return it.parent_id
            it = by_row[parent]
            if it.id in seen:
                raise UserError(f"{STAGE}: parent_id cycle through record {it.id}")
            seen.add(it.id)
        return it.id

    index: dict[str, int] = {}
    groups: list[Group] = []
    group_of = []
    for it in items:
        key = root(it)
        g = index.get(key)
        if g is None:
            g = index[key] = len(groups)
            anchor = by_row[row_of[key]] if key in row_of else it
            groups.append(Group(key=key, rows=[], stratum=anchor.stratum))
        groups[g].rows.append(it.row)
        group_of.append(g)
    return groups, group_of


def _quotas(total: int, weights: dict[tuple[str, ...], int], caps: dict[Any, int]) -> dict:
    """Split ``total`` over strata in proportion to ``weights`` (largest remainder), never
    above a stratum's cap; what a capped stratum cannot take goes to the others."""
    quota = dict.fromkeys(weights, 0)
    left = total
    while left > 0:
        open_ = [s for s in weights if quota[s] < caps.get(s, 0)]
        if not open_:
            break
        w = sum(weights[s] for s in open_)
        exact = {s: left * weights[s] / w for s in open_}
        step = {s: min(int(exact[s]), caps[s] - quota[s]) for s in open_}
        rest = left - sum(step.values())
        for s in sorted(open_, key=lambda s: (-(exact[s] - int(exact[s])), s)):
            if rest <= 0:
                break
            if quota[s] + step[s] < caps[s]:
                step[s] += 1
                rest -= 1
        if sum(step.values()) == 0:
            break
        for s in open_:
            quota[s] += step[s]
        left = total - sum(quota.values())
    return quota


def plan_split(
    items: Sequence[Item], pairs: Iterable[tuple[int, int, float]], cfg: SplitConfig
) -> SplitPlan:
    """Assign every record to train, validation, test or gold (pure; see the module doc)."""
    n = len(items)
    if n == 0:
        raise UserError(f"{STAGE}: the input holds no records")
    if any(it.row != i for i, it in enumerate(items)):
        raise ValueError("items must be given in row order 0, 1, ...")
    groups, group_of = find_groups(items)
    cross, within = [], 0
    for a, b, s in pairs:
        if group_of[a] == group_of[b]:
            within += 1
        else:
            cross.append((min(a, b), max(a, b), s))
    cross.sort()
    in_pair = {r for a, b, _ in cross for r in (a, b)}

    # -- gold: original, childless, no near-copy in another group; stratified quotas
    by_stratum: dict[tuple[str, ...], list[int]] = collections.defaultdict(list)
    for g, grp in enumerate(groups):
        by_stratum[grp.stratum].append(g)

    def eligible(g: int) -> bool:
        rows = groups[g].rows
        return len(rows) == 1 and items[rows[0]].parent_id is None and rows[0] not in in_pair

    pool = {s: [g for g in gs if eligible(g)] for s, gs in by_stratum.items()}
    n_eligible = sum(len(p) for p in pool.values())
    problems = []
    if cfg.gold_size > n_eligible:
        problems.append(
            f"only {n_eligible} records can be gold (original, no augmented child, no "
            f"near-duplicate elsewhere)"
        )
    if cfg.gold_size > cfg.max_gold_share * n:
        problems.append(
            f"that is more than split.max_gold_share = {cfg.max_gold_share} of the "
            f"{n} input records, which would leave too little to train on"
        )
    if problems:
        raise UserError(
            f"{STAGE}: split.gold_size = {cfg.gold_size}, but "
            + "; and ".join(problems)
            + f". Lower split.gold_size (at most "
            f"{min(n_eligible, int(cfg.max_gold_share * n))} here) or give the stage more data."
        )
    quota = _quotas(
        cfg.gold_size,
        {s: len(gs) for s, gs in by_stratum.items()},
        {s: len(p) for s, p in pool.items()},
    )
    split_of = [""] * n
    gold_groups = set()
    for s, p in pool.items():
        for g in sorted(p, key=lambda g: (group_hash(groups[g].key, cfg.seed, GOLD), g))[
            : quota[s]
        ]:
            gold_groups.add(g)

    # -- train / validation / test: cut each stratum's hash-ordered groups by record count
    bounds, acc = [], 0.0
    for name in SPLITS:
        acc += getattr(cfg.shares, name)
        bounds.append(acc)
    group_split: list[str] = [GOLD if g in gold_groups else "" for g in range(len(groups))]
    for _, gs in sorted(by_stratum.items()):
        rest = [g for g in gs if g not in gold_groups]
        rest.sort(key=lambda g: (group_hash(groups[g].key, cfg.seed, "split"), g))
        total = sum(len(groups[g].rows) for g in rest)
        done = 0
        for g in rest:
            size = len(groups[g].rows)
            mid = (done + size / 2) / total
            group_split[g] = next(
                (name for name, b in zip(SPLITS, bounds, strict=True) if mid < b), SPLITS[-1]
            )
            done += size
    initial_group = list(group_split)

    # -- contamination: clusters of groups joined by cross-group pairs move to their most
    #    training-side split
    parent = list(range(len(groups)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _ in cross:
        ra, rb = find(group_of[a]), find(group_of[b])
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    rank = {name: i for i, name in enumerate(SPLITS)}
    target: dict[int, str] = {}
    for g in sorted({group_of[r] for a, b, _ in cross for r in (a, b)}):
        root = find(g)
        if group_split[g] == GOLD:  # cannot happen: gold records are in no cross-group pair
            raise AssertionError(f"gold group {groups[g].key} has a near-duplicate")
        cur = target.get(root)
        if cur is None or rank[group_split[g]] < rank[cur]:
            target[root] = group_split[g]
    moved_groups = [
        g for g in range(len(groups)) if find(g) in target and group_split[g] != target[find(g)]
    ]
    for g in moved_groups:
        group_split[g] = target[find(g)]
    for r in range(n):
        split_of[r] = group_split[group_of[r]]
    initial = [initial_group[group_of[r]] for r in range(n)]

    # ledger detail: for each moved group, the near pair that tied it to its new split
    moves: list[Move] = []
    for g in moved_groups:
        members = set(groups[g].rows)
        best = None
        for a, b, s in cross:
            if (a in members) == (b in members):
                continue
            via, other = (a, b) if a in members else (b, a)
            key = (initial[other] != group_split[g], -s, other, via)
            if best is None or key < best[0]:
                best = (key, via, other, s)
        assert best is not None
        _, via, other, s = best
        for r in groups[g].rows:
            moves.append(Move(r, initial_group[g], group_split[g], other, via, s, groups[g].key))
    for a, b, _ in cross:
        if split_of[a] != split_of[b]:
            raise AssertionError(f"rows {a} and {b} are near-duplicates in different splits")
    return SplitPlan(
        split_of=split_of,
        initial=initial,
        groups=groups,
        pairs=cross,
        within_group_pairs=within,
        moves=sorted(moves, key=lambda m: m.row),
        gold_eligible=n_eligible,
        gold_quota={"/".join(s): q for s, q in sorted(quota.items())},
    )


def ledger_entry(m: Move, ids: Sequence[str], group_size: int) -> LedgerLine:
    why = (
        f"near-duplicate (estimated Jaccard {m.similarity:.2f}) of {ids[m.other_row]}, which is "
        f"in {m.to_split}"
        if m.via_row == m.row
        else f"its group's record {ids[m.via_row]} is a near-duplicate (estimated Jaccard "
        f"{m.similarity:.2f}) of {ids[m.other_row]}, which is in {m.to_split}"
    )
    return ledger_line(
        id=ids[m.row],
        stage=STAGE,
        action="moved",
        rule=RULE,
        reason=f"{why}; group of {m.group} ({group_size} records) moved from "
        f"{m.from_split} to {m.to_split}",
        from_split=m.from_split,
        to_split=m.to_split,
        other_id=ids[m.other_row],
        via_id=ids[m.via_row],
        similarity=m.similarity,
        group=m.group,
        row=m.row,
    )


def build_metrics(
    items: Sequence[Item],
    is_augmented: Sequence[bool],
    plan: SplitPlan,
    stats: StageStats,
    cfg: SplitConfig,
    planted: int = 0,
) -> dict[str, Any]:
    """The stage's metrics. ``records`` counts what each split file holds (the train file
    with ``planted`` canaries); shares, groups and the ``by_*`` tables count input records."""
    counts = collections.Counter(plan.split_of)
    rest = sum(counts[s] for s in SPLITS)
    records = {s: counts[s] + (planted if s == "train" else 0) for s in ALL_SPLITS}
    table: dict[str, dict[str, collections.Counter[str]]] = {
        k: collections.defaultdict(collections.Counter) for k in ("family", "gender", "stratum")
    }
    augmented: collections.Counter[str] = collections.Counter()
    group_counts: collections.Counter[str] = collections.Counter()
    for it, aug, s in zip(items, is_augmented, plan.split_of, strict=True):
        table["family"][it.family][s] += 1
        table["gender"][it.gender][s] += 1
        augmented[s] += aug
    for g in plan.groups:
        group_counts[plan.split_of[g.rows[0]]] += 1
        for r in g.rows:
            table["stratum"]["/".join(g.stratum)][plan.split_of[r]] += 1
    by_pair: collections.Counter[str] = collections.Counter()
    found = resolved = 0
    for a, b, _ in plan.pairs:
        if plan.initial[a] != plan.initial[b]:
            found += 1
            x, y = sorted((plan.initial[a], plan.initial[b]), key=ALL_SPLITS.index)
            by_pair[f"{x}~{y}"] += 1
            resolved += plan.split_of[a] == plan.split_of[b]
    moved = collections.Counter(f"{m.from_split}->{m.to_split}" for m in plan.moves)
    ccfg = cfg.contamination
    bands, rows = lsh_params(ccfg.dedup_config())

    def per(t: dict[str, collections.Counter[str]]) -> dict[str, dict[str, int]]:
        return {k: {s: c[s] for s in ALL_SPLITS} for k, c in sorted(t.items())}

    return stage_metrics(
        STAGE,
        stats,
        records=records,
        records_out=sum(records.values()),
        records_dropped=0,
        shares={s: round(counts[s] / rest, 4) if rest else 0.0 for s in SPLITS},
        groups={s: group_counts[s] for s in ALL_SPLITS},
        augmented={s: augmented[s] for s in ALL_SPLITS},
        by_family=per(table["family"]),
        by_gender=per(table["gender"]),
        by_stratum=per(table["stratum"]),
        canaries={
            "count": cfg.canaries.count,
            "repeats": cfg.canaries.repeats if cfg.canaries.count else 0,
            "planted_records": planted,
            "split": "train",
            "books": "records_in = records_out - canaries.planted_records",
        },
        gold={
            "size": records[GOLD],
            "requested": cfg.gold_size,
            "eligible": plan.gold_eligible,
            "quota_by_stratum": plan.gold_quota,
        },
        contamination={
            "rule": "a near-duplicate cluster spanning splits moves whole to its most "
            "training-side split (train, validation, test); nothing is dropped",
            "pairs_found": found,
            "pairs_resolved": resolved,
            "pairs_by_splits": dict(sorted(by_pair.items())),
            "cross_group_pairs": len(plan.pairs),
            "within_group_pairs": plan.within_group_pairs,
            "groups_moved": len({m.group for m in plan.moves}),
            "records_moved": len(plan.moves),
            "records_moved_by_splits": dict(sorted(moved.items())),
            "threshold": ccfg.threshold,
            "ngram": ccfg.ngram,
            "num_perm": ccfg.num_perm,
            "bands": bands,
            "rows": rows,
        },
    )


@dataclass
class SplitDetail:
    """What :func:`split_records` returns besides the books: each split file's records (the
    train split with the canaries planted) and the plan that assigned them."""

    splits: dict[str, list[Record]]
    plan: SplitPlan


def canary_ledger(canaries: Sequence[Canary]) -> list[LedgerLine]:
    """One ``planted`` line per canary record (never its secret)."""
    return [
        ledger_line(
            id=rec["id"],
            stage=STAGE,
            action="planted",
            rule=CANARY_RULE,
            reason="privacy canary (split.canaries)",
            to_split="train",
            canary=c.index,
            copy=copy,
        )
        for c in canaries
        for copy, rec in enumerate(c.records)
    ]


def _canary_records(canaries: Sequence[Canary], ids: Sequence[str]) -> list[Record]:
    planted = [rec for c in canaries for rec in c.records]
    clash = sorted({r["id"] for r in planted} & set(ids))
    if clash:
        raise UserError(
            f"{STAGE}: the input already holds canary records ({', '.join(clash[:3])}); "
            "was a split output fed back in?"
        )
    return planted


def _ledger(
    plan: SplitPlan, ids: Sequence[str], canaries: Sequence[Canary] = ()
) -> list[LedgerLine]:
    sizes = {g.key: len(g.rows) for g in plan.groups}
    return [ledger_entry(m, ids, sizes[m.group]) for m in plan.moves] + canary_ledger(canaries)


def _finish(
    items: Sequence[Item],
    augmented: Sequence[bool],
    plan: SplitPlan,
    cfg: SplitConfig,
    planted: int = 0,
) -> tuple[StageStats, dict[str, Any]]:
    stats = StageStats(records_in=len(items), records_kept=len(plan.split_of))
    stats.changed_by_rule[RULE] = len(plan.moves)
    return stats, build_metrics(items, augmented, plan, stats, cfg, planted)


def split_records(records: Sequence[Record], cfg: SplitConfig) -> StageResult:
    """Split records held in memory (the same plan as :func:`run`).

    Every input record is kept (``kept``, in input order); the ledger says which moved and
    which canaries were planted; ``detail`` (:class:`SplitDetail`) holds each split's records
    and the plan."""
    finder = PairFinder(cfg.contamination)
    items = []
    for row, rec in enumerate(records):
        items.append(item_of(row, rec, cfg))
        finder.add(row, text_of(rec, cfg.fields))
    plan = plan_split(items, finder.pairs(), cfg)
    ids = [it.id for it in items]
    canaries = make_canaries(cfg.canaries)
    planted = _canary_records(canaries, ids)
    splits: dict[str, list[Record]] = {s: [] for s in ALL_SPLITS}
    for rec, s in zip(records, plan.split_of, strict=True):
        splits[s].append(rec)
    splits["train"] += planted
    augmented = [r.get("parent_id") is not None for r in records]
    stats, metrics = _finish(items, augmented, plan, cfg, len(planted))
    return StageResult(
        kept=list(records),
        ledger=_ledger(plan, ids, canaries),
        stats=stats,
        metrics=metrics,
        detail=SplitDetail(splits, plan),
    )


def _scan(inp: Path, cfg: SplitConfig, total: int | None) -> Iterator[tuple[Item, bool, str]]:
    bar = progress(total=total, desc=f"{STAGE}: group+index", unit=" rec", unit_scale=True)
    row = 0
    for batch in read_records(inp, batch_size=cfg.chunk_size):
        for rec in batch:
            yield item_of(row, rec, cfg), rec.get("parent_id") is not None, text_of(rec, cfg.fields)
            row += 1
        bar.update(len(batch))
    bar.close()


def run(
    inp: Path,
    cfg: SplitConfig,
    *,
    out: dict[str, Path],
    ledger: Path,
    metrics: Path | None = None,
) -> dict[str, Any]:
    """Split a record file into ``out[train|validation|test|gold]``; write ledger and metrics.

    Pass 1 keeps only what the plan needs (ids, parents, strata; signatures in the LSH index);
    pass 2 streams each record into its split's file, in input order.
    """
    missing = [s for s in ALL_SPLITS if s not in out]
    if missing:
        raise ValueError(f"no output path for {missing}")
    total = pq.ParquetFile(inp).metadata.num_rows if inp.suffix == ".parquet" else None
    finder = PairFinder(cfg.contamination)
    items: list[Item] = []
    augmented: list[bool] = []
    for item, aug, text in _scan(inp, cfg, total):
        items.append(item)
        augmented.append(aug)
        finder.add(item.row, text)
    plan = plan_split(items, finder.pairs(), cfg)
    ids = [it.id for it in items]
    canaries = make_canaries(cfg.canaries)
    planted = _canary_records(canaries, ids)
    stats, summary = _finish(items, augmented, plan, cfg, len(planted))
    writers = {s: RecordWriter(out[s]) for s in ALL_SPLITS}
    ok = False
    try:
        bar = progress(total=len(items), desc=f"{STAGE}: write", unit=" rec", unit_scale=True)
        row = 0
        for batch in read_records(inp, batch_size=cfg.chunk_size):
            by_split: dict[str, list[Record]] = {s: [] for s in ALL_SPLITS}
            for rec in batch:
                if rec["id"] != ids[row]:
                    raise UserError(f"{STAGE}: {inp} changed while it was read (row {row})")
                by_split[plan.split_of[row]].append(rec)
                row += 1
            for s, recs in by_split.items():
                writers[s].write(recs)
            bar.update(len(batch))
        bar.close()
        writers["train"].write(planted)  # after the input's records: their order is unchanged
        ok = True
    finally:
        for w in writers.values():
            w.close(ok=ok)
    written = sum(w.count for w in writers.values())
    if written != stats.records_in + len(planted):
        raise AssertionError(
            f"{STAGE}: {stats.records_in} records in and {len(planted)} canaries planted, "
            f"{written} written"
        )
    with LinesWriter(ledger) as lw:
        lw.write(_ledger(plan, ids, canaries))
    if metrics is not None:
        write_json(metrics, summary)
    c = summary["contamination"]
    log.info(
        "%s: %s; contamination pairs found %d, resolved %d (%d records moved); %d canary "
        "records planted in train",
        STAGE,
        ", ".join(f"{s} {n}" for s, n in summary["records"].items()),
        c["pairs_found"],
        c["pairs_resolved"],
        c["records_moved"],
        len(planted),
    )
    return summary
