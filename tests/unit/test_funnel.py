"""The data funnel (provena.funnel): every data stage with its records in and out, augment's
added records and split's canaries, books that add up, and a clear line where they do not."""

from __future__ import annotations

import copy
import json
import re

import pytest

from provena import funnel
from provena.errors import UserError
from tests.conftest import ROOT


def _metrics() -> dict:
    """A run's metrics in the shapes the stages write (small numbers that balance)."""
    return {
        "synth": {"stage": "synth", "records": 100, "malformed_lines": 3, "defects": {"x": 4}},
        "ingest": {
            "stage": "ingest",
            "records_in": 103,
            "records_kept": 100,
            "records_quarantined": 3,
            "quarantined_by_rule": {"malformed_json": 3},
            "changed_by_rule": {"whitespace": 7, "html_tags": 0},
        },
        "scrub_pii": {
            "stage": "scrub_pii",
            "records_in": 100,
            "records_kept": 100,
            "records_quarantined": 0,
            "changed_by_rule": {"pii": 60},
        },
        "clean": {
            "stage": "clean",
            "records_in": 100,
            "records_kept": 90,
            "records_quarantined": 10,
            "quarantined_by_rule": {"near_duplicate": 6, "language": 4},
        },
        "validate": {
            "stage": "validate",
            "records": 90,
            "verdict": "pass",
            "passed": 21,
            "expectations": 21,
        },
        "augment": {
            "stage": "augment",
            "records_in": 90,
            "records_kept": 90,
            "records_quarantined": 0,
            "records_added": 30,
            "records_out": 120,
            "added_by_op": {"counterfactual:gender=female": 25, "noise": 5},
        },
        "split": {
            "stage": "split",
            "records_in": 120,
            "records_dropped": 8,
            "records_quarantined": 8,
            "records_kept": 112,
            "records_out": 116,
            "quarantined_by_rule": {"augmented_in_evaluation": 8},
            "canaries": {"count": 2, "repeats": 2, "planted_records": 4, "split": "train"},
            "augmented": {"by_split": {"train": 22, "validation": 0, "test": 0, "gold": 0}},
            "records": {"train": 96, "validation": 8, "test": 8, "gold": 4},
        },
    }


def _rows(f: dict) -> dict:
    return {r["stage"]: r for r in f["stages"]}


def test_every_stage_appears_with_its_counts_and_the_books_add_up():
    f = funnel.build(_metrics())
    rows = _rows(f)
    assert list(rows) == list(funnel.STAGES)
    got = {s: (r["in"], r["removed"], r["added"], r["out"]) for s, r in rows.items()}
    assert got == {
        "synth": (None, 0, 103, 103),
        "ingest": (103, 3, 0, 100),
        "scrub_pii": (100, 0, 0, 100),
        "clean": (100, 10, 0, 90),
        "validate": (90, 0, 0, 90),
        "augment": (90, 0, 30, 120),
        "split": (120, 8, 4, 116),
    }
    # each stage reads what the one before passed on, and its own books balance
    for r in list(rows.values())[1:]:
        assert r["link"]["diff"] == 0 and r["off_by"] == 0
    assert rows["augment"]["added_by"] == {"counterfactual:gender=female": 25, "noise": 5}
    assert rows["split"]["added_by"] == {"canaries (2 x 2, in train)": 4}
    assert rows["ingest"]["changed_by"] == {"whitespace": 7}  # a rule that changed none: left out
    train = f["splits"][0]
    assert (train["split"], train["records"], train["augmented"], train["canaries"]) == (
        "train",
        96,
        22,
        4,
    )
    assert train["original"] == 96 - 22 - 4
    assert f["splits_total"] == f["split_out"] == 116 and f["balanced"] is True
    assert (f["raw"], f["curated"]) == (103, 90)


def test_the_page_shows_every_stage_augment_added_and_split_canaries():
    html = funnel.render_html(funnel.build(_metrics()))
    for stage in funnel.STAGES:
        assert f'<tr id="stage-{stage}"><td>{stage}</td>' in html
    assert '<span class="badge pass" id="books">pass</span>' in html
    assert "<td>90</td><td>0</td><td>30</td><td>120</td>" in html  # augment: +30
    assert "<td>120</td><td>8</td><td>4</td><td>116</td>" in html  # split: -8, +4 canaries
    assert "canaries (2 x 2, in train) 4" in html and "noise 5" in html
    assert '<tr id="split-train"><td>train</td><td>96</td><td>70</td><td>22</td><td>4</td>' in html
    assert "augment added 30; split dropped 8 and planted 4 canary records" in html
    assert "<script" not in html


def test_books_that_do_not_add_up_are_marked():
    m = _metrics()
    m["augment"]["records_in"] = 91  # one more than validate passed on
    m["split"]["records"]["gold"] = 5  # the splits hold one more than split's output
    f = funnel.build(m)
    rows = _rows(f)
    assert rows["augment"]["link"]["diff"] == 1 and rows["augment"]["off_by"] == -1
    assert f["balanced"] is False
    html = funnel.render_html(f)
    assert '<span class="badge fail" id="books">fail</span>' in html
    assert "off by -1" in html and "in is 1 from validate's out" in html
    assert "The splits hold 117 records, split passed on 116." in html


def test_ingest_reading_more_than_synth_wrote_is_explained_not_failed():
    m = _metrics()
    m["ingest"].update(records_in=110, records_kept=107)
    for stage in ("scrub_pii", "clean"):
        m[stage]["records_in"] += 7
    m["scrub_pii"]["records_kept"] += 7
    m["clean"]["records_kept"] += 7
    m["validate"]["records"] += 7
    m["augment"].update(records_in=97, records_kept=97, records_out=127)
    m["split"].update(records_in=127, records_kept=119, records_out=123)
    m["split"]["records"]["train"] += 7
    f = funnel.build(m)
    assert _rows(f)["ingest"]["link"] == {
        "from": "synth",
        "diff": 7,
        "why": "ingest also reads files synth did not write",
    }
    assert f["balanced"] is True


def test_a_stage_without_metrics_says_so_and_no_table_is_empty():
    m = _metrics()
    m["split"] = None
    m["synth"] = {"stage": "synth", "enabled": False, "records": 0}
    f = funnel.build(m)
    rows = _rows(f)
    assert rows["split"] == {"stage": "split", "missing": "no metrics/split.json: not run"}
    assert rows["synth"]["note"].startswith("off (synth.enabled: false)")
    assert rows["ingest"]["link"] is None  # synth wrote nothing to compare with
    html = funnel.render_html(f)
    assert "no metrics/split.json: not run" in html
    assert "No per-split counts: split's metrics are missing or list no split." in html
    assert '<table id="split-counts">' not in html
    # with no metrics at all, every table still says why it has no rows
    empty = funnel.render_html(funnel.build({}))
    assert "No stage wrote its metrics: nothing to show." in empty
    for table in re.findall(r"<table.*?</table>", empty, re.S):
        assert table.count("<tr") > 1, table


def test_unreadable_or_wrong_metrics_are_one_line_errors(tmp_path):
    bad = tmp_path / "clean.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match=r"clean\.json: not readable as JSON"):
        funnel.load({"clean": bad})
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match=r"clean\.json: expected a JSON object"):
        funnel.load({"clean": bad})
    with pytest.raises(UserError, match=r"unknown stage\(s\) train"):
        funnel.load({"train": bad})
    m = copy.deepcopy(_metrics())
    del m["clean"]["records_kept"]
    with pytest.raises(UserError, match=r"metrics of clean: field 'records_kept' missing"):
        funnel.build(m)


def test_the_committed_run_balances_from_synth_to_split(tmp_path):
    """The metrics in the repository (the default run): the page split writes from them."""
    paths = {s: ROOT / "metrics" / f"{s}.json" for s in funnel.STAGES}
    f = funnel.write(paths, tmp_path / "funnel.html")
    assert f["balanced"] is True, json.dumps(f["stages"], indent=1)
    split = json.loads(paths["split"].read_text())
    augment = json.loads(paths["augment"].read_text())
    rows = _rows(f)
    assert rows["augment"]["added"] == augment["records_added"] > 0
    assert rows["split"]["added"] == split["canaries"]["planted_records"] > 0
    assert f["splits_total"] == split["records_out"]
    assert (tmp_path / "funnel.html").read_text().count('<tr id="stage-') == len(funnel.STAGES)
