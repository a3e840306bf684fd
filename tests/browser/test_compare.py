"""The compare page (`provena compare`) in headless chromium: no console errors or requests, a
table of contents whose links land on the page, no table or cell wider than its room, and
screenshots in reports/screenshots/ (compare_answers.png: two answer files with human ratings,
through the command; compare_models.png: a models comparison built from scored rows, with
groups, fairness gaps, privacy probes and answers side by side)."""

from __future__ import annotations

import json

import pytest

from provena.cli import main
from provena.compare import compare_scored, privacy_comparison, render_html, stats
from provena.config import CompareConfig, EvaluateConfig
from tests.browser.test_browser import _shot
from tests.helpers.browser import chromium_path, load
from tests.unit.test_compare import _answers, _ratings_sheet, _reply_records, _scored

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium (make setup-browser)")

CHECKS = {
    "toc_links": "[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))",
    "toc_broken": "[...document.querySelectorAll('nav.toc a')]"
    ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length",
    "h2": "[...document.querySelectorAll('main h2')].map(h => h.id)",
    # text cut or run over: answers folded away are opened to be measured, then folded again
    "cut": """(() => { const folded = [...document.querySelectorAll('details:not([open])')];
      folded.forEach(d => { d.open = true; });
      const bad = [...document.querySelectorAll('main table, main td, main th, main pre')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => e.tagName + ': ' + e.textContent.slice(0, 60));
      folded.forEach(d => { d.open = false; });
      return bad; })()""",
    "open": "[...document.querySelectorAll('main details')].map(d => d.open)",
    # the two answers side by side take half the width each
    "halves": "[...document.querySelectorAll('table.side')].every(t => {"
    " const [a, b] = t.querySelectorAll('tr:last-child td');"
    " return Math.abs(a.offsetWidth - b.offsetWidth) <= 1; })",
    "tables_wide": "[...document.querySelectorAll('main table')]"
    ".filter(t => t.getBoundingClientRect().right > t.parentElement.getBoundingClientRect().right"
    " + 1).length",
    "page_wide": "document.documentElement.scrollWidth > document.documentElement.clientWidth",
    "verdicts": "[...document.querySelectorAll('main td span')].map(s => s.textContent)",
}


def _check(html, name: str, sections: list[str]) -> dict:
    r = load(html, _shot(name), evaluate=CHECKS)
    assert (r.console_errors, r.requests) == ([], [])
    v = r.values
    assert v["h2"] == sections
    assert [x for x in v["toc_links"] if x[1:] in sections] == [f"#{s}" for s in sections]
    assert v["toc_broken"] == 0
    assert v["cut"] == [] and v["tables_wide"] == 0 and v["page_wide"] is False
    assert v["open"][:3] == [True] * 3 and not any(v["open"][3:])  # the first three unfolded
    assert v["halves"] is True
    assert r.screenshot.stat().st_size > 10_000
    return v


def test_the_answers_page_with_ratings(tmp_path, monkeypatch, capsys):
    rows_a = _answers(tmp_path / "a.jsonl", "current", [1.0] * 12)
    rows_b = _answers(tmp_path / "b.jsonl", "candidate", [0.4] * 12)
    _ratings_sheet(tmp_path / "a.csv", rows_a, lambda r: 5)
    _ratings_sheet(tmp_path / "b.csv", rows_b, lambda r: 2 + len(r["id"]) % 2)
    monkeypatch.chdir(tmp_path)
    for sheet in ("a.csv", "b.csv"):
        assert main(["review", "import", sheet, "--out", "r.json"]) == 0
    rc = main(["compare", "--answers", "a.jsonl", "b.jsonl", "--ratings", "r.json"])
    assert rc == 1, capsys.readouterr()
    v = _check(
        tmp_path / "reports" / "compare.html",
        "compare_answers",
        ["outcome", "ratings", "families", "groups", "fairness-gaps", "answers"],
    )
    assert "worse" in v["verdicts"]


def test_the_models_page_with_every_section(tmp_path):
    recs = _reply_records(20)
    qa = [0.6] * 20
    qb = [0.6 if r["meta"]["gender"] == "male" else 0.2 for r in recs]
    cfg = CompareConfig(resamples=200)
    result = {
        "mode": "models",
        "a": {"path": "models/adapter", "kind": "adapter"},
        "b": {"path": "candidate/adapter-with-a-rather-long-folder-name", "kind": "adapter"},
        "splits_files": {"test": "data/processed/test.parquet"},
        "params": cfg.model_dump(),
        **compare_scored(
            {"test": _scored("A", recs, qa, [5.0] * 20)},
            {"test": _scored("B", recs, qb, [5.5] * 20)},
            {"test": recs},
            EvaluateConfig(),
            cfg,
            attributes=["gender", "age_band"],
        ),
        "privacy": privacy_comparison(
            {"verdict": "pass", "findings": [
                {"check": "canary_extraction", "value": 0.0, "threshold": 0.0, "verdict": "pass"},
                {"check": "adversarial_pass_rate", "value": 1.0, "threshold": 1.0,
                 "verdict": "pass"},
            ]},
            {"verdict": "fail", "findings": [
                {"check": "canary_extraction", "value": 0.5, "threshold": 0.0, "verdict": "fail"},
                {"check": "adversarial_pass_rate", "value": 1.0, "threshold": 1.0,
                 "verdict": "pass"},
            ]},
        ),
    }  # fmt: skip
    result["outcome"] = stats.gate(result, cfg)
    html = tmp_path / "compare.html"
    html.write_text(render_html(json.loads(json.dumps(result))), encoding="utf-8")
    v = _check(
        html,
        "compare_models",
        ["outcome", "families", "groups", "fairness-gaps", "privacy", "answers"],
    )
    assert {"worse", "no difference", "not judged"} <= set(v["verdicts"])
