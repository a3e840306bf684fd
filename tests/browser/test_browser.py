"""The HTML reports in a real headless browser (Debian's chromium, installed by `make test`
through `make setup-browser`): they load without console errors, hold their key numbers, run
no script smuggled in through the data, and leave a screenshot in reports/screenshots/ for
people to look at.

The first tests prove the harness (tests/helpers/browser.py) itself: it must see an error where
there is one, none on a clean page, and a script that does run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jinja2 import Environment

from provena import clean, scrub_pii, validate
from provena.clean.report import render_html as render_clean
from provena.report_diff import diff_outputs
from provena.report_diff import render_html as render_diff
from provena.scrub_pii.report import render_html as render_pii
from tests.conftest import ASSETS, ROOT, load_tiny, tiny_ingested
from tests.helpers.browser import chromium_path, load

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="no chromium on PATH and it could not be installed: run `make setup-browser` as "
    "root (apt-get install chromium), or set PROVENA_CHROMIUM to a Chrome/Chromium binary",
)

SCREENSHOTS = ROOT / "reports" / "screenshots"  # git-ignored (reports/* is), kept after tests
MARKER = "script ran"
PAYLOAD = f'<script>document.title = "{MARKER}"</script>'


def _page(tmp_path: Path, body: str, title: str = "clean page") -> Path:
    path = tmp_path / "page.html"
    path.write_text(
        f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"
    )
    return path


# ------------------------------------------------------------------------------ the harness


def test_a_console_error_is_reported(tmp_path):
    page = _page(tmp_path, '<p>x</p><script>console.log("fine"); console.error("boom")</script>')
    r = load(page, tmp_path / "shot.png")
    assert r.console_errors == ["console.error: boom"]


def test_an_uncaught_exception_is_reported(tmp_path):
    r = load(_page(tmp_path, '<script>throw new Error("kaput")</script>'), tmp_path / "s.png")
    (err,) = r.console_errors
    assert err.startswith("uncaught: Error: kaput")


def test_a_clean_page_has_no_errors_requests_none_and_gives_a_png(tmp_path):
    r = load(_page(tmp_path, "<h1>hello</h1>"), tmp_path / "s.png")
    assert (r.console_errors, r.requests, r.title) == ([], [], "clean page")
    assert "<h1>hello</h1>" in r.dom
    assert r.screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_network_is_off_and_a_resource_it_needs_is_an_error(tmp_path):
    page = _page(tmp_path, '<img src="https://example.com/logo.png">')
    r = load(page, tmp_path / "s.png")
    assert r.requests == ["https://example.com/logo.png"]
    assert any("ERR_NAME_NOT_RESOLVED" in e for e in r.console_errors)


def test_the_dom_is_taken_after_scripts_ran_and_the_marker_script_runs_unescaped(tmp_path):
    """The positive control for the escaping tests below: rendered without autoescape, the
    payload does change the title, so an unchanged title there means it did not run."""
    html = (
        Environment(autoescape=False)
        .from_string("<title>t</title><p>{{ v }}</p>")
        .render(v=PAYLOAD)
    )
    (tmp_path / "raw.html").write_text(html)
    r = load(tmp_path / "raw.html", tmp_path / "s.png")
    assert r.title == MARKER and f"<title>{MARKER}</title>" in r.dom


# ------------------------------------------------------------------------------ the reports


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, dict]:
    """The PII, clean and data-quality reports of the tiny dataset (ingest -> scrub_pii ->
    clean -> validate), as JSON with their HTML: {name: {"json": report, "html": path}}."""
    tmp = tmp_path_factory.mktemp("reports")
    params = load_tiny()
    tiny_ingested(tmp)
    pii = scrub_pii.run(
        tmp / "ingest.parquet",
        params.scrub_pii,
        out=tmp / "scrub_pii.parquet",
        ledger=tmp / "scrub_pii.ledger.jsonl",
        quarantine=tmp / "scrub_pii.quarantine.jsonl",
        metrics=tmp / "metrics_scrub_pii.json",
        report_json=tmp / "pii_report.json",
        report_html=tmp / "pii_report.html",
        gold_paths=[tmp / "raw" / "default" / "_gold" / "pii_spans.jsonl"],
    )
    cleaned = clean.run(
        tmp / "scrub_pii.parquet",
        params.clean,
        out=tmp / "clean.parquet",
        ledger=tmp / "clean.ledger.jsonl",
        quarantine=tmp / "clean.quarantine.jsonl",
        metrics=tmp / "metrics_clean.json",
        report_json=tmp / "clean_report.json",
        report_html=tmp / "clean_report.html",
        labels=[tmp / "raw" / "default" / "_gold" / "labels.jsonl"],
    )
    validated = validate.run(
        tmp / "clean.parquet",
        params.validate_,
        root=ROOT,  # where the suite is
        results_json=tmp / "validation.json",
        verdict_json=tmp / "validation_verdict.json",
        report_html=tmp / "data_quality.html",
        report_inputs={
            "metrics_scrub_pii": tmp / "metrics_scrub_pii.json",
            "metrics_clean": tmp / "metrics_clean.json",
            "pii_report": tmp / "pii_report.json",
            "clean_report": tmp / "clean_report.json",
        },
    ).report
    return {
        "pii_report": {"json": pii, "html": tmp / "pii_report.html"},
        "clean_report": {"json": cleaned, "html": tmp / "clean_report.html"},
        "data_quality": {"json": validated, "html": tmp / "data_quality.html"},
    }


def _shot(name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    print(f"screenshot: {path}")  # shown with -s or on failure
    return path


@pytest.mark.parametrize("name", ["pii_report", "clean_report"])
def test_report_loads_cleanly_with_its_key_numbers(reports, name):
    report, html = reports[name]["json"], reports[name]["html"]
    r = load(html, _shot(name))
    assert r.console_errors == []
    assert r.requests == []  # self-contained: nothing but its own file
    books = report["books"]
    text = r.dom
    for number in (books["records_in"], books["records_kept"], books["records_quarantined"]):
        assert f"{number}" in text
    if name == "pii_report":
        s = report["summary"]
        assert r.title == "Provena PII report"
        assert (
            f"{s['records_with_pii']} held PII" in text and f"({s['pii_entities']} values)" in text
        )
        assert f'<span class="{s["residual_verdict"]}">{s["residual_verdict"]}</span>' in text
    else:
        s = report["summary"]
        assert r.title == "Provena clean report"
        assert f"{books['records_in']} records in, <b>{books['records_kept']}</b> kept" in text
        assert f"{s['duplicates_dropped']} as duplicates" in text
    assert r.screenshot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_data_quality_report_loads_cleanly_with_its_key_numbers(reports):
    report, html = reports["data_quality"]["json"], reports["data_quality"]["html"]
    r = load(html, _shot("data_quality"))
    assert (r.console_errors, r.requests) == ([], [])
    assert r.title == "Provena data-quality report"
    assert (
        f'<span class="badge {report["verdict"]}" id="verdict">{report["verdict"]}</span>' in r.dom
    )
    assert f'<td class="l" id="records">{report["dataset"]["records"]}</td>' in r.dom
    assert f"{report['passed']} of {report['expectations']} expectations passed" in r.dom
    clean_books = reports["clean_report"]["json"]["books"]
    assert (
        f"<td>clean</td><td>{clean_books['records_in']}</td><td>{clean_books['records_kept']}</td>"
        in r.dom
    )


def test_data_holding_a_script_runs_no_script(reports, tmp_path):
    """A script in the data (a reason, a scrubbed example, a rule name) is shown as text."""
    cleaned = copy.deepcopy(reports["clean_report"]["json"])
    next(iter(cleaned["filter_examples"].values()))[0]["reason"] = PAYLOAD
    pii = copy.deepcopy(reports["pii_report"]["json"])
    pii["sample"]["records"][0]["fields"][0] = {
        "field": PAYLOAD,
        "segments": [
            {"text": PAYLOAD},
            {
                "text": PAYLOAD,
                "entity_type": "PERSON",
                "operator": "surrogate",
                "recognizer": PAYLOAD,
                "score": 0.9,
            },
        ],
        "chars_left_out": 0,
    }
    metrics = {"records_in": 2, "records_kept": 1, "quarantined_by_rule": {PAYLOAD: 1}}
    diff = diff_outputs({}, {"metrics/clean.json": metrics})
    for name, html, title in [
        ("clean", render_clean(cleaned), "Provena clean report"),
        ("pii", render_pii(pii), "Provena PII report"),
        ("diff", render_diff(diff), "Provena outputs: A → B"),
    ]:
        (tmp_path / f"{name}.html").write_text(html)
        r = load(tmp_path / f"{name}.html", tmp_path / f"{name}.png")
        assert (r.title, r.console_errors) == (title, []), name
        assert "&lt;script&gt;document.title" in r.dom, name


def test_report_diff_page_flags_a_regression(tmp_path):
    """The diff of a tiny run's metrics (tests/assets/outputs) against a copy with changes, in
    the browser."""
    outputs = ASSETS / "outputs"
    a = {
        p.relative_to(outputs).as_posix(): json.loads(p.read_text())
        for p in sorted((outputs / "metrics").glob("*.json"))
    }
    b = copy.deepcopy(a)
    b["metrics/ingest.json"]["records_kept"] = a["metrics/ingest.json"]["records_kept"] - 7
    result = {"name": "no_residual_pii", "expectation_type": "expect_no_pii", "column": "output"}
    a["reports/validation.json"] = {
        "suite": "default",
        "verdict": "pass",
        "results": [{**result, "severity": "critical", "success": True, "observed": 0}],
    }
    b["reports/validation.json"] = {
        "suite": "default",
        "verdict": "fail",
        "results": [{**result, "severity": "critical", "success": False, "observed": 3}],
    }
    (tmp_path / "diff.html").write_text(
        render_diff(diff_outputs(a, b, label_a="HEAD~1", label_b="HEAD"))
    )
    r = load(tmp_path / "diff.html", _shot("report_diff"))
    assert (r.console_errors, r.requests) == ([], [])
    kept = a["metrics/ingest.json"]["records_kept"]
    assert f"<td>{kept:,}</td><td>{kept - 7:,}</td>" in r.dom and "<td>-7</td>" in r.dom
    assert '<tr class="regressed"><td>no_residual_pii</td>' in r.dom
    assert "Validation regressed: no_residual_pii" in r.dom


def test_a_script_that_runs_and_an_alert_are_seen(tmp_path):
    """The positive control for the pipeline's script-payload test: an executed payload sets
    ``window.__pwned`` and its alert is recorded (and answered, so the page still loads)."""
    page = _page(tmp_path, '<p>x</p><img src=x onerror="window.__pwned=2; alert(7)">')
    r = load(page, tmp_path / "s.png", evaluate={"pwned": "window.__pwned"})
    assert (r.values, r.dialogs) == ({"pwned": 2}, ["7"])
