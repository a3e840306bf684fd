"""Great Expectations' Data Docs in headless chromium with no network: the index and a
validation page load with no console error and no request, styled, with the validation list
rendered and the tabs, collapses and the "Failed Only" filter working; screenshots in
reports/screenshots/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

import pytest

from provena import validate
from provena.io import RecordWriter
from tests.conftest import ROOT
from tests.helpers.browser import chromium_path, load
from tests.unit.test_validate import CFG, _flawed_records

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no chromium on PATH: run `make setup-browser` as root, or set PROVENA_CHROMIUM",
)

SCREENSHOTS = ROOT / "reports" / "screenshots"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Data Docs of a run with failing expectations (so "Failed Only" has rows to keep)."""
    tmp = tmp_path_factory.mktemp("gx")
    inp = tmp / "clean.parquet"
    with RecordWriter(inp) as w:
        w.write(_flawed_records())
    validate.run(
        inp,
        CFG,
        root=ROOT,
        results_json=tmp / "results.json",
        verdict_json=tmp / "verdict.json",
        docs_dir=tmp / "docs",
    )
    return tmp / "docs"


def test_the_index_is_styled_and_lists_the_validation_run(site):
    rows = "#Validation-Results table tbody tr[data-href]"
    r = load(
        site / "index.html",
        SCREENSHOTS / "data_docs_index.png",
        evaluate={
            "rows": f"document.querySelectorAll('{rows}').length",
            "href": f"document.querySelector('{rows} a').getAttribute('href')",
            "tabs": "getComputedStyle(document.querySelector('.nav-tabs')).display",
            "suites_hidden": "getComputedStyle(document.getElementById('Expectation-Suites'))"
            ".display",
            "suites_shown": "document.getElementById('Expectation-Suites-tab').click(),"
            " getComputedStyle(document.getElementById('Expectation-Suites')).display",
            "results_hidden": "getComputedStyle(document.getElementById('Validation-Results'))"
            ".display",
            "back": "document.getElementById('Validation-Results-tab').click(), 1",
        },
    )
    assert (r.console_errors, r.requests) == ([], [])
    v = r.values
    assert v["rows"] == 1 and v["href"].startswith("validations/curated/")
    assert (site / v["href"].replace("%20", " ")).is_file()
    assert v["tabs"] == "flex"  # the stylesheet is there: Bootstrap's tabs are a flex row
    assert (v["suites_hidden"], v["suites_shown"], v["results_hidden"]) == (
        "none",
        "block",
        "none",
    )
    assert "expectations/curated.html" in r.dom and 'id="provena-note"' in r.dom


def test_a_validation_page_works_offline(site):
    (page,) = (site / "validations").rglob("*.html")
    shown = (
        "[...document.querySelectorAll('.hide-succeeded-validation-target-child')]"
        ".filter(e => e.offsetParent !== null).length"
    )
    more = "a[data-toggle=collapse]"
    r = load(
        page,
        SCREENSHOTS / "data_docs_validation.png",
        evaluate={
            "passed_rows": shown,
            "failed_only": f"hideSucceededValidations(), {shown}",
            "show_all": f"showAllValidations(), {shown}",
            "info_closed": f"document.querySelector('{more}').getAttribute('aria-expanded')",
            "info_open": f"document.querySelector('{more}').click(),"
            " document.querySelector(document.querySelector('more').getAttribute('href'))"
            ".offsetParent !== null".replace("'more'", f"'{more}'"),
        },
    )
    assert (r.console_errors, r.requests) == ([], [])
    v = r.values
    # the suite's passing expectations are shown, hidden by "Failed Only", shown again
    assert v["passed_rows"] > 0 and v["failed_only"] == 0 and v["show_all"] == v["passed_rows"]
    assert (v["info_closed"], v["info_open"]) == ("false", True)
    assert "19700101T000000.000000Z" in r.dom and "text-danger" in r.dom
