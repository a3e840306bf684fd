"""`provena report diff`: the pure diff, its text and HTML, reading revisions with git."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from provena.cli import main
from provena.report_diff import (
    WORKTREE,
    diff_outputs,
    diff_revisions,
    flatten,
    render_html,
    render_text,
)
from tests.conftest import ASSETS


def _ingest(n_in: int, kept: int, rules: dict[str, int]) -> dict[str, Any]:
    return {
        "stage": "ingest",
        "records_in": n_in,
        "records_kept": kept,
        "records_quarantined": n_in - kept,
        "quarantined_by_rule": rules,
        "files": [{"source": "data/raw/a.jsonl", "records_in": n_in}],
    }


def _scrub(precision: float) -> dict[str, Any]:
    return {
        "records_in": 90,
        "records_kept": 90,
        "records_quarantined": 0,
        "quarantined_by_rule": {},
        "gold_precision": precision,
        "pii_entities": 400,
        "residual_verdict": "pass",
    }


def _pii(person: int) -> dict[str, Any]:
    return {
        "entities_by_type_and_field": {
            "PERSON": {"input": person, "output": 5},
            "AGE": {"input": 3},
        },
        "examples": [{"id": "x", "field": "input", "scrubbed": "<PERSON> is 54"}],
        "summary": {"pii_entities": person + 8},
    }


def _validation(results: dict[str, bool], observed: dict[str, Any] | None = None) -> dict[str, Any]:
    observed = observed or {}
    return {
        "suite": "default",
        "verdict": "pass" if all(results.values()) else "fail",
        "results": [
            {
                "name": name,
                "expectation_type": "expect_column_values_to_not_be_null",
                "column": "output",
                "severity": "critical",
                "success": ok,
                "observed": observed.get(name, 0),
            }
            for name, ok in results.items()
        ],
    }


A = {
    "metrics/ingest.json": _ingest(100, 90, {"malformed_json": 10}),
    "metrics/scrub_pii.json": _scrub(0.8318),
    "audits/pii_report.json": _pii(40),
    "reports/validation.json": _validation({"output_not_null": True, "no_residual_pii": False}),
}
B = {
    "metrics/ingest.json": _ingest(120, 100, {"malformed_json": 15, "wrong_type": 5}),
    "metrics/scrub_pii.json": _scrub(0.8317),
    "audits/pii_report.json": _pii(52),
    "reports/validation.json": _validation(
        {"output_not_null": False, "no_residual_pii": True}, {"output_not_null": 3}
    ),
}


def _section(diff, kind, path):
    (s,) = [s for s in diff.sections if s.kind == kind and s.path == path]
    return {r.key: r for r in s.rows}, s


# ------------------------------------------------------------------------------ the pure diff


def test_funnel_deltas_and_percent_per_stage_and_rule():
    rows, _ = _section(diff_outputs(A, B), "funnel", "metrics/ingest.json")
    assert list(rows) == [
        "records_in",
        "records_kept",
        "records_quarantined",
        "quarantined_by_rule.malformed_json",
        "quarantined_by_rule.wrong_type",
    ]
    assert (rows["records_in"].delta, rows["records_in"].percent) == (Decimal(20), 20.0)
    assert rows["records_quarantined"].percent == 100.0
    assert (rows["quarantined_by_rule.wrong_type"].a, rows["quarantined_by_rule.wrong_type"].b) == (
        None,
        5,
    )
    assert rows["quarantined_by_rule.wrong_type"].flag == "added"


def test_rates_get_an_exact_delta_and_no_percent():
    rows, _ = _section(diff_outputs(A, B), "numbers", "metrics/scrub_pii.json")
    r = rows["gold_precision"]
    assert (r.delta, r.percent, r.flag) == (Decimal("-0.0001"), None, "changed")
    assert not rows["pii_entities"].changed
    assert "records_in" not in rows  # shown in the funnel, not twice


def test_pii_by_entity_type_sums_the_fields():
    rows, _ = _section(diff_outputs(A, B), "pii", "audits/pii_report.json")
    assert [(k, r.a, r.b) for k, r in rows.items()] == [("AGE", 3, 3), ("PERSON", 45, 57)]


def test_a_validation_result_that_fails_now_is_flagged_regressed():
    diff = diff_outputs(A, B, label_a="v1", label_b="v2")
    rows, _ = _section(diff, "validation", "reports/validation.json")
    assert rows["output_not_null"].flag == "regressed"
    assert rows["no_residual_pii"].flag == "fixed"
    assert (rows["verdict"].a, rows["verdict"].b) == ("fail", "fail")
    assert [r.key for r in diff.regressions] == ["output_not_null"]
    assert rows["output_not_null"].detail == (
        "critical · expect_column_values_to_not_be_null · column output · observed 0 → 3"
    )
    assert "REGRESSED validation: output_not_null" in diff.summary()


def test_a_file_absent_at_one_revision_is_shown_absent():
    a = {k: v for k, v in A.items() if k != "reports/validation.json"}
    diff = diff_outputs(a, B, label_a="old", label_b="new")
    rows, s = _section(diff, "validation", "reports/validation.json")
    assert (s.in_a, s.in_b) == (False, True)
    assert rows["output_not_null"].a is None and rows["output_not_null"].flag == "added"
    assert "new in new: reports/validation.json" in diff.summary()
    text = render_text(diff)
    assert "Validation  (reports/validation.json)  [absent at old]" in text
    assert "  verdict            —  fail            added" in text
    # and the other way round
    diff = diff_outputs(B, a, label_a="new", label_b="old")
    assert "absent from old: reports/validation.json" in diff.summary()
    # a file absent at both revisions is not listed at all
    diff = diff_outputs({**a, "audits/x.json": None}, {"audits/x.json": None})
    assert "audits/x.json" not in {s.path for s in diff.sections}


def test_flatten_keeps_scalars_names_listed_objects_and_skips_examples_and_long_text():
    obj = {
        "a": {"b": 1, "c": [1, 2]},
        "files": [{"source": "x.jsonl", "n": 3}, {"source": "y.csv", "n": 4}],
        "examples": [{"id": "1", "text": "..."}],
        "note": "x" * 200,
        "verdict": "pass",
        "ok": True,
    }
    assert dict(flatten(obj)) == {
        "a.b": 1,
        "files[x.jsonl].n": 3,
        "files[y.csv].n": 4,
        "verdict": "pass",
        "ok": True,
    }


# ------------------------------------------------------------------------------ rendering


def test_text_has_aligned_columns_signed_deltas_and_percent():
    text = render_text(diff_outputs(A, B, label_a="v1", label_b="v2"))
    lines = text.splitlines()
    assert lines[0] == "Provena outputs: v1 -> v2"
    i = lines.index("Funnel: ingest  (metrics/ingest.json)")
    assert lines[i + 1 : i + 7] == [
        "                                       v1   v2  delta        %",
        "  records_in                          100  120    +20   +20.0%",
        "  records_kept                         90  100    +10   +11.1%",
        "  records_quarantined                  10   20    +10  +100.0%",
        "  quarantined_by_rule.malformed_json   10   15     +5   +50.0%",
        "  quarantined_by_rule.wrong_type        —    5                  added",
    ]
    assert "  gold_precision  0.8318  0.8317  -0.0001" in text
    assert "  output_not_null  pass  fail" in text and "REGRESSED · critical" in text
    # unchanged other values are counted, not listed, unless asked for
    assert "(2 unchanged values not shown; --all shows them)" in text
    assert "residual_verdict" in render_text(diff_outputs(A, B), show_unchanged=True)


def test_html_is_self_contained_escaped_and_flags_regressions():
    b = {**B, "metrics/ingest.json": _ingest(120, 100, {"<script>alert(1)</script>": 1})}
    html = render_html(diff_outputs(A, b, label_a="v1", label_b="v<2>"))
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "v&lt;2&gt;" in html
    assert "http" not in html and "src=" not in html  # no external resources
    assert '<tr class="regressed"><td>output_not_null</td>' in html
    assert '<tr class="fixed"><td>no_residual_pii</td>' in html


# ------------------------------------------------------------------------------ git revisions


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _commit(repo: Path, files: dict[str, Any], message: str) -> None:
    for path, obj in files.items():
        if obj is None:
            _git(repo, "rm", "-q", "--", path)
            continue
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(json.dumps(obj, indent=2))
        _git(repo, "add", "--", path)
    _git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git repo with two commits: A, then B with validation.json deleted; cwd is the repo."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, A, "first")
    _git(repo, "tag", "v1")
    _commit(repo, {**B, "reports/validation.json": None}, "second")
    monkeypatch.chdir(repo)
    return repo


def test_cli_compares_two_commits_and_prints_text(repo, capsys):
    assert main(["report", "diff", "v1", "HEAD"]) == 0
    out = capsys.readouterr().out
    sha = _git(repo, "rev-parse", "--short=7", "HEAD").strip()
    v1 = _git(repo, "rev-parse", "--short=7", "v1").strip()
    assert out.startswith(f"Provena outputs: v1 ({v1}) -> HEAD ({sha})\n")
    assert re.search(r"\n  records_in +100 +120 +\+20 +\+20\.0%\n", out)
    assert "Validation  (reports/validation.json)  [absent at HEAD" in out
    assert f"absent from HEAD ({sha}): reports/validation.json" in out


def test_cli_writes_html_and_text_files(repo, capsys):
    assert main(["report", "diff", "HEAD~1", "HEAD", "--html", "d.html", "--text", "d.txt"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "wrote d.txt, d.html"
    assert (repo / "d.txt").read_text().startswith("Provena outputs: HEAD~1 (")
    assert (
        "<h2>Funnel: ingest <small>metrics/ingest.json</small></h2>"
        in (repo / "d.html").read_text()
    )


def test_worktree_reads_the_files_on_disk(repo, capsys):
    (repo / "metrics" / "ingest.json").write_text(json.dumps(_ingest(121, 100, {})))
    (repo / "reports").mkdir(exist_ok=True)  # git removed it with its only file
    (repo / "reports" / "validation.json").write_text(json.dumps(_validation({"x": False})))
    diff = diff_revisions("HEAD", WORKTREE)
    rows, _ = _section(diff, "funnel", "metrics/ingest.json")
    assert (rows["records_in"].a, rows["records_in"].b) == (120, 121)
    rows, s = _section(diff, "validation", "reports/validation.json")
    assert (s.in_a, s.in_b, rows["x"].b) == (False, True, "fail")
    assert diff.label_b == "WORKTREE"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["report", "diff", "nope", "HEAD"],
            "unknown revision 'nope': not a commit, tag or branch of this repository (or use WORKTREE for the files on disk)",
        ),
        (
            ["report", "diff", "HEAD", "HEAD~9"],
            "unknown revision 'HEAD~9'",
        ),
    ],
)
def test_unknown_revision_exits_2_naming_it(repo, argv, message):
    proc = subprocess.run(
        [sys.executable, "-m", "provena.cli", *argv], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_outside_a_git_repository_exits_2(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["report", "diff", "HEAD~1", "HEAD"]) == 2
    assert f"{tmp_path}: not inside a git repository; cannot read revision 'HEAD~1'" in caplog.text


def test_report_is_a_group_of_subcommands(capsys):
    assert main(["report", "--help"]) == 0
    assert "diff" in capsys.readouterr().out


def _run_history(tmp_path: Path) -> Path:
    """A git repo holding a tiny run's outputs (tests/assets/outputs), then five commits, each
    with one more record quarantined by ingest."""
    repo = tmp_path / "history"
    repo.mkdir()
    _git(repo, "init", "-q")
    outputs = ASSETS / "outputs"
    run = {
        p.relative_to(outputs).as_posix(): json.loads(p.read_text())
        for p in outputs.rglob("*.json")
    }
    _commit(repo, run, "a tiny run")
    ingest = run["metrics/ingest.json"]
    for n in range(1, 6):
        kept, quarantined = ingest["records_kept"] - n, ingest["records_quarantined"] + n
        changed = {**ingest, "records_kept": kept, "records_quarantined": quarantined}
        _commit(repo, {"metrics/ingest.json": changed}, f"run {n}")
    return repo


def test_on_a_whole_runs_history(tmp_path):
    """Every output of a tiny run, five commits back."""
    diff = diff_revisions("HEAD~5", "HEAD", _run_history(tmp_path))
    rows, _ = _section(diff, "funnel", "metrics/ingest.json")
    assert (rows["records_kept"].a - rows["records_kept"].b, rows["records_in"].a) == (5, 1212)
    funnels = [s.path for s in diff.sections if s.kind == "funnel"]
    assert funnels[:3] == ["metrics/synth.json", "metrics/ingest.json", "metrics/scrub_pii.json"]
    assert render_text(diff).startswith("Provena outputs: HEAD~5 (")
    assert "<h1>Provena outputs: HEAD~5 (" in render_html(diff)


def test_great_expectations_observations_are_shown_short():
    def v(observed):
        return {
            "reports/validation.json": {
                "verdict": "fail",
                "results": [
                    {"name": "n", "severity": "warning", "success": False, "observed": observed}
                ],
            }
        }

    a = v({"element_count": 1200, "unexpected_count": 0, "partial_unexpected_list": []})
    b = v({"element_count": 1200, "unexpected_count": 4, "partial_unexpected_list": [1, 2]})
    rows, _ = _section(diff_outputs(a, b), "validation", "reports/validation.json")
    assert rows["n"].detail == "warning · observed 0 of 1,200 unexpected → 4 of 1,200 unexpected"
    rows, _ = _section(
        diff_outputs({}, v({"observed_value": 0.49})), "validation", "reports/validation.json"
    )
    assert rows["n"].detail == "warning · observed 0.49"


def test_an_expectation_not_judged_is_shown_so_not_as_a_failure():
    def v(success, **extra):
        result = {"name": "share", "severity": "warning", "success": success, **extra}
        return {"reports/validation.json": {"verdict": "pass", "results": [result]}}

    why = "no record names a task family"
    rows, _ = _section(
        diff_outputs(v(True), v(None, not_judged=why)), "validation", "reports/validation.json"
    )
    assert (rows["share"].a, rows["share"].b) == ("pass", "not judged")
    assert rows["share"].flag != "regressed"


# ------------------------------------------------- timings, tolerance, findings, no empty table


def _run(jitter: float, seconds: float, verdict: str, when: str) -> dict[str, Any]:
    """One run's outputs: a funnel, a stage that keeps no books (train), an audit."""
    return {
        "metrics/ingest.json": _ingest(100, 95, {"bad": 5}),
        "metrics/train.json": {
            "stage": "train",
            "seconds": seconds,
            "tokens_per_s": 1000 / seconds,
            "peak_memory_mb": 900 + seconds,
            "train_loss": 1.234567 + jitter,
            "steps": 100,
            "splits": {"test": {"adapter": {"seconds": seconds, "rouge_l": 0.25 + jitter}}},
        },
        "audits/audit_after.json": {
            "verdict": verdict,
            "started_at": when,
            "findings": [
                {"check": "all", "text": "summary", "verdict": verdict},
                {"check": "representation:gender:female", "text": "female 27%", "verdict": verdict},
                {"check": "representation:gender:male", "text": "male 50%", "verdict": "pass"},
            ],
        },
    }


def test_timings_and_jitter_under_the_tolerance_are_no_change_and_no_table_is_empty():
    a = _run(0.0, 41.2, "fail", "2026-01-01T10:00:00")
    b = _run(1e-6, 57.9, "fail", "2026-01-02T11:30:00")
    diff = diff_outputs(a, b, label_a="A", label_b="B")
    assert sum(len(s.changed_rows) for s in diff.sections) == 0
    # seconds, splits.test.adapter.seconds, tokens_per_s, peak_memory_mb, started_at
    assert diff.ignored == 5
    assert diff.tolerated == 2  # train_loss, rouge_l
    assert "0 values changed" in diff.summary() and "5 timing values ignored" in diff.summary()
    assert [s.title for s in diff.sections if s.kind == "funnel"] == ["Funnel: ingest"]
    text, html = render_text(diff), render_html(diff)
    # every table has a row beyond its header; every text section has a body line
    for table in re.findall(r"<table>(.*?)</table>", html, re.S):
        assert table.count("<tr") >= 2, table
    blocks = [b for b in text.split("\n\n")[1:] if b.strip()]
    assert all(len(b.strip().splitlines()) >= 2 for b in blocks), blocks
    assert "2 findings at both, none resolved or added" in text  # two fails that persist
    # a bigger change is one, and so is a count that moves by one
    b["metrics/train.json"]["train_loss"] += 1e-3
    b["metrics/train.json"]["steps"] = 101
    changed = diff_outputs(a, b).sections
    assert {r.key for s in changed for r in s.changed_rows} == {"train_loss", "steps"}


def test_a_finding_that_disappears_is_resolved_and_a_new_one_added():
    from provena.config import ReportDiffConfig

    a = _run(0.0, 1.0, "fail", "x")
    b = _run(0.0, 1.0, "pass", "x")
    b["audits/audit_after.json"]["findings"].append(
        {"check": "outcome:resolution:gender", "text": "declined 9.8% vs 13.8%",
         "verdict": "inconclusive"}
    )  # fmt: skip
    diff = diff_outputs(a, b, label_a="A", label_b="B")
    assert [r.key for r in diff.findings("resolved")] == ["all", "representation:gender:female"]
    assert [(r.key, r.detail) for r in diff.findings("added")] == [
        ("outcome:resolution:gender", "declined 9.8% vs 13.8%")
    ]
    assert "findings: 2 resolved, 1 added" in diff.summary()
    text = render_text(diff)
    assert "representation:gender:female" in text and "resolved · female 27%" in text
    assert "representation:gender:male" not in text  # a pass at both is no finding
    html = render_html(diff)
    assert "Findings resolved: all; representation:gender:female" in html
    assert '<tr class="fixed"><td>representation:gender:female</td>' in html
    # the params: no key ignored, no tolerance -> timings and jitter count again
    strict = ReportDiffConfig(ignore_keys=[], abs_tolerance=0, rel_tolerance=0)
    jittered = _run(1e-6, 2.0, "fail", "y")
    n = sum(len(s.changed_rows) for s in diff_outputs(a, jittered, cfg=strict).sections)
    assert n == 7  # the five timings, train_loss and rouge_l
