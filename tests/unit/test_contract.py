"""The data contract as code: the builders of ledger lines, quarantine entries and stage
metrics (their keys, in order, and their required fields), every stage core's StageResult with
balanced books, and no stage written against the whole Params or with a ledger line by hand."""

from __future__ import annotations

import ast
import json
import re

import pytest

from provena import audit_data, augment, clean, ingest
from provena.config import AuditDataConfig, AugmentConfig, IngestConfig
from provena.counterfactual import Counterfactual
from provena.io import dumps_line
from provena.normalize import TextNormalizer
from provena.records import (
    BOOK_KEYS,
    LEDGER_ACTIONS,
    STAGES,
    StageResult,
    StageStats,
    ledger_line,
    make_record,
    quarantine_entry,
    stage_metrics,
)
from provena.sources import RawRow
from tests.conftest import ROOT

SRC = ROOT / "src" / "provena"
#: the stage packages, as named in dvc.yaml, params.yaml and stages/


def _books_balance(res: StageResult) -> None:
    s = res.stats
    assert s.records_in == s.records_kept + s.records_quarantined
    assert s.records_quarantined == len(res.rejected) == sum(s.quarantined_by_rule.values())


# ------------------------------------------------------------------------------ builders


def test_a_ledger_line_has_its_fixed_keys_first_then_the_stage_fields_in_order():
    line = ledger_line(
        id="abc",
        stage="split",
        action="planted",
        rule="canary",
        reason="privacy canary",
        to_split="train",
        canary=3,
        copy=0,
    )
    assert list(line) == ["id", "stage", "action", "rule", "reason", "to_split", "canary", "copy"]
    assert line["canary"] == 3 and line["to_split"] == "train"
    # on disk the keys are sorted: a file's bytes do not depend on the order of the extras
    assert dumps_line(line) == json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "deleted"}, "action 'deleted' is not one of"),
        ({"rule": ""}, "rule must be a non-empty string"),
        ({"reason": ""}, "reason must be a non-empty string"),
        ({"stage": None}, "stage must be a non-empty string"),
        ({"id": 7}, "id must be a string or None"),
        ({"id": None}, "without an id must be 'quarantined'"),
    ],
)
def test_a_ledger_line_refuses_a_missing_or_wrong_field(fields, message):
    good = {"id": "abc", "stage": "augment", "action": "added", "rule": "noise", "reason": "r"}
    with pytest.raises(ValueError, match=message):
        ledger_line(**{**good, **fields})
    with pytest.raises(TypeError):
        ledger_line(id="abc", stage="augment", action="added", rule="noise")  # no reason
    with pytest.raises(TypeError, match="multiple values"):
        ledger_line(**good, **{"stage": "clean"})  # an extra cannot overwrite a fixed key
    # a row that never became a record is named by its place, with id None
    row = ledger_line(
        id=None, stage="ingest", action="quarantined", rule="bad_json", reason="r", line=4
    )
    assert row["id"] is None and set(LEDGER_ACTIONS) >= {row["action"]}


def test_a_quarantine_entry_has_its_fixed_keys_first_and_keeps_the_row():
    rec = make_record(source="a.jsonl", instruction="i", input="", output="o")
    entry = quarantine_entry(
        stage="clean", source="a.jsonl", rule="empty_output", reason="r", row=4, record=rec
    )
    assert list(entry) == ["stage", "source", "rule", "reason", "row", "record"]
    assert entry["record"] is rec
    with pytest.raises(ValueError, match="rule must be a non-empty string"):
        quarantine_entry(stage="clean", source="a.jsonl", rule="", reason="r")
    with pytest.raises(ValueError, match="source must be a string"):
        quarantine_entry(stage="clean", source=None, rule="x", reason="r")
    with pytest.raises(TypeError):
        quarantine_entry(stage="clean", source="a.jsonl", rule="x")  # no reason


def test_stage_metrics_are_stage_then_books_then_the_stage_figures():
    stats = StageStats(records_in=5, records_kept=3, records_quarantined=2)
    stats.quarantined_by_rule.update({"b": 1, "a": 1})
    m = stage_metrics("clean", stats, duplicate_clusters=1, kept_share=0.6)
    assert list(m) == ["stage", *StageStats().as_dict(), "duplicate_clusters", "kept_share"]
    assert m["quarantined_by_rule"] == {"a": 1, "b": 1} and m["records_in"] == 5
    # a stage that keeps no records: the stage and its figures only
    assert stage_metrics("validate", records=4, verdict="pass") == {
        "stage": "validate",
        "records": 4,
        "verdict": "pass",
    }


def test_stage_metrics_refuse_books_that_do_not_balance_or_are_overwritten():
    lost = StageStats(records_in=5, records_kept=3, records_quarantined=1)
    with pytest.raises(AssertionError, match=r"clean: records in \(5\) != kept \(3\)"):
        stage_metrics("clean", lost)
    ok = StageStats(records_in=2, records_kept=2)
    for key in sorted(BOOK_KEYS):
        with pytest.raises(ValueError, match="would overwrite the books"):
            stage_metrics("clean", ok, **{key: 0})


# ------------------------------------------------------------------ every core's result


def test_ingest_core_returns_its_books_quarantine_and_ledger():
    rows = [
        RawRow("a.jsonl", 1, {"instruction": "Say hi", "input": "", "output": "hi&amp;"}),
        RawRow("a.jsonl", 2, {"instruction": "Say hi", "output": None}),
        RawRow("a.jsonl", 3, None, error="not JSON", rule="bad_json", raw="{oops"),
    ]
    mapping = ingest.ColumnMapping(
        "alpaca", {"instruction": "instruction", "input": "input", "output": "output"}, "k"
    )
    cfg = IngestConfig()
    res = ingest.ingest_rows(rows, mapping, TextNormalizer(cfg.normalize))
    assert isinstance(res, StageResult)
    _books_balance(res)
    assert res.stats.records_in == 3 and len(res.kept) == 1
    assert [(q["line"], q["rule"]) for q in res.rejected] == [(2, "missing_field"), (3, "bad_json")]
    assert res.rejected[1]["raw"] == "{oops" and res.rejected[0]["record"]["output"] is None
    actions = [(x["action"], x["rule"]) for x in res.ledger]
    assert ("normalized", "html_entities") in actions
    assert actions.count(("quarantined", "missing_field")) == 1
    assert all(list(x)[:5] == ["id", "stage", "action", "rule", "reason"] for x in res.ledger)
    assert stage_metrics("ingest", res.stats)["records_quarantined"] == 2


def test_clean_core_quarantines_what_the_plan_drops_with_the_whole_record():
    recs = [make_record(source="s", instruction="q", input="", output=f"a{i}") for i in range(4)]
    dup = {"cluster": recs[0]["id"], "kept_id": recs[0]["id"], "kept_row": 0, "similarity": 1.0}
    plan = clean.Plan(
        n=4,
        drops={1: clean.Drop("exact_duplicate", "same text as row 0 (kept)", dup)},
        clusters=[],
        ids=[r["id"] for r in recs],
        lsh={},
        rules=[],
    )
    first = clean.apply_plan(recs[:2], plan, 0)
    rest = clean.apply_plan(recs[2:], plan, 2)
    for res in (first, rest):
        assert isinstance(res, StageResult)
        _books_balance(res)
    assert [r["id"] for r in first.kept + rest.kept] == [recs[i]["id"] for i in (0, 2, 3)]
    (line,) = first.ledger
    assert line["row"] == 1 and line["kept_row"] == 0 and line["action"] == "quarantined"
    (entry,) = first.rejected
    assert entry["record"] == recs[1] and {k: v for k, v in entry.items() if k != "record"} == line
    assert not rest.ledger and not rest.rejected


def test_audit_core_returns_the_audit_and_its_metrics():
    recs = [
        make_record(
            source="s",
            instruction="q",
            input="",
            output=f"a{i}",
            meta={"family": "support_reply", "gender": ("female", "male")[i % 2]},
        )
        for i in range(40)
    ]
    res = audit_data.audit_records(
        recs, AuditDataConfig(bootstrap=0), when="before", dataset={"path": "x"}
    )
    assert isinstance(res, StageResult) and not res.kept and res.stats == StageStats()
    assert res.report["dataset"] == {"path": "x", "records": 40}
    assert res.metrics["stage"] == "audit_data@before"
    assert res.metrics["verdict"] == res.report["verdict"]


def test_augment_core_makes_children_with_their_ledger_lines_and_skips_copies():
    parent = make_record(source="s", instruction="q", input="Hello there, friend.", output="o")
    cf = Counterfactual(seed=0)
    jobs = [augment.Child(0, "noise", reason="variety"), augment.Child(0, "noise")]
    cfg = AugmentConfig(typo_rate=0.5)
    seen = {parent["id"]}
    res = augment.make_children(jobs, lambda _: parent, cf, cfg, swapped={}, seen=seen)
    assert isinstance(res, StageResult) and res.stats == StageStats()
    # the same job twice gives the same child: the second is a copy, skipped and counted
    (child,) = res.kept
    assert child["parent_id"] == parent["id"] and child["op"] == "noise"
    assert res.detail == {"noise": 1} and child["id"] in seen
    (line,) = res.ledger
    assert (line["id"], line["action"], line["rule"], line["reason"]) == (
        child["id"],
        "added",
        "noise",
        "variety",
    )


# --------------------------------------------------------------------- stage packages


def _stage_modules():
    for stage in STAGES:
        for path in sorted((SRC / stage).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_no_stage_takes_the_whole_params():
    """Each stage's functions take their own config section and, named, what they borrow."""
    found = []
    for path, tree in _stage_modules():
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and any(a.name == "Params" for a in node.names):
                found.append(f"{rel}:{node.lineno}: imports Params")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                    note = ast.unparse(arg.annotation) if arg.annotation else ""
                    if re.search(r"\bParams\b", note) or (arg.arg == "params" and not note):
                        found.append(f"{rel}:{node.lineno}: {node.name}({arg.arg}: {note})")
    assert not found, found


def test_no_stage_writes_a_ledger_line_or_quarantine_entry_by_hand():
    """A dict literal with both 'stage' and 'rule' is a ledger line or quarantine entry: the
    builders of provena.records write those."""
    found = []
    for path, tree in _stage_modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if {"stage", "rule"} <= keys:
                    found.append(f"{path.relative_to(SRC).as_posix()}:{node.lineno}")
    assert not found, found


def _own_nodes(fn: ast.FunctionDef):
    """The nodes of ``fn``'s body, not those of functions defined inside it."""
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))


#: each stage's core: the function that returns its StageResult (its run() wraps it with I/O;
#: validate, train, evaluate and card have no pure core: run() itself returns the result)
CORES = {
    "ingest": "ingest_rows",
    "scrub_pii": "scrub_batch",
    "clean": "apply_plan",
    "validate": "run",
    "audit_data": "audit_records",
    "augment": "make_children",
    "split": "split_records",
    "train": "run",
    "evaluate": "run",
    "card": "run",
}


@pytest.mark.parametrize("stage", sorted(CORES))
def test_every_stage_core_returns_a_stage_result(stage):
    """Read from the source (train and evaluate import torch): the core's declared return type,
    and that every ``return`` in it returns a StageResult it built or was given."""
    tree = ast.parse((SRC / stage / "__init__.py").read_text(encoding="utf-8"))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == CORES[stage])
    assert fn.returns is not None and ast.unparse(fn.returns) == "StageResult"
    returns = [n.value for n in _own_nodes(fn) if isinstance(n, ast.Return)]
    assert returns
    for value in returns:
        assert value is not None
        text = ast.unparse(value)
        assert text.startswith(("StageResult(", "result", "_run(")), f"{stage}: return {text}"
