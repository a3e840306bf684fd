"""The split stage: determinism, stratification, groups kept whole, gold held out, contamination."""

from __future__ import annotations

import collections
import json
import random

import pyarrow.parquet as pq
import pytest
import yaml

from provena import split
from provena.canary import CANARY_PREFIX
from provena.config import (
    ConfigError,
    DecontaminationConfig,
    SplitConfig,
    load_params,
    parse_params,
)
from provena.errors import UserError
from provena.io import file_md5, read_jsonl, read_records
from provena.split.canaries import make_canaries
from tests.conftest import ROOT, load_tiny
from tests.factory import record
from tests.factory import write_records as _write

VOCAB = [f"w{i}" for i in range(5_000)]
STRATA = [  # (family, gender, originals)
    ("clinical_extraction", "male", 500),
    ("clinical_extraction", "female", 250),
    ("support_reply", "male", 450),
    ("support_reply", "female", 300),
    ("support_reply", "nonbinary", 20),
]


def _text(rng: random.Random, n: int = 40) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def _edit(text: str, k: int = 1) -> str:
    """A near-copy: the last k words replaced (estimated Jaccard about 0.9 on 3-grams)."""
    words = text.split()
    return " ".join(words[:-k] + [f"edit{i}" for i in range(k)])


def dataset(seed: int = 0, child_share: float = 0.4):
    """Originals in five (family, gender) strata; some get one or two near-copy children, as
    augment makes them. Texts are random words, so no two groups are near-duplicates."""
    rng = random.Random(seed)
    recs = []
    for family, gender, n in STRATA:
        for _ in range(n):
            meta = {"family": family, "gender": gender, "age_band": "30-44"}
            parent = record(
                source="t", instruction="Do it.", input=_text(rng), output=_text(rng), meta=meta
            )
            recs.append(parent)
            if rng.random() < child_share:
                for k in range(rng.choice((1, 2))):
                    child = record(
                        source="t",
                        instruction="Do it.",
                        input=_edit(parent["input"], k + 1),
                        output=parent["output"],
                        meta={**meta, "gender": "female"},
                        parent_id=parent["id"],
                        op="counterfactual:gender=female",
                    )
                    recs.append(child)
    return recs


CFG = SplitConfig(gold_size=150)


@pytest.fixture(scope="module")
def records():
    return dataset()


@pytest.fixture(scope="module")
def result(records):
    return split.split_records(records, CFG)


def _where(res) -> dict[str, str]:
    """Each written record's split."""
    return {r["id"]: s for s, recs in res.detail.splits.items() for r in recs}


def _placed(res, records) -> dict[str, str]:
    """Each input record's group's split, a dropped augmented record's too (no benchmark)."""
    return {r["id"]: s for r, s in zip(records, res.detail.plan.split_of, strict=True)}


def _run(tmp_path, inp, cfg=CFG, name="out"):
    out = {s: tmp_path / name / f"{s}.parquet" for s in split.ALL_SPLITS}
    metrics = split.run(
        inp,
        cfg,
        out=out,
        ledger=tmp_path / name / "split.jsonl",
        metrics=tmp_path / name / "split.json",
    )
    return out, metrics


# ------------------------------------------------------------------------------ config


def test_model_defaults_match_the_shipped_params():
    assert SplitConfig().model_dump() == load_params(ROOT / "params.yaml").split.model_dump()


def test_shares_must_sum_to_one_and_gold_size_stay_in_range():
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["split"]["shares"] = {"train": 0.8, "validation": 0.2, "test": 0.1}
    data["split"]["gold_size"] = 50
    with pytest.raises(ConfigError) as err:
        parse_params(data)
    text = str(err.value)
    assert "split.shares = " in text and "the shares must sum to 1" in text
    assert "split.gold_size = 50: Input should be greater than or equal to 100" in text


def test_a_gold_set_too_large_for_the_input_is_capped_with_a_warning(records, caplog):
    with caplog.at_level("WARNING", logger="provena.split"):
        m = split.split_records(records[:560], CFG).metrics
    assert m["gold"]["size"] == 140 == int(0.25 * 560) and m["gold"]["requested"] == 150
    assert m["gold"]["scaled_down"] == {
        "from": 150,
        "to": 140,
        "why": "split.max_gold_share = 0.25 of the 560 input records is 140",
        "gold_size_in_params": True,
    }
    assert "the gold set has 140 records, not the 150 of split.gold_size" in caplog.text
    # as asked where it fits: nothing said
    assert split.split_records(records, CFG).metrics["gold"]["scaled_down"] is None
    with pytest.raises(UserError, match="the input holds no records"):
        split.split_records([], CFG)


# ------------------------------------------------------------------------------ the splits


def test_same_input_gives_byte_identical_outputs(tmp_path, records):
    inp = _write(tmp_path / "in.parquet", records)
    a, _ = _run(tmp_path, inp, name="a")
    b, _ = _run(tmp_path, inp, name="b")
    for s in split.ALL_SPLITS:
        assert a[s].read_bytes() == b[s].read_bytes(), s
    for f in ("split.jsonl", "split.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    other = split.split_records(records, CFG.model_copy(update={"seed": 1}))
    assert _where(other) != _where(split.split_records(records, CFG))  # the seed matters


def test_every_stratum_gets_the_shares_of_its_original_records(result):
    originals = collections.defaultdict(collections.Counter)
    for s, recs in result.detail.splits.items():
        for r in recs:
            if r["parent_id"] is None and r["op"] != "canary":
                originals[(r["meta"]["family"], r["meta"]["gender"])][s] += 1
    for family, gender, n in STRATA:
        counts = originals[(family, gender)]
        rest = sum(counts[s] for s in split.SPLITS)
        for s in split.SPLITS:
            share = counts[s] / rest
            want = getattr(CFG.shares, s)
            tol = 0.005 if n >= 200 else 0.1  # a stratum of 20 groups cannot cut finer
            assert abs(share - want) <= tol, (family, gender, s, share)
    m = result.metrics
    assert m["augmented"]["original_shares"] == pytest.approx(
        {"train": 0.8, "validation": 0.1, "test": 0.1}, abs=0.002
    )
    # the shares of what the files hold: train holds the augmented records evaluation cannot
    rest = sum(m["records"][s] for s in split.SPLITS) - 32
    assert m["shares"]["train"] == round((m["records"]["train"] - 32) / rest, 4) > 0.85


def test_evaluation_splits_hold_no_augmented_record(result):
    for s in ("validation", "test", "gold"):
        recs = result.detail.splits[s]
        assert len(recs) > 100 and all(r["parent_id"] is None and r["op"] is None for r in recs)
    m = result.metrics["augmented"]
    assert m["by_split"] == {"train": m["to_train"], "validation": 0, "test": 0, "gold": 0}


def test_children_train_with_their_parent_or_are_dropped_with_a_ledger_line(result, records):
    where, placed = _where(result), _placed(result, records)
    children = [r for r in records if r["parent_id"]]
    assert len(children) > 300
    with_train_parent = [c for c in children if where[c["parent_id"]] == "train"]
    with_eval_parent = [c for c in children if where[c["parent_id"]] != "train"]
    assert all(where[c["id"]] == "train" for c in with_train_parent)
    assert not {c["id"] for c in with_eval_parent} & set(where)  # written nowhere
    assert {where[c["parent_id"]] for c in with_eval_parent} == {"validation", "test"}
    # each dropped child: a quarantine entry with the record and a ledger line naming why
    lines = {e["id"]: e for e in result.ledger if e["rule"] == "augmented_in_evaluation"}
    rejected = {e["id"]: e for e in result.rejected}
    assert set(lines) == set(rejected) == {c["id"] for c in with_eval_parent}
    for c in with_eval_parent:
        e = lines[c["id"]]
        assert e["action"] == "quarantined" and e["parent_id"] == c["parent_id"]
        assert e["from_split"] == placed[c["id"]] == where[c["parent_id"]]
        assert e["group"] == c["parent_id"] and e["source"] == c["source"]
        assert f"made from {c['parent_id']}" in e["reason"]
        assert f"is in {e['from_split']}: evaluation splits hold original records" in e["reason"]
        assert rejected[c["id"]]["record"] == c
        assert {k: v for k, v in rejected[c["id"]].items() if k != "record"}.items() <= {
            **e,
            "stage": "split",
        }.items()
    # counted in the metrics, the books balance
    m = result.metrics
    dropped = collections.Counter(placed[c["id"]] for c in with_eval_parent)
    assert m["augmented"] | {"rule": None} == {
        "rule": None,
        "records": len(children),
        "to_train": len(with_train_parent),
        "dropped_with_eval_parent": len(with_eval_parent),
        "dropped_by_split": {
            "validation": dropped["validation"],
            "test": dropped["test"],
            "gold": 0,
        },
        "by_split": {"train": len(with_train_parent), "validation": 0, "test": 0, "gold": 0},
        "original_shares": m["augmented"]["original_shares"],
    }
    assert m["records_dropped"] == m["records_quarantined"] == len(with_eval_parent)
    assert m["quarantined_by_rule"] == {"augmented_in_evaluation": len(with_eval_parent)}
    assert m["records_in"] == m["records_out"] - 32 + m["records_dropped"] == len(records)


def test_a_group_with_no_original_record_goes_to_train():
    # the pure core: children whose parent is not in the input are never evaluated on
    items = [split.Item(row=i, id=f"r{i}", parent_id=None, stratum=("s",)) for i in range(300)]
    items += [
        split.Item(row=300 + i, id=f"c{i}", parent_id=f"gone{i % 20}", stratum=("s",))
        for i in range(60)
    ]
    plan = split.plan_split(items, [], CFG.model_copy(update={"gold_size": 0}))
    assert {plan.split_of[r] for r in range(300, 360)} == {"train"} and not plan.dropped
    kept = collections.Counter(plan.split_of[:300])
    assert kept == {"train": 240, "validation": 30, "test": 30}


def test_gold_is_stratified_original_and_has_no_relative_elsewhere(result, records):
    gold = result.detail.splits["gold"]
    assert len(gold) == CFG.gold_size == result.metrics["gold"]["size"]
    parents = {r["parent_id"] for r in records if r["parent_id"]}
    assert all(r["parent_id"] is None and r["op"] is None for r in gold)
    assert not parents & {r["id"] for r in gold}  # no twin of a gold record anywhere
    originals = collections.Counter(
        (r["meta"]["family"], r["meta"]["gender"]) for r in records if not r["parent_id"]
    )
    got = collections.Counter((r["meta"]["family"], r["meta"]["gender"]) for r in gold)
    total = sum(originals.values())
    for key, n in originals.items():
        assert abs(got[key] - CFG.gold_size * n / total) < 1, key


def test_books_balance_and_files_hold_what_the_metrics_say(tmp_path, records):
    inp = _write(tmp_path / "in.parquet", records)
    out, m = _run(tmp_path, inp)
    planted = CFG.canaries.count * CFG.canaries.repeats
    assert planted == 32 and m["canaries"]["planted_records"] == planted
    dropped = m["augmented"]["dropped_with_eval_parent"]
    assert m["records_in"] == len(records) and dropped > 100
    assert m["records_out"] == sum(m["records"].values()) == len(records) + planted - dropped
    assert m["records_dropped"] == dropped  # no benchmark named: only augmented records
    assert m["records_in"] == m["records_out"] - planted + m["records_dropped"]
    seen = []
    for s, path in out.items():
        assert pq.ParquetFile(path).metadata.num_rows == m["records"][s]
        seen += [r["id"] for b in read_records(path) for r in b]
    quarantine = list(read_jsonl(tmp_path / "out" / "split.quarantine.jsonl"))
    assert len(quarantine) == dropped and all(q["record"]["parent_id"] for q in quarantine)
    ledger = [e for e in read_jsonl(tmp_path / "out" / "split.jsonl") if e["rule"] != "canary"]
    assert [e["id"] for e in ledger] == [q["id"] for q in quarantine]  # in input order
    canary_ids = [r["id"] for c in make_canaries(CFG.canaries) for r in c.records]
    lost = [q["record"]["id"] for q in quarantine]
    assert sorted(seen + lost) == sorted([r["id"] for r in records] + canary_ids)
    on_disk = json.loads((tmp_path / "out" / "split.json").read_text())
    assert on_disk == json.loads(json.dumps(m))
    assert m["contamination"]["pairs_found"] == 0  # random texts: no near-copies across groups
    assert m["contamination"]["within_group_pairs"] > 300  # children are near their parents


# ------------------------------------------------------------------------------ contamination


def _plant(records, res, src_split, dst_split, *, with_children=True):
    """Make a `dst_split` record a near-copy of a `src_split` one of another group, keeping
    its id (so its place in the hash order, and thus its initial split, does not change)."""
    where = _placed(res, records)
    has_kids = {r["parent_id"] for r in records if r["parent_id"]}

    def pick(s, kids):
        return next(
            r
            for r in records
            if where[r["id"]] == s and not r["parent_id"] and (r["id"] in has_kids) == kids
        )

    x, y = pick(src_split, False), pick(dst_split, with_children)
    planted = [
        {**r, "input": _edit(x["input"]), "output": x["output"]} if r["id"] == y["id"] else r
        for r in records
    ]
    return planted, x, y


def test_a_near_copy_across_splits_moves_the_evaluation_side_group_into_train(
    tmp_path, records, result
):
    planted, x, y = _plant(records, result, "train", "test")
    family = [r["id"] for r in planted if r["id"] == y["id"] or r["parent_id"] == y["id"]]
    assert len(family) >= 2  # y has augmented children: they must move with it
    inp = _write(tmp_path / "in.parquet", planted)
    out, m = _run(tmp_path, inp)
    c = m["contamination"]
    assert c["pairs_found"] == c["pairs_resolved"] == 1
    assert c["pairs_by_splits"] == {"train~test": 1}
    assert c["groups_moved"] == 1 and c["records_moved"] == len(family)
    assert c["records_moved_by_splits"] == {"test->train": len(family)}
    train = {r["id"] for b in read_records(out["train"]) for r in b}
    assert set(family) <= train and x["id"] in train
    ledger = [e for e in read_jsonl(tmp_path / "out" / "split.jsonl") if e["action"] == "moved"]
    assert sorted(e["id"] for e in ledger) == sorted(family)
    for e in ledger:
        assert e["action"] == "moved" and e["rule"] == "contamination"
        assert (e["from_split"], e["to_split"], e["other_id"]) == ("test", "train", x["id"])
        assert e["via_id"] == y["id"] and e["similarity"] >= 0.7
        assert x["id"] in e["reason"] and "moved from test to train" in e["reason"]
    assert m["records_dropped"] == m["augmented"]["dropped_with_eval_parent"]  # none moved


def test_a_near_copy_between_evaluation_sets_goes_to_validation(records, result):
    planted, x, y = _plant(records, result, "validation", "test", with_children=False)
    res = split.split_records(planted, CFG)
    assert _where(res)[y["id"]] == _where(res)[x["id"]] == "validation"
    assert res.metrics["contamination"]["pairs_by_splits"] == {"validation~test": 1}
    moved = [(e["id"], e["other_id"]) for e in res.ledger if e["action"] == "moved"]
    assert moved == [(y["id"], x["id"])]


def test_a_near_duplicate_never_enters_gold(records, result):
    gold_ids = [r["id"] for r in result.detail.splits["gold"]]
    g = next(r for r in records if r["id"] == gold_ids[0])
    twin = record(
        source="t",
        instruction="Do it.",
        input=_edit(g["input"]),
        output=g["output"],
        meta=g["meta"],
    )
    res = split.split_records([*records, twin], CFG)
    where = _where(res)
    assert where[g["id"]] != "gold" and where[g["id"]] == where[twin["id"]]
    assert len(res.detail.splits["gold"]) == CFG.gold_size  # refilled from the same stratum
    assert res.metrics["contamination"]["cross_group_pairs"] == 1


def test_a_chain_of_near_copies_moves_whole_to_its_most_training_side_split():
    # the pure core on hand-made items: groups 0 (test) ~ 1 (validation) ~ 2 (train)
    items = [split.Item(row=i, id=f"r{i}", parent_id=None, stratum=("s",)) for i in range(200)]
    cfg = CFG.model_copy(update={"gold_size": 0})
    free = split.plan_split(items, [], cfg).split_of
    a = free.index("test")
    b = free.index("validation")
    c = free.index("train")
    plan = split.plan_split(items, [(a, b, 0.8), (b, c, 0.75)], cfg)
    assert plan.split_of[a] == plan.split_of[b] == plan.split_of[c] == "train"
    moves = {m.row: m for m in plan.moves}
    assert set(moves) == {a, b}
    assert moves[b].other_row == c  # b's own partner already in train is named first
    assert moves[a].other_row == b  # a reaches train only through b


# ------------------------------------------------------------------------------ canaries


def test_canaries_are_planted_in_train_only_with_a_ledger_line_each(tmp_path, records):
    inp = _write(tmp_path / "in.parquet", records)
    out, m = _run(tmp_path, inp)
    on_disk = {s: [r for b in read_records(p) for r in b] for s, p in out.items()}
    canaries = make_canaries(CFG.canaries)
    planted = [r for c in canaries for r in c.records]
    for s in ("validation", "test", "gold"):
        assert not [r for r in on_disk[s] if r["meta"].get("family") == "canary"], s
    # appended after the input's train records, each copy with its own id
    assert on_disk["train"][-32:] == planted
    assert len({r["id"] for r in planted}) == 32
    r = on_disk["train"][-1]
    assert r["meta"] == {"family": "canary", "canary": 7, "copy": 3}
    assert (r["op"], r["parent_id"], r["input"]) == ("canary", None, "")
    assert r["output"] == f"{CANARY_PREFIX} {canaries[7].secret}."
    ledger = [e for e in read_jsonl(tmp_path / "out" / "split.jsonl") if e["action"] == "planted"]
    assert [e["id"] for e in ledger] == [r["id"] for r in planted]
    assert ledger[0] == {
        "id": planted[0]["id"],
        "stage": "split",
        "action": "planted",
        "rule": "canary",
        "reason": "privacy canary (split.canaries)",
        "to_split": "train",
        "canary": 0,
        "copy": 0,
    }
    assert not any(c.secret in json.dumps(e) for e in ledger for c in canaries)
    assert m["canaries"] == {
        "count": 8,
        "repeats": 4,
        "planted_records": 32,
        "split": "train",
        "books": "records_in = records_out - canaries.planted_records + records_dropped",
    }
    # shares, groups and the tables count input records only
    assert sum(m["groups"].values()) == len(split.split_records(records, CFG).detail.plan.groups)
    assert "canary" not in m["by_family"]
    assert sum(v["train"] for v in m["by_family"].values()) == m["records"]["train"] - 32


def test_canaries_are_deterministic_and_keyed_by_their_seed(records):
    a = make_canaries(CFG.canaries)
    assert a == make_canaries(CFG.canaries)
    assert [c.index for c in a] == list(range(8))
    assert all(len(c.secret) == 10 and c.secret.isdigit() for c in a)
    assert len({c.secret for c in a}) == len({c.instruction for c in a}) == 8
    other = make_canaries(CFG.canaries.model_copy(update={"seed": 1}))
    assert {c.secret for c in other}.isdisjoint(c.secret for c in a)
    long = make_canaries(CFG.canaries.model_copy(update={"count": 2, "repeats": 1, "digits": 16}))
    assert [len(c.secret) for c in long] == [16, 16] and len(long[0].records) == 1


def test_canaries_take_no_part_in_the_plan_and_none_are_planted_at_count_zero(records):
    none = CFG.model_copy(update={"canaries": CFG.canaries.model_copy(update={"count": 0})})
    bare = split.split_records(records, none)
    res = split.split_records(records, CFG)
    # the same assignment with or without them
    assert bare.detail.plan.split_of == res.detail.plan.split_of
    assert bare.metrics["records_out"] == len(records) - bare.metrics["records_dropped"]
    assert bare.metrics["canaries"]["planted_records"] == 0
    assert not [e for e in bare.ledger if e["action"] == "planted"]
    assert res.detail.splits["train"][:-32] == bare.detail.splits["train"]
    assert res.metrics["contamination"] == bare.metrics["contamination"]
    assert res.metrics["shares"] == bare.metrics["shares"]


def test_an_input_that_already_holds_canaries_is_refused(records):
    canary = make_canaries(CFG.canaries)[0].records[0]
    with pytest.raises(UserError, match=r"the input already holds canary records .*fed back in"):
        split.split_records([*records, canary], CFG)


# ------------------------------------------------------------------------------ same prompt


def _answered_twice(records, every: int = 3):
    """Every ``every``-th original gets a second answer: the same instruction and input (in
    other case and spacing for half of them, other punctuation for a third), another output, and no parent_id: a separate
    record, as a second model's answer to the same question is."""
    rng = random.Random(7)
    originals = [r for r in records if r["parent_id"] is None][::every]
    extra = []
    for i, r in enumerate(originals):
        instruction, input_ = r["instruction"], r["input"]
        if i % 2:
            instruction, input_ = instruction.upper(), "  " + input_.replace(" ", "\n ") + " "
        if i % 3 == 1:  # other punctuation
            instruction = instruction.rstrip(".?!:") + " ?!"
            input_ = input_.replace(" ", ", ", 3) + "..."
        extra.append(
            record(
                source="t2",
                instruction=instruction,
                input=input_,
                output=_text(rng),
                meta=r["meta"],
            )
        )
    return [*records, *extra], list(zip(originals, extra, strict=True))


def test_records_with_the_same_instruction_and_input_land_in_one_split(tmp_path, records):
    data, twins = _answered_twice(records)
    inp = _write(tmp_path / "in.parquet", data)
    out, m = _run(tmp_path, inp)
    where = {r["id"]: s for s, p in out.items() for b in read_records(p) for r in b}
    assert all(where[a["id"]] == where[b["id"]] for a, b in twins)
    assert {where[a["id"]] for a, _ in twins} == set(split.ALL_SPLITS)  # pairs in gold too
    assert all(a["output"] != b["output"] for a, b in twins)
    sp = m["same_prompt"]
    assert sp["groups_joined"] == sp["prompts_shared"] == len(twins)
    assert sp["records_in_joined_groups"] > 2 * len(twins)  # the originals' children come too
    # without the rule, about half the pairs would have been cut: the rule did the work
    plan = split.split_records(data, CFG).detail.plan
    ids = [r["id"] for r in data]
    alone = dict(zip(ids, plan.alone, strict=True))
    placed = dict(zip(ids, plan.split_of, strict=True))  # a dropped child's: its group's
    assert all(placed[i] == s for i, s in where.items() if i in placed)
    cut = sum(alone[a["id"]] != alone[b["id"]] for a, b in twins)
    assert cut == sp["groups_kept_together"] > len(twins) // 4
    # every record of a joined group placed elsewhere than on its own has a ledger line saying
    # why, and no other (the cut moves a few others too: that is the plan, not the rule)
    ledger = [e for e in read_jsonl(tmp_path / "out" / "split.jsonl") if e["rule"] == "same_prompt"]
    assert len(ledger) == sp["records_moved"] == m["changed_by_rule"]["same_prompt"] > 0
    joined = {ids[r] for g in plan.groups if g.parts for r in g.rows}
    assert sorted(e["id"] for e in ledger) == sorted(i for i in joined if alone[i] != placed[i])
    assert sum(sp["records_moved_by_splits"].values()) == len(ledger)
    twin_of = {a["id"]: b["id"] for a, b in twins} | {b["id"]: a["id"] for a, b in twins}
    for e in ledger:
        assert e["action"] == "moved" and e["to_split"] == placed[e["id"]]
        assert e["from_split"] == alone[e["id"]] != e["to_split"]
        if e["id"] in twin_of:
            assert e["other_id"] == twin_of[e["id"]]
            assert (
                "same instruction and input (ignoring case, whitespace and punctuation)"
                in (e["reason"])
            )
    # the shares still hold: groups are placed whole before the cut, not moved after it
    for s, share in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
        assert abs(m["augmented"]["original_shares"][s] - share) < 0.01, s
    assert m["gold"]["size"] == CFG.gold_size
    assert m["records_in"] == m["records_out"] - 32 + m["records_dropped"]
    assert m["records_dropped"] == m["augmented"]["dropped_with_eval_parent"]


def test_a_shared_prompt_joins_near_duplicate_clusters_too(records, result):
    """A record that shares a prompt with one group and is a near copy of another: all three
    end in one split (the same-prompt join, then the contamination rule on the joined group)."""
    planted, x, y = _plant(records, result, "train", "test", with_children=False)
    z = next(r for r in records if _where(result)[r["id"]] == "validation" and not r["parent_id"])
    sibling = record(source="t2", instruction=z["instruction"], input=z["input"], output="Other.")
    near = record(
        source="t2", instruction="Do it.", input=_edit(sibling["input"]), output=x["output"]
    )
    res = split.split_records([*planted, sibling, near], CFG)
    where = _where(res)
    assert where[x["id"]] == where[y["id"]] == "train"
    assert where[z["id"]] == where[sibling["id"]] == where[near["id"]]


# ------------------------------------------------------------------------------ benchmarks


def _benchmarks(root, records):
    """Benchmark files under ``root/bench``: near copies of some records' prompts in three
    shapes (alpaca JSONL, a CSV with a `question` column, chat JSONL), rows no record copies,
    and a README the glob passes over. Returns {record id: (file, line)} of the copies."""
    rng = random.Random(3)
    bench = root / "bench"
    bench.mkdir()
    picked = [r for r in records if r["parent_id"] is None][5:65:4]
    copies = {}
    lines = []
    for i, r in enumerate(picked[:5]):
        lines.append({"instruction": r["instruction"], "input": _edit(r["input"]), "output": "?"})
        copies[r["id"]] = ("bench/alpaca.jsonl", len(lines))
        lines.append({"instruction": "Say it.", "input": _text(rng), "output": f"{i}"})
    (bench / "alpaca.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows = ["question,answer"]
    for r in picked[5:10]:
        rows.append(f'"{r["instruction"]} {_edit(r["input"], 2)}",42')
        copies[r["id"]] = ("bench/qa.csv", len(rows))
    (bench / "qa.csv").write_text("\n".join(rows) + "\n")
    chats = []
    for r in picked[10:15]:
        msgs = [
            {"role": "system", "content": r["instruction"]},
            {"role": "user", "content": r["input"]},
            {"role": "assistant", "content": _text(rng)},
        ]
        chats.append(json.dumps({"messages": msgs}))
        copies[r["id"]] = ("bench/chat.jsonl", len(chats))
    (bench / "chat.jsonl").write_text("\n".join(chats) + "\n")
    (bench / "README.md").write_text("# not a benchmark\n")
    return copies


def test_records_that_copy_a_benchmark_are_dropped_with_the_file_and_line(tmp_path, records):
    copies = _benchmarks(tmp_path, records)
    children = {r["id"] for r in records if r["parent_id"] in copies}
    cfg = CFG.model_copy(update={"decontaminate_against": ["bench/*"]})
    inp = _write(tmp_path / "in.parquet", records)
    out = {s: tmp_path / "out" / f"{s}.parquet" for s in split.ALL_SPLITS}
    q = tmp_path / "out" / "quarantine.jsonl"
    m = split.run(
        inp, cfg, out=out, ledger=tmp_path / "out" / "split.jsonl", quarantine=q, root=tmp_path
    )
    everything = list(read_jsonl(q))
    quarantined = [e for e in everything if e["rule"] != "augmented_in_evaluation"]
    aug = {e["id"] for e in everything if e["rule"] == "augmented_in_evaluation"}
    dropped = {e["id"] for e in quarantined}
    # the copies go; a child is an edit of its parent's prompt, so a child of a copy may too
    assert set(copies) <= dropped <= set(copies) | children
    for e in quarantined:
        assert e["stage"] == "split" and e["rule"] == "decontamination"
        assert e["record"]["id"] == e["id"] and e["similarity"] >= 0.7
        if e["id"] in copies:
            file, line = copies[e["id"]]
            assert (e["benchmark"], e["benchmark_line"]) == (file, line)
            assert f"{file} line {line}" in e["reason"]
        assert "split.decontaminate_against" in e["reason"]
    ledger = [
        e for e in read_jsonl(tmp_path / "out" / "split.jsonl") if e["action"] == "quarantined"
    ]
    assert [e["id"] for e in ledger] == [e["id"] for e in everything]  # in input order
    assert all("record" not in e for e in ledger)
    # everything else is split as before: nothing lost, nothing dropped twice
    written = [r["id"] for p in out.values() for b in read_records(p) for r in b]
    kept = [r["id"] for r in records if r["id"] not in dropped | aug]
    canary_ids = [r["id"] for c in make_canaries(cfg.canaries) for r in c.records]
    assert sorted(written) == sorted(kept + canary_ids) and not dropped & aug
    assert m["records_in"] == len(records)
    assert m["records_quarantined"] == len(dropped) + len(aug) == m["records_dropped"]
    assert m["quarantined_by_rule"] == {
        "decontamination": len(dropped),
        "augmented_in_evaluation": len(aug),
    }
    assert m["records_in"] == m["records_out"] - 32 + m["records_dropped"]
    d = m["decontamination"]
    assert d["records_dropped"] == len(dropped) and d["against"] == ["bench/*"]
    assert d["dropped_by_file"]["bench/qa.csv"] >= 5
    assert [f.get("path") for f in d["files"][:3]] == [
        "bench/alpaca.jsonl",
        "bench/chat.jsonl",
        "bench/qa.csv",
    ]
    assert d["files"][0]["md5"] == file_md5(tmp_path / "bench" / "alpaca.jsonl")
    assert d["files"][0]["rows"] == 10 and d["benchmark_rows"] == 20
    assert d["files"][3] == {"skipped": ["bench/README.md"], "why": "not a format ingest reads"}


def test_an_empty_benchmark_list_changes_nothing(tmp_path, records):
    inp = _write(tmp_path / "in.parquet", records)
    a, ma = _run(tmp_path, inp, name="a")
    b, mb = _run(tmp_path, inp, CFG.model_copy(update={"decontaminate_against": []}), name="b")
    for s in split.ALL_SPLITS:
        assert a[s].read_bytes() == b[s].read_bytes(), s
    assert ma == mb and ma["decontamination"]["records_dropped"] == 0
    quarantine = list(read_jsonl(tmp_path / "b" / "split.quarantine.jsonl"))
    assert {q["rule"] for q in quarantine} == {"augmented_in_evaluation"}


def test_a_benchmark_that_cannot_be_read_stops_the_stage_naming_file_and_line(tmp_path, records):
    def run(patterns):
        cfg = CFG.model_copy(update={"decontaminate_against": patterns})
        return split.split_records(records[:50], cfg, root=tmp_path)

    with pytest.raises(UserError, match=r"'nothere/\*.jsonl' matches no file or folder"):
        run(["nothere/*.jsonl"])
    (tmp_path / "bad.jsonl").write_text('{"instruction": "Fine."}\n{"instruction": \n')
    with pytest.raises(UserError, match=r"bad.jsonl line 2: malformed JSON"):
        run(["bad.jsonl"])
    (tmp_path / "odd.csv").write_text("problem,solution\nWhat?,This.\n")
    with pytest.raises(UserError, match=r"odd.csv: no instruction column: .*columns present: "):
        run(["odd.csv"])
    # the columns are a param: name the one this file uses
    cols = {"instruction": ["problem"], "output": ["solution"]}
    cfg = CFG.model_copy(
        update={
            "decontaminate_against": ["odd.csv"],
            "decontamination": DecontaminationConfig(columns=cols),
        }
    )
    res = split.split_records(records[:50], cfg.model_copy(update={"gold_size": 0}), root=tmp_path)
    assert res.metrics["decontamination"]["benchmark_rows"] == 1


def test_every_record_a_benchmark_copy_is_refused(tmp_path, records):
    rows = [{"instruction": r["instruction"], "input": r["input"]} for r in records[:40]]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(x) + "\n" for x in rows))
    cfg = CFG.model_copy(update={"decontaminate_against": ["b.jsonl"]})
    with pytest.raises(UserError, match="all 40 records are near copies of the benchmark files"):
        split.split_records(records[:40], cfg, root=tmp_path)


# ------------------------------------------------------------------------------ small data


def test_a_small_first_run_gets_a_gold_set_scaled_to_the_data(tmp_path, caplog):
    """The 76 questions of the own-data walk-through (docs/own-data.md): the default gold_size
    (300), and the tiny profile's (100, set in params), are more than max_gold_share of them,
    so the gold set shrinks to fit, with a warning and the metrics saying so."""
    from provena import ingest

    p = load_params(ROOT / "params.yaml")
    inp = tmp_path / "qa.parquet"
    ingest.run([ROOT / "tests/assets/own_data/qa.jsonl"], p.ingest, out=inp, base=tmp_path)
    for name, cfg, gold in (("shipped", p.split, 19), ("tiny", load_tiny().split, 22)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="provena.split"):
            _, m = _run(tmp_path, inp, cfg, name=name)
        n = m["records_in"]
        assert n == 76 and m["gold"]["size"] == gold == int(cfg.max_gold_share * n), name
        assert m["gold"]["scaled_down"] == {
            "from": cfg.gold_size,
            "to": gold,
            "why": f"split.max_gold_share = {cfg.max_gold_share} of the 76 input records is {gold}",
            "gold_size_in_params": name == "tiny",
        }
        assert f"the gold set has {gold} records, not the {cfg.gold_size}" in caplog.text
        planted = m["canaries"]["planted_records"]
        assert sum(m["records"][s] for s in split.SPLITS) == n - gold + planted
        assert all(m["records"][s] > 0 for s in split.ALL_SPLITS), name
    # too little for even one gold record: a clear stop, whatever the params
    few = [record(instruction=f"Q{i}?", output="A.") for i in range(3)]
    with pytest.raises(UserError, match="the gold set needs one record or more"):
        split.split_records(few, SplitConfig())


def test_a_prompt_is_compared_without_case_whitespace_and_punctuation():
    same = ["What is DNA?", "what  is\nDNA", "WHAT IS DNA ?!", "What is “DNA”…"]
    assert len({split.normalize_prompt(t) for t in same}) == 1
    assert split.normalize_prompt("What's the capital, in 2024?") == "whats the capital in 2024"
    assert split.normalize_prompt("What is RNA?") != split.normalize_prompt("What is DNA?")
    a = record(instruction="Translate.", input="Good morning!", output="Bonjour !")
    b = record(instruction="translate", input="good morning", output="Buenos días.")
    c = record(instruction="Translate.", input="Good evening!", output="Bonsoir !")
    assert split.prompt_key(a) == split.prompt_key(b) != split.prompt_key(c)
    # the instruction and the input stay apart: text moved from one to the other is another
    d = record(instruction="Translate. Good morning!", input="", output="Bonjour !")
    assert split.prompt_key(d) != split.prompt_key(a)
