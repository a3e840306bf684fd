"""The data funnel page (provena.funnel) in headless chromium with no network, rendered from the
metrics in the repository: no console error or request, every stage and split shown, nothing
wider than the window; a screenshot in reports/screenshots/funnel.png."""

from __future__ import annotations

import pytest

from provena import funnel
from tests.conftest import ROOT
from tests.helpers.browser import chromium_path, load

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no chromium on PATH: run `make setup-browser` as root, or set PROVENA_CHROMIUM",
)


def test_the_funnel_page_loads_cleanly_with_every_stage(tmp_path):
    paths = {s: ROOT / "metrics" / f"{s}.json" for s in funnel.STAGES}
    f = funnel.write(paths, tmp_path / "funnel.html")
    r = load(
        tmp_path / "funnel.html",
        ROOT / "reports" / "screenshots" / "funnel.png",
        evaluate={
            "stages": "[...document.querySelectorAll('#funnel tr[id^=stage-]')].map(t => t.id)",
            "splits": "document.querySelectorAll('#split-counts tr[id^=split-]').length",
            "overflow": "document.documentElement.scrollWidth - window.innerWidth",
            "books": "document.getElementById('books').textContent",
        },
    )
    assert (r.console_errors, r.requests) == ([], [])
    assert r.title == "Provena data funnel"
    assert r.values["stages"] == [f"stage-{s}" for s in funnel.STAGES]
    assert r.values["splits"] == len(f["splits"]) > 0
    assert r.values["overflow"] <= 0  # no table runs off the page
    assert r.values["books"] == ("pass" if f["balanced"] else "fail")
