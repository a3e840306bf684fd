"""The model page (reports/model.html) in headless chromium: it loads without console errors or
requests, every section is an h2 with an id in the documented order, nothing is cut or wider
than the window, no script from the data runs, and a screenshot is left in reports/screenshots/
(model_page.png; model_page_default_run.png from the committed run when its predictions are
here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provena.evaluate.report import render_model_page
from tests.browser.test_browser import _shot
from tests.conftest import ROOT
from tests.helpers.browser import chromium_path, load
from tests.unit.test_model_page import write_outputs

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium (make setup-browser)")

SECTIONS = ["findings", "scores", "groups", "counterfactual", "privacy", "samples", "method"]
CHECKS = {
    "h2": "Array.from(document.querySelectorAll('h2')).map(h => h.id)",
    "h2_text": "Array.from(document.querySelectorAll('h2')).every(h => h.textContent.trim())",
    # nothing wider than the window: no text runs off the page
    "overflow": "document.documentElement.scrollWidth - window.innerWidth",
    # an SVG label wider than the space left of the axis would be cut or overlap the dots
    # (folded intersections opened first: a closed one's labels measure nothing)
    "labels": "(document.querySelectorAll('details').forEach(d => { d.open = true; }),"
    " Array.from(document.querySelectorAll('svg.dots')).every(svg => {"
    " const axis = svg.querySelector('line.grid').x1.baseVal.value;"
    " return Array.from(svg.querySelectorAll('text[text-anchor=end]'))"
    ".every(t => t.getBBox().width > 0 && t.getBBox().x >= 0"
    " && t.getBBox().x + t.getBBox().width <= axis); }))",
    "first_finding": "document.querySelector('tr.finding').dataset.verdict",
    "samples": "document.querySelectorAll('div.sample').length",
}


def _check(html: Path, name: str) -> dict:
    r = load(html, _shot(name), evaluate=CHECKS)
    assert (r.console_errors, r.requests) == ([], [])
    assert r.title == "Provena model page"
    v = r.values
    assert v["h2"] == SECTIONS and v["h2_text"] is True
    assert v["overflow"] <= 0
    assert v["labels"] is True
    assert v["first_finding"] in ("fail", "inconclusive")
    assert r.screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    return r


def test_model_page_loads_cleanly_with_every_section(tmp_path):
    files = write_outputs(tmp_path)
    html = tmp_path / "model.html"
    html.write_text(render_model_page(*files.values()))
    r = _check(html, "model_page")
    assert r.values["samples"] == 2 * 2 * 3  # splits x families x 3
    assert r.dialogs == []  # the answer's <script>alert(...) did not run
    assert "<script>alert(" not in r.dom and "&lt;script&gt;alert(" in r.dom


def test_model_page_of_the_committed_default_run(tmp_path):
    predictions = ROOT / "data" / "eval" / "predictions.jsonl"
    if not predictions.is_file():
        pytest.skip("no data/eval/predictions.jsonl here (dvc pull or dvc repro evaluate)")
    html = tmp_path / "model.html"
    html.write_text(
        render_model_page(
            ROOT / "metrics" / "evaluate.json",
            ROOT / "audits" / "model_fairness.json",
            ROOT / "audits" / "privacy_probes.json",
            predictions,
        )
    )
    _check(html, "model_page_default_run")
