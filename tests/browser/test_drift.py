"""The drift page (`provena drift`) in headless chromium: no console errors or requests, a
table of contents whose links land on the page, every feature linked from the summary table,
no table or cell wider than its room, and a screenshot in reports/screenshots/drift.png.

The report is the drift module's own on small data: factory support replies and clinical notes
as the training split, against a batch half general-knowledge QA (new family, longer answers,
no audited attributes, other words), so most features drift and each section has content."""

from __future__ import annotations

import pytest

from provena import drift
from tests.browser.test_browser import _shot
from tests.conftest import ROOT, load_tiny
from tests.factory import CLINICAL_NOTE, SUPPORT_REPLY, records
from tests.helpers.browser import chromium_path, load

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium (make setup-browser)")

QA = {
    "source": "qa.jsonl",
    "instruction": lambda i: f"Explain why the sky looks blue at noon, part {i}.",
    "input": "",
    "output": lambda i: (
        "Sunlight scatters off air molecules, and the shorter blue wavelengths "
        "scatter the most, so the sky looks blue. " * (1 + i % 3)
    ),
    "meta": {"family": "general_qa"},
}

CHECKS = {
    "toc_links": "[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))",
    "toc_broken": "[...document.querySelectorAll('nav.toc a')]"
    ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length",
    "links_broken": "[...document.querySelectorAll('main a[href^=\"#\"]')]"
    ".filter(a => !document.getElementById(a.getAttribute('href').slice(1))).length",
    "feature_links": "[...document.querySelectorAll('#features ~ table a')]"
    ".map(a => a.getAttribute('href'))",
    "cut": "[...document.querySelectorAll('main table, main td, main th, main pre')]"
    ".filter(e => e.scrollWidth > e.clientWidth + 1)"
    ".map(e => e.tagName + ': ' + e.textContent.slice(0, 60))",
    "tables_wide": "[...document.querySelectorAll('main table')]"
    ".filter(t => t.getBoundingClientRect().right > t.parentElement.getBoundingClientRect().right"
    " + 1).length",
    "page_wide": "document.documentElement.scrollWidth > document.documentElement.clientWidth",
    "badge": "document.querySelector('main .badge').textContent.trim()",
    "length_note": "document.querySelector('#length small').textContent",
}


def test_the_drift_page_of_a_drifting_batch(tmp_path):
    params = load_tiny()
    ref_records = records(60, kinds=(SUPPORT_REPLY, CLINICAL_NOTE))
    new = records(40, offset=1000, kinds=(QA, SUPPORT_REPLY))
    report = drift.compare(
        drift.Reference(ref_records, "data/processed/train.parquet", 66, 4, 2),
        {r["id"] for r in ref_records[:3]},
        new,
        {r["id"] for r in new[:20]},
        params.drift,
        audit=params.audit_data,
        dedup=params.clean.dedup,
        root=ROOT,
        new_info={
            "inputs": "incoming/batch-07.jsonl",
            "rows": 42,
            "ingest_quarantined": 1,
            "scrub_pii_quarantined": 1,
            "records": len(new),
        },
    )
    assert report["drift"] and "family" in report["drifted"]
    html = tmp_path / "drift.html"
    html.write_text(drift.render_html(report), encoding="utf-8")
    r = load(html, _shot("drift"), evaluate=CHECKS)
    v = r.values
    assert (r.console_errors, r.requests) == ([], [])
    assert v["toc_broken"] == 0 and v["links_broken"] == 0
    assert {"#verdict", "#features"} <= set(v["toc_links"])
    assert v["feature_links"] == [f"#{name}" for name in drift.FEATURES]
    assert v["cut"] == [] and v["tables_wide"] == 0 and v["page_wide"] is False
    assert v["badge"] == "fail"
    assert v["length_note"] == "in tokens, estimated (words and punctuation)"
    assert r.screenshot.stat().st_size > 10_000
