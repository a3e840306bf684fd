"""split: deterministic, stratified train / validation / test splits and a held-out gold set.

The unit of assignment is a *group*: an original record and the augmented children that name it
as ``parent_id``, joined with every other such group that shares a prompt (the same
instruction and input after :func:`normalize_prompt`, which ignores case, whitespace and
punctuation: two answers to one question). A group is never cut, so a counterfactual twin
always lies in its parent's split and two answers to one question lie in one split. Groups
are stratified by the first parent's ``meta`` values named in ``stratify_by`` (task family and
gender by default) and ordered inside each stratum by a hash of that parent's id and the seed,
so the same input and params always give the same splits, and adding records moves few others.

0. **Benchmarks.** Records that are near copies of a row of the user's benchmark files
   (``decontaminate_against``; :mod:`provena.split.benchmarks`, MinHash LSH on the prompt) are
   dropped first, to the quarantine with the file and line they copy, and take no part in the
   rest.
1. **Near-duplicates.** Every record's text goes through the MinHash LSH of
   :mod:`provena.dedup` (clean's detector, exact copies included as similarity 1). A pair of
   records of different groups is a *cross-group pair*; pairs inside a group are expected (a
   child is an edit of its parent) and only counted.
2. **Gold set.** ``gold_size`` records, drawn first, stratified like the splits (quotas in
   proportion to each stratum's groups, largest remainder), from groups whose records are all
   original and in no cross-group pair: no twin, child or near-copy of a gold record can be
   anywhere else, so gold is held out by construction. ``gold_size`` is capped at
   ``max_gold_share`` of the records (and at those that qualify), with a warning, so a small
   input gets a small gold set.
3. **Splits.** In each stratum, the remaining groups in hash order are cut by the cumulative
   count of their original records at ``shares`` (a group goes where the middle of its
   original records falls), so every stratum gets the same shares of the records an
   evaluation split keeps, not just of groups; a group with no original record goes to train.
4. **Contamination rule.** Groups joined by cross-group pairs form clusters; a cluster that
   spans splits is moved whole into the most training-side split among its members (train,
   then validation, then test). Evaluation sets thus never hold a near-copy of training data
   or of each other, and no record is dropped: the cost is a slightly larger train share, which
   the metrics show. Every moved record gets a ledger line with the near-duplicate that caused
   the move, and the pairs found and resolved are counted.
5. **Original records only in evaluation.** An augmented record (``parent_id`` set) goes
   with its group: into train where the group is in train, else it is dropped, to the
   quarantine with a ledger line naming its parent and the split its group is in, so
   validation, test and gold hold only original records and no edit of an evaluation record
   is trained on. Gold takes no group with a child in the first place.
6. **Canaries.** ``split.canaries.count`` secret records (:func:`provena.split.canaries.
   make_canaries`), each ``repeats`` times, are appended to the train split only, so evaluate
   can test whether the model memorized them. They take no part in steps 0-5, are planted
   after the audits ran, and each gets a ``planted`` ledger line; the books read
   ``records_in = records_out - canaries.planted_records + records_dropped``.

Where groups were joined by a shared prompt, the plan is also made without that rule, and each
record whose split differs gets a ``moved`` ledger line (rule ``same_prompt``) and is counted:
what keeping the answers together changed.

The planning core (:func:`plan_split`) is pure: items and pairs in, assignment out. :func:`run`
does the I/O in two streaming passes (plan, then write), like clean.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import logging
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from provena.canary import Canary
from provena.config import ContaminationConfig, SplitConfig
from provena.dedup import Deduplicator, UnionFind, lsh_params
from provena.errors import UserError
from provena.io import LinesWriter, RecordWriter, read_records, write_json
from provena.normalize import normalize_for_match
from provena.progress import progress
from provena.records import (
    LedgerLine,
    QuarantineEntry,
    Record,
    StageResult,
    StageStats,
    ledger_line,
    quarantine_entry,
    stage_metrics,
)
from provena.split import benchmarks
from provena.split.benchmarks import Benchmarks, Hit, NearCopies
from provena.split.canaries import make_canaries

STAGE = "split"
SPLITS = ("train", "validation", "test")  # in order: a contaminated cluster moves leftwards
GOLD = "gold"
ALL_SPLITS = (*SPLITS, GOLD)
MISSING = "(missing)"
RULE = "contamination"
SAME_PROMPT_RULE = "same_prompt"
DECONTAMINATION_RULE = "decontamination"
CANARY_RULE = "canary"
AUGMENTED_RULE = "augmented_in_evaluation"
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
    prompt: str = ""  # a hash of the normalized instruction and input ("": none)


@dataclass
class Group:
    key: str  # the parent's id (the root of the parent_id chain); joined: the first part's
    rows: list[int]  # every member, in input order
    stratum: tuple[str, ...]  # the parent's (or, if it is absent, the first member's)
    parts: list[str] = field(default_factory=list)  # joined by a shared prompt: each part's key


@dataclass(frozen=True)
class Move:
    row: int
    from_split: str
    to_split: str
    other_row: int  # the near-duplicate in another group that caused the move
    via_row: int  # the member of this record's group that is near `other_row`
    similarity: float
    group: str  # the moved group's key (its parent's id)


@dataclass(frozen=True)
class Join:
    """A record placed in another split than it would have had on its own: its group shares
    a prompt with another, and the joined group went where its first part's hash put it."""

    row: int
    from_split: str  # where the plan without the same-prompt rule put it
    to_split: str
    other_row: int  # a record of another part with the same prompt (or, else, of the group)
    group: str  # the joined group's key
    same_prompt: bool  # other_row's prompt is this record's own (not only its group's)


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
    gold_target: int = 0  # records the gold set was filled towards
    gold_scaled: dict[str, Any] | None = None  # gold_size capped to fit the input
    joins: list[Join] = field(default_factory=list)  # the same-prompt rule's moves
    alone: list[str] | None = None  # each row's split without the same-prompt rule
    group_of_row: list[int] = field(default_factory=list)  # each row's index in groups
    #: augmented rows whose group is in an evaluation split, with that split: not written
    dropped: dict[int, str] = field(default_factory=dict)

    def placed(self, row: int) -> str | None:
        """The split the record is written to (None: dropped, its group is in evaluation)."""
        return None if row in self.dropped else self.split_of[row]


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
        prompt=prompt_key(rec),
    )


def prompt_key(rec: Record) -> str:
    """What two records with the same prompt share: a hash of the instruction and the input
    after :func:`normalize_prompt` (case, width, whitespace and punctuation)."""
    key = normalize_prompt(rec["instruction"]) + "\0" + normalize_prompt(rec.get("input") or "")
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()


def normalize_prompt(text: str) -> str:
    """:func:`provena.normalize.normalize_for_match` (case, width, whitespace) without
    punctuation (Unicode category P*): "What is DNA?" and "what is dna" ask the same."""
    text = "".join(ch for ch in normalize_for_match(text) if not _is_punct(ch))
    return " ".join(text.split())


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


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


def find_groups(items: Sequence[Item], same_prompt: bool = True) -> tuple[list[Group], list[int]]:
    """Groups and each row's group index.

    A group is a parent and its children: a child is grouped under the root of its
    ``parent_id`` chain, so grandchildren would stay with their grandparent; children whose
    parent is not in the input share a group keyed by the missing parent's id. With
    ``same_prompt``, groups whose records share a prompt (:func:`prompt_key`) are joined into
    one, keyed and stratified like its first part, which takes the place of the first part in
    the list; its ``parts`` name every part.
    """
    groups, group_of = _family_groups(items)
    return _join_same_prompt(items, groups, group_of) if same_prompt else (groups, group_of)


def _join_same_prompt(
    items: Sequence[Item], groups: list[Group], group_of: list[int]
) -> tuple[list[Group], list[int]]:
    sets = UnionFind()
    find = sets.find
    first: dict[str, int] = {}
    joined = False
    for it, g in zip(items, group_of, strict=True):
        if not it.prompt:
            continue
        a = first.setdefault(it.prompt, g)
        if find(a) != find(g):
            sets.union(a, g)
            joined = True
    if not joined:
        return groups, group_of
    index: dict[int, int] = {}
    out: list[Group] = []
    for g, grp in enumerate(groups):  # a root is the smallest index of its set: it comes first
        r = find(g)
        if r not in index:
            index[r] = len(out)
            out.append(Group(key=groups[r].key, rows=[], stratum=groups[r].stratum))
        joint = out[index[r]]
        joint.rows.extend(grp.rows)
        joint.parts.append(grp.key)
    for joint in out:
        joint.rows.sort()
        if len(joint.parts) == 1:
            joint.parts = []
    return out, [index[find(g)] for g in group_of]


def _family_groups(items: Sequence[Item]) -> tuple[list[Group], list[int]]:
    """Groups of a parent and its children (see :func:`find_groups`)."""
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
    """Assign every record to train, validation, test or gold (pure; see the module doc).

    Where groups were joined by a shared prompt, the plan is made a second time without that
    rule (towards the same gold size) to tell which records the rule placed elsewhere: those
    are the plan's ``joins``, and ``alone`` holds that second plan's splits.

    Last, every augmented record (``parent_id`` set) whose group is not in train is one of the
    plan's ``dropped``: evaluation splits hold original records only."""
    pairs = list(pairs)
    plan = _assign(items, pairs, cfg, same_prompt=True, gold_target=None)
    if any(g.parts for g in plan.groups):
        _find_joins(items, pairs, cfg, plan)
    plan.dropped = {
        it.row: plan.split_of[it.row]
        for it in items
        if it.parent_id is not None and plan.split_of[it.row] != "train"
    }
    return plan


def _find_joins(
    items: Sequence[Item], pairs: list[tuple[int, int, float]], cfg: SplitConfig, plan: SplitPlan
) -> None:
    """The same-prompt rule's moves: the plan made again without it, compared."""
    alone = _assign(items, pairs, cfg, same_prompt=False, gold_target=plan.gold_target)
    plan.alone = alone.split_of
    part_of = alone.group_of_row
    for grp in plan.groups:
        if not grp.parts:
            continue
        to = plan.split_of[grp.rows[0]]
        # whom a moved record is named beside: a record of another part, with its own prompt
        # where there is one, and already in `to` on its own where there is one (then first)
        ranked = sorted(grp.rows, key=lambda o, to=to: (alone.split_of[o] != to, o))
        by_prompt: dict[str, list[int]] = collections.defaultdict(list)
        for o in ranked:
            by_prompt[items[o].prompt].append(o)
        for r in grp.rows:
            if alone.split_of[r] == to:
                continue
            mates = by_prompt[items[r].prompt] if items[r].prompt else []
            twin = next((o for o in mates if part_of[o] != part_of[r]), None)
            other = (
                twin if twin is not None else next(o for o in ranked if part_of[o] != part_of[r])
            )
            plan.joins.append(Join(r, alone.split_of[r], to, other, grp.key, twin is not None))
    plan.joins.sort(key=lambda j: j.row)


def _gold_target(cfg: SplitConfig, n: int, n_eligible: int) -> tuple[int, dict[str, Any] | None]:
    """The gold set's size in records, and why it is smaller than ``gold_size`` (None: as
    asked).

    ``gold_size`` is capped at ``max_gold_share`` of the records and at those that qualify, so
    a small dataset gets a small gold set rather than a failed run or a gold set that takes
    the data to train on; the stage warns, and the metrics say by how much (``gold.
    scaled_down``). Only an input where no record can be gold stops the stage."""
    share_cap = int(cfg.max_gold_share * n)
    limit = min(n_eligible, share_cap)
    if cfg.gold_size <= limit:
        return cfg.gold_size, None
    why = (  # what binds
        f"split.max_gold_share = {cfg.max_gold_share} of the {n} input records is {share_cap}"
        if share_cap <= n_eligible
        else f"only {n_eligible} records can be gold (original, no augmented child, no "
        "near-duplicate elsewhere)"
    )
    if limit < 1:
        raise UserError(
            f"{STAGE}: the gold set needs one record or more, but {why}. Give the stage more "
            "data (or raise split.max_gold_share)."
        )
    return limit, {
        "from": cfg.gold_size,
        "to": limit,
        "why": why,
        "gold_size_in_params": "gold_size" in cfg.model_fields_set,
    }


def _assign(
    items: Sequence[Item],
    pairs: Sequence[tuple[int, int, float]],
    cfg: SplitConfig,
    *,
    same_prompt: bool,
    gold_target: int | None,
) -> SplitPlan:
    """The plan, with or without the same-prompt rule; ``gold_target`` None: from params
    (:func:`_gold_target`), else at most that many gold records, as the input allows."""
    n = len(items)
    if n == 0:
        raise UserError(f"{STAGE}: the input holds no records")
    if any(it.row != i for i, it in enumerate(items)):
        raise ValueError("items must be given in row order 0, 1, ...")
    groups, group_of = find_groups(items, same_prompt)
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
        return all(items[r].parent_id is None and r not in in_pair for r in groups[g].rows)

    pool = {s: [g for g in gs if eligible(g)] for s, gs in by_stratum.items()}
    records = {s: sum(len(groups[g].rows) for g in p) for s, p in pool.items()}
    n_eligible = sum(records.values())
    if gold_target is None:
        gold_n, scaled = _gold_target(cfg, n, n_eligible)
    else:
        gold_n, scaled = min(gold_target, n_eligible, int(cfg.max_gold_share * n)), None
    quota = _quotas(gold_n, {s: len(gs) for s, gs in by_stratum.items()}, records)
    split_of = [""] * n
    gold_groups = set()
    for s, p in pool.items():
        left = quota[s]  # in records: a group joined by a shared prompt goes in whole or not
        for g in sorted(p, key=lambda g: (group_hash(groups[g].key, cfg.seed, GOLD), g)):
            if left <= 0:
                break
            if len(groups[g].rows) <= left:
                gold_groups.add(g)
                left -= len(groups[g].rows)

    # -- train / validation / test: cut each stratum's hash-ordered groups by their count of
    #    original records (an evaluation split keeps only those); a group with none is train
    bounds, acc = [], 0.0
    for name in SPLITS:
        acc += getattr(cfg.shares, name)
        bounds.append(acc)
    group_split: list[str] = [GOLD if g in gold_groups else "" for g in range(len(groups))]
    originals = [sum(items[r].parent_id is None for r in grp.rows) for grp in groups]
    for _, gs in sorted(by_stratum.items()):
        rest = [g for g in gs if g not in gold_groups]
        for g in rest:
            if not originals[g]:
                group_split[g] = "train"
        rest = [g for g in rest if originals[g]]
        rest.sort(key=lambda g: (group_hash(groups[g].key, cfg.seed, "split"), g))
        total = sum(originals[g] for g in rest)
        done = 0
        for g in rest:
            size = originals[g]
            mid = (done + size / 2) / total
            group_split[g] = next(
                (name for name, b in zip(SPLITS, bounds, strict=True) if mid < b), SPLITS[-1]
            )
            done += size
    initial_group = list(group_split)

    # -- contamination: clusters of groups joined by cross-group pairs move to their most
    #    training-side split
    sets = UnionFind()
    find = sets.find
    for a, b, _ in cross:
        sets.union(group_of[a], group_of[b])
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
        gold_target=gold_n,
        gold_scaled=scaled,
        group_of_row=group_of,
    )


def ledger_entry(
    m: Move, ids: Sequence[str], group_size: int, row: int | None = None
) -> LedgerLine:
    """A contamination move's line; ``row``: the record's row in the input (default: the
    plan's row, the same where no record was dropped)."""
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
        row=m.row if row is None else row,
    )


def join_entry(j: Join, ids: Sequence[str], group: Group, row: int | None = None) -> LedgerLine:
    """A same-prompt move's line: the record, the one it shares a prompt with, and where the
    plan without the rule had put it."""
    why = (
        f"same instruction and input (ignoring case, whitespace and punctuation) as "
        f"{ids[j.other_row]}"
        if j.same_prompt
        else f"its group shares an instruction and input with {ids[j.other_row]}'s"
    )
    return ledger_line(
        id=ids[j.row],
        stage=STAGE,
        action="moved",
        rule=SAME_PROMPT_RULE,
        reason=f"{why}: the {len(group.rows)} records of {len(group.parts)} groups that share "
        f"a prompt are kept together in {j.to_split}; on its own it would be in "
        f"{j.from_split}",
        from_split=j.from_split,
        to_split=j.to_split,
        other_id=ids[j.other_row],
        group=j.group,
        row=j.row if row is None else row,
    )


def dropped_entry(rec: Record, row: int, hit: Hit, cfg: SplitConfig) -> LedgerLine:
    """The ledger line of a record dropped as a near copy of a benchmark row (its quarantine
    entry is the same, with the record)."""
    return ledger_line(
        id=rec["id"],
        stage=STAGE,
        action="quarantined",
        rule=DECONTAMINATION_RULE,
        reason=f"near copy (estimated Jaccard {hit.similarity:.2f} on "
        f"{' + '.join(cfg.decontamination.fields)}) of {hit.bench.where()}, a benchmark named "
        f"in split.decontaminate_against: dropped so that an evaluation on it stays clean",
        source=rec["source"],
        row=row,
        benchmark=hit.bench.source,
        benchmark_line=hit.bench.line,
        similarity=hit.similarity,
    )


def augmented_entry(rec: Record, row: int, split: str, plan: SplitPlan, prow: int) -> LedgerLine:
    """The ledger line of an augmented record dropped because its group lies in an evaluation
    split (``split``); ``row``: its input row, ``prow``: its row in the plan (its quarantine
    entry is the same, with the record)."""
    grp = plan.groups[plan.group_of_row[prow]]
    parent = rec.get("parent_id")
    return ledger_line(
        id=rec["id"],
        stage=STAGE,
        action="quarantined",
        rule=AUGMENTED_RULE,
        reason=f"augmented record ({rec.get('op') or 'no op'}) made from {parent}; its group "
        f"({grp.key}) is in {split}: evaluation splits hold original records only, and an edit "
        "of an evaluation record must not be trained on, so it is dropped",
        source=rec["source"],
        row=row,
        parent_id=parent,
        from_split=split,
        group=grp.key,
    )


def _same_prompt_metrics(items: Sequence[Item], plan: SplitPlan) -> dict[str, Any]:
    shared = collections.Counter(it.prompt for it in items if it.prompt)
    joined = [g for g in plan.groups if g.parts]
    alone = plan.alone or plan.split_of
    moved = collections.Counter(f"{j.from_split}->{j.to_split}" for j in plan.joins)
    return {
        "rule": "records with the same instruction and input (ignoring case, whitespace and "
        "punctuation) stay in one split, like a parent and its children: groups that share a "
        "prompt are joined before the split",
        "prompts_shared": sum(1 for c in shared.values() if c > 1),
        "records_sharing_a_prompt": sum(c for c in shared.values() if c > 1),
        "groups_joined": len(joined),
        "records_in_joined_groups": sum(len(g.rows) for g in joined),
        "largest_joined_group": max((len(g.rows) for g in joined), default=0),
        "groups_kept_together": sum(len({alone[r] for r in g.rows}) > 1 for g in joined),
        "records_moved": len(plan.joins),
        "records_moved_by_splits": dict(sorted(moved.items())),
    }


def _decontamination_metrics(
    cfg: SplitConfig, bench: Benchmarks | None, hits: dict[int, Hit]
) -> dict[str, Any]:
    dcfg = cfg.decontamination
    bands, rows = lsh_params(dcfg.dedup_config())
    return {
        "rule": "a record that is a near copy of a benchmark row is dropped before the split "
        "(to the quarantine, with the row it copies), whichever split it would have gone to",
        "against": list(cfg.decontaminate_against),
        "files": bench.files if bench else [],
        "benchmark_rows": len(bench.rows) if bench else 0,
        "records_dropped": len(hits),
        "dropped_by_file": dict(
            sorted(collections.Counter(h.bench.source for h in hits.values()).items())
        ),
        "fields": list(dcfg.fields),
        "threshold": dcfg.threshold,
        "ngram": dcfg.ngram,
        "num_perm": dcfg.num_perm,
        "bands": bands,
        "rows": rows,
    }


def build_metrics(
    items: Sequence[Item],
    is_augmented: Sequence[bool],
    plan: SplitPlan,
    stats: StageStats,
    cfg: SplitConfig,
    planted: int = 0,
    decontamination: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stage's metrics. ``records`` counts what each split file holds (the train file
    with ``planted`` canaries); shares, groups and the ``by_*`` tables count the records
    split and written (the input less those dropped as near copies of a benchmark and the
    augmented records dropped because their group is in an evaluation split)."""
    placed = [plan.placed(r) for r in range(len(plan.split_of))]
    counts = collections.Counter(s for s in placed if s is not None)
    rest = sum(counts[s] for s in SPLITS)
    records = {s: counts[s] + (planted if s == "train" else 0) for s in ALL_SPLITS}
    table: dict[str, dict[str, collections.Counter[str]]] = {
        k: collections.defaultdict(collections.Counter) for k in ("family", "gender", "stratum")
    }
    augmented: collections.Counter[str] = collections.Counter()
    original: collections.Counter[str] = collections.Counter()
    group_counts: collections.Counter[str] = collections.Counter()
    for it, aug, s in zip(items, is_augmented, placed, strict=True):
        if s is None:
            continue
        table["family"][it.family][s] += 1
        table["gender"][it.gender][s] += 1
        augmented[s] += aug
        original[s] += not aug
    for g in plan.groups:
        group_counts[plan.split_of[g.rows[0]]] += 1
        for r in g.rows:
            if placed[r] is not None:
                table["stratum"]["/".join(g.stratum)][placed[r]] += 1
    dropped = collections.Counter(plan.dropped.values())
    originals = sum(original[s] for s in SPLITS)
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
        records_dropped=stats.records_quarantined,
        shares={s: round(counts[s] / rest, 4) if rest else 0.0 for s in SPLITS},
        groups={s: group_counts[s] for s in ALL_SPLITS},
        augmented={
            "rule": "evaluation splits (validation, test, gold) hold original records only: an "
            "augmented record goes to train with its group, or is dropped (to the quarantine) "
            "where its group is in an evaluation split",
            "records": sum(is_augmented),
            "to_train": augmented["train"],
            "dropped_with_eval_parent": len(plan.dropped),
            "dropped_by_split": {s: dropped[s] for s in ALL_SPLITS if s != "train"},
            "by_split": {s: augmented[s] for s in ALL_SPLITS},
            "original_shares": {
                s: round(original[s] / originals, 4) if originals else 0.0 for s in SPLITS
            },
        },
        by_family=per(table["family"]),
        by_gender=per(table["gender"]),
        by_stratum=per(table["stratum"]),
        canaries={
            "count": cfg.canaries.count,
            "repeats": cfg.canaries.repeats if cfg.canaries.count else 0,
            "planted_records": planted,
            "split": "train",
            "books": "records_in = records_out - canaries.planted_records + records_dropped",
        },
        gold={
            "size": records[GOLD],
            "requested": cfg.gold_size,
            "eligible": plan.gold_eligible,
            "quota_by_stratum": plan.gold_quota,
            "scaled_down": plan.gold_scaled,
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
        same_prompt=_same_prompt_metrics(items, plan),
        decontamination=decontamination or _decontamination_metrics(cfg, None, {}),
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


@dataclass
class Prepared:
    """Pass 1: what the plan needs of every record, the records dropped as near copies of a
    benchmark, and the rest renumbered for the plan."""

    ids: list[str]  # every input record's id, by input row
    hits: dict[int, Hit]  # input row -> the benchmark row it copies
    items: list[Item]  # the records planned, rows 0, 1, ...
    augmented: list[bool]  # of the records planned
    pairs: list[tuple[int, int, float]]  # near pairs among the records planned (plan rows)
    in_row: list[int]  # plan row -> input row


def load_benchmarks(cfg: SplitConfig, root: Path | None = None) -> Benchmarks | None:
    """The files of ``split.decontaminate_against`` (relative to ``root``, default the
    working directory), or None where it names none."""
    if not cfg.decontaminate_against:
        return None
    return benchmarks.load(cfg.decontaminate_against, cfg.decontamination, root or Path.cwd())


def _prepare(
    recs: Iterable[tuple[Record, str]], cfg: SplitConfig, bench: Benchmarks | None
) -> Prepared:
    """``recs``: each input record with the text its contamination check reads."""
    finder = PairFinder(cfg.contamination)
    near = NearCopies(cfg.decontamination) if bench is not None else None
    items: list[Item] = []
    augmented: list[bool] = []
    for row, (rec, text) in enumerate(recs):
        items.append(item_of(row, rec, cfg))
        augmented.append(items[-1].parent_id is not None)
        finder.add(row, text)
        if near is not None:
            near.add(row, text_of(rec, cfg.decontamination.fields))
    ids = [it.id for it in items]
    hits = near.hits(bench.rows) if near is not None and bench is not None else {}
    pairs = finder.pairs()
    if not hits:
        return Prepared(ids, hits, items, augmented, pairs, list(range(len(items))))
    if len(hits) == len(items):
        raise UserError(
            f"{STAGE}: all {len(items)} records are near copies of the benchmark files in "
            "split.decontaminate_against: nothing is left to split"
        )
    in_row = [r for r in range(len(items)) if r not in hits]
    new = {old: i for i, old in enumerate(in_row)}
    return Prepared(
        ids,
        hits,
        [dataclasses.replace(items[old], row=i) for i, old in enumerate(in_row)],
        [augmented[old] for old in in_row],
        [(new[a], new[b], s) for a, b, s in pairs if a in new and b in new],
        in_row,
    )


def _plan(prep: Prepared, cfg: SplitConfig) -> SplitPlan:
    plan = plan_split(prep.items, prep.pairs, cfg)
    if plan.gold_scaled is not None:
        g = plan.gold_scaled
        log.warning(
            "%s: the gold set has %d records, not the %d of split.gold_size: %s (the metrics "
            "say so under gold.scaled_down)",
            STAGE,
            g["to"],
            g["from"],
            g["why"],
        )
    return plan


def _ledger(
    plan: SplitPlan,
    prep: Prepared,
    canaries: Sequence[Canary] = (),
    dropped: Sequence[LedgerLine] = (),
) -> list[LedgerLine]:
    """The books' lines: records dropped (input order), records moved (by the contamination
    or the same-prompt rule, input order), canaries planted."""
    ids = [it.id for it in prep.items]
    by_key = {g.key: g for g in plan.groups}
    sizes = {g.key: len(g.rows) for g in plan.groups}
    moved = [(m.row, ledger_entry(m, ids, sizes[m.group], prep.in_row[m.row])) for m in plan.moves]
    moved += [(j.row, join_entry(j, ids, by_key[j.group], prep.in_row[j.row])) for j in plan.joins]
    moved.sort(key=lambda x: x[0])
    return [*dropped, *(line for _, line in moved), *canary_ledger(canaries)]


def _finish(
    prep: Prepared,
    plan: SplitPlan,
    cfg: SplitConfig,
    bench: Benchmarks | None,
    planted: int = 0,
) -> tuple[StageStats, dict[str, Any]]:
    stats = StageStats(
        records_in=len(prep.ids),
        records_kept=len(plan.split_of) - len(plan.dropped),
        records_quarantined=len(prep.hits) + len(plan.dropped),
    )
    if prep.hits:
        stats.quarantined_by_rule[DECONTAMINATION_RULE] = len(prep.hits)
    if plan.dropped:
        stats.quarantined_by_rule[AUGMENTED_RULE] = len(plan.dropped)
    stats.changed_by_rule[RULE] = len(plan.moves)
    stats.changed_by_rule[SAME_PROMPT_RULE] = len(plan.joins)
    decon = _decontamination_metrics(cfg, bench, prep.hits)
    return stats, build_metrics(
        prep.items, prep.augmented, plan, stats, cfg, planted, decontamination=decon
    )


def _placement(prep: Prepared, plan: SplitPlan) -> list[tuple[str | None, int | None]]:
    """Each input row's split (None: dropped) and its row in the plan (None: dropped as a
    near copy of a benchmark, before the plan)."""
    out: list[tuple[str | None, int | None]] = [(None, None)] * len(prep.ids)
    for prow, row in enumerate(prep.in_row):
        out[row] = (plan.placed(prow), prow)
    return out


def _drop_line(
    rec: Record, row: int, prow: int | None, prep: Prepared, plan: SplitPlan, cfg: SplitConfig
) -> LedgerLine:
    """Why a record is not written: a near copy of a benchmark, or an augmented record whose
    group is in an evaluation split."""
    if prow is None:
        return dropped_entry(rec, row, prep.hits[row], cfg)
    return augmented_entry(rec, row, plan.dropped[prow], plan, prow)


def split_records(
    records: Sequence[Record], cfg: SplitConfig, *, root: Path | None = None
) -> StageResult:
    """Split records held in memory (the same plan as :func:`run`).

    Every input record is ``kept`` (in input order) but those dropped as near copies of a
    benchmark (read from ``split.decontaminate_against`` relative to ``root``) and the
    augmented records whose group is in an evaluation split (``rejected``, in input order);
    the ledger says which were dropped, which moved and which canaries were planted;
    ``detail`` (:class:`SplitDetail`) holds each split's records and the plan."""
    bench = load_benchmarks(cfg, root)
    prep = _prepare(((rec, text_of(rec, cfg.fields)) for rec in records), cfg, bench)
    plan = _plan(prep, cfg)
    canaries = make_canaries(cfg.canaries)
    planted = _canary_records(canaries, prep.ids)
    splits: dict[str, list[Record]] = {s: [] for s in ALL_SPLITS}
    kept: list[Record] = []
    dropped: list[LedgerLine] = []
    for row, (s, prow) in enumerate(_placement(prep, plan)):
        if s is None:
            dropped.append(_drop_line(records[row], row, prow, prep, plan, cfg))
        else:
            splits[s].append(records[row])
            kept.append(records[row])
    splits["train"] += planted
    stats, metrics = _finish(prep, plan, cfg, bench, len(planted))
    return StageResult(
        kept=kept,
        rejected=[quarantine_entry(**line, record=records[line["row"]]) for line in dropped],
        ledger=_ledger(plan, prep, canaries, dropped),
        stats=stats,
        metrics=metrics,
        detail=SplitDetail(splits, plan),
    )


def _scan(inp: Path, cfg: SplitConfig, total: int | None) -> Iterator[tuple[Record, str]]:
    bar = progress(total=total, desc=f"{STAGE}: group+index", unit=" rec", unit_scale=True)
    for batch in read_records(inp, batch_size=cfg.chunk_size):
        for rec in batch:
            yield rec, text_of(rec, cfg.fields)
        bar.update(len(batch))
    bar.close()


def run(
    inp: Path,
    cfg: SplitConfig,
    *,
    out: dict[str, Path],
    ledger: Path,
    quarantine: Path | None = None,
    metrics: Path | None = None,
    root: Path | None = None,
) -> dict[str, Any]:
    """Split a record file into ``out[train|validation|test|gold]``; write ledger, quarantine
    (default: ``<ledger stem>.quarantine.jsonl`` beside the ledger) and metrics.

    Benchmark files (``split.decontaminate_against``) are read first, relative to ``root``
    (default: the working directory, the project root for the stage). Pass 1 keeps only what
    the plan needs (ids, parents, strata, prompt hashes; signatures in the LSH indexes); pass
    2 streams each record into its split's file, in input order, or into the quarantine.
    """
    missing = [s for s in ALL_SPLITS if s not in out]
    if missing:
        raise ValueError(f"no output path for {missing}")
    quarantine = quarantine or ledger.with_name(f"{ledger.stem}.quarantine.jsonl")
    bench = load_benchmarks(cfg, root)
    total = pq.ParquetFile(inp).metadata.num_rows if inp.suffix == ".parquet" else None
    prep = _prepare(_scan(inp, cfg, total), cfg, bench)
    plan = _plan(prep, cfg)
    ids = prep.ids
    where = _placement(prep, plan)
    canaries = make_canaries(cfg.canaries)
    planted = _canary_records(canaries, ids)
    stats, summary = _finish(prep, plan, cfg, bench, len(planted))
    dropped: list[LedgerLine] = []
    writers = {s: RecordWriter(out[s]) for s in ALL_SPLITS}
    ok = False
    try:
        with LinesWriter(quarantine) as qw:
            bar = progress(total=len(ids), desc=f"{STAGE}: write", unit=" rec", unit_scale=True)
            row = 0
            for batch in read_records(inp, batch_size=cfg.chunk_size):
                by_split: dict[str, list[Record]] = {s: [] for s in ALL_SPLITS}
                rejected: list[QuarantineEntry] = []
                for rec in batch:
                    if rec["id"] != ids[row]:
                        raise UserError(f"{STAGE}: {inp} changed while it was read (row {row})")
                    s, prow = where[row]
                    if s is None:
                        line = _drop_line(rec, row, prow, prep, plan, cfg)
                        dropped.append(line)
                        rejected.append(quarantine_entry(**line, record=rec))
                    else:
                        by_split[s].append(rec)
                    row += 1
                for s, recs in by_split.items():
                    writers[s].write(recs)
                qw.write(rejected)
                bar.update(len(batch))
            bar.close()
            writers["train"].write(planted)  # after the input's records: their order is unchanged
            ok = True
    finally:
        for w in writers.values():
            w.close(ok=ok)
    written = sum(w.count for w in writers.values())
    if written + len(dropped) != stats.records_in + len(planted):
        raise AssertionError(
            f"{STAGE}: {stats.records_in} records in and {len(planted)} canaries planted, "
            f"{written} written and {len(dropped)} dropped"
        )
    with LinesWriter(ledger) as lw:
        lw.write(_ledger(plan, prep, canaries, dropped))
    if metrics is not None:
        write_json(metrics, summary)
    c, sp, d = summary["contamination"], summary["same_prompt"], summary["decontamination"]
    a = summary["augmented"]
    log.info(
        "%s: %s; contamination pairs found %d, resolved %d (%d records moved); %d records "
        "moved to stay with a shared prompt; %d dropped as near copies of a benchmark; %d "
        "augmented records in train, %d dropped (their group is in an evaluation split); %d "
        "canary records planted in train",
        STAGE,
        ", ".join(f"{s} {n}" for s, n in summary["records"].items()),
        c["pairs_found"],
        c["pairs_resolved"],
        c["records_moved"],
        sp["records_moved"],
        d["records_dropped"],
        a["to_train"],
        a["dropped_with_eval_parent"],
        len(planted),
    )
    return summary
