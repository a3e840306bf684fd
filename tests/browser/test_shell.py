"""The shared layout and the audit pages in headless chromium at 1,024 px: no console errors,
a table of contents whose links all land on the page, not-checked outcomes collapsed, no SVG
text beyond its chart and no table wider than its column; screenshots in reports/screenshots/."""

from __future__ import annotations

import pytest

from provena.audit_data.report import render_html
from tests.conftest import ROOT
from tests.helpers.audit_pages import audits
from tests.helpers.browser import chromium_path, load

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no chromium on PATH: run `make setup-browser` as root, or set PROVENA_CHROMIUM",
)

SCREENSHOTS = ROOT / "reports" / "screenshots"
WIDTH = 1024

CHECKS = {
    "toc_links": "[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))",
    "toc_broken": "[...document.querySelectorAll('nav.toc a')]"
    ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length",
    "toc_sticky": "getComputedStyle(document.querySelector('nav.toc')).position",
    "details_open": "[...document.querySelectorAll('details.not-checked')].map(d => d.open)",
    "attention_broken": "[...document.querySelectorAll('#attention-list a')]"
    ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length",
    # every SVG text inside its chart's drawing width (the viewBox, or the width attribute)
    "text_out": """(() => { const bad = [];
      for (const svg of document.querySelectorAll('main svg')) {
        const vb = svg.viewBox.baseVal;
        const w = vb && vb.width ? vb.width : svg.width.baseVal.value;
        for (const t of svg.querySelectorAll('text')) {
          const b = t.getBBox();
          if (b.x < -0.5 || b.x + b.width > w + 0.5) bad.push(t.textContent);
        } }
      return bad; })()""",
    "svg_unlabelled": "[...document.querySelectorAll('svg')]"
    ".filter(s => s.getAttribute('role') !== 'img' || !s.querySelector(':scope > title')).length",
    "tables_wide": "[...document.querySelectorAll('main table')]"
    ".filter(t => t.scrollWidth > t.parentElement.clientWidth + 1).length",
    "page_wide": "document.documentElement.scrollWidth > document.documentElement.clientWidth",
    # an interval never wraps: every .nw cell or span is one line high
    "wrapped": "[...document.querySelectorAll('main .nw')]"
    ".filter(e => e.getClientRects().length > 1).length",
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    before, after = audits()
    tmp = tmp_path_factory.mktemp("shell")
    out = {}
    for name, html in (
        ("audit_before", render_html(before)),
        ("audit_after", render_html(after, before)),
    ):
        path = tmp / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        out[name] = path
    return out


@pytest.mark.parametrize("name", ["audit_before", "audit_after"])
def test_audit_page_navigates_collapses_and_cuts_no_text(pages, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / f"shell_{name}.png"
    r = load(pages[name], shot, evaluate=CHECKS, width=WIDTH)
    print(f"screenshot: {shot}")
    v = r.values
    assert (r.console_errors, r.requests) == ([], [])
    assert r.title == "Provena bias audit"
    assert "#attention" in v["toc_links"] and "#sources" in v["toc_links"]
    assert "#not-checked" in v["toc_links"]
    assert v["toc_broken"] == 0 and v["attention_broken"] == 0
    assert v["toc_sticky"] == "sticky"
    assert v["details_open"] and not any(v["details_open"])
    assert v["text_out"] == []
    assert v["svg_unlabelled"] == 0
    assert (v["tables_wide"], v["page_wide"], v["wrapped"]) == (0, False, 0)
    assert r.screenshot.stat().st_size > 10_000


def test_a_page_without_ids_gets_its_table_of_contents_too(tmp_path):
    """The layout lists a page's h2s whether or not the page gave them ids (report diff)."""
    from provena.report_diff import diff_outputs
    from provena.report_diff import render_html as render_diff

    metrics = {"records_in": 2, "records_kept": 1}
    page = tmp_path / "diff.html"
    page.write_text(
        render_diff(diff_outputs({"metrics/clean.json": {}}, {"metrics/clean.json": metrics}))
    )
    r = load(page, tmp_path / "diff.png", evaluate=CHECKS, width=WIDTH)
    assert r.console_errors == []
    assert r.values["toc_links"] and r.values["toc_broken"] == 0
