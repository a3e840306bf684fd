"""The drill-down filter of the clean and PII reports in headless chromium: no console error,
picking a rule or an entity type (or typing a record id) hides every other item, and a
screenshot of the filtered page in reports/screenshots/ for a person to look at."""

from __future__ import annotations

import json

import pytest

from tests.browser.test_browser import SCREENSHOTS
from tests.helpers.browser import chromium_path, load
from tests.unit.test_drill import cleaned, scrubbed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium (make setup-browser)")


def _filtered(key: str = "", text: str = "") -> str:
    """JS: set the filter's select to ``key`` and its search box to ``text``, then give the
    data-filter keys of the items still shown and the box's count, as JSON."""
    return f"""(() => {{
      const box = document.querySelector(".drill-filter");
      const sel = box.querySelector("select"), txt = box.querySelector("input[type=search]");
      sel.value = {json.dumps(key)}; sel.dispatchEvent(new Event("change"));
      txt.value = {json.dumps(text)}; txt.dispatchEvent(new Event("input"));
      const items = [...document.querySelectorAll("#drill [data-filter]")];
      const shown = items.filter(e => !e.hidden && e.offsetParent !== null);
      return JSON.stringify({{shown: shown.map(e => e.getAttribute("data-filter")),
                             all: items.length, says: box.querySelector("output").textContent}});
    }})()"""


def test_picking_a_rule_hides_the_other_rules(cleaned, tmp_path):  # noqa: F811
    tmp, _, report, _ = cleaned
    rule = "empty_output"
    assert rule in report["dropped_ids"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    r = load(
        tmp / "report.html",
        SCREENSHOTS / "drill_clean_filtered.png",
        evaluate={"all": _filtered(""), "rule": _filtered(rule)},
    )
    assert r.console_errors == [] and r.requests == []
    # the expressions run in turn, before the screenshot: it shows the page filtered
    picked = json.loads(r.values["rule"])
    assert picked["shown"] == [rule] and picked["all"] > 3
    assert picked["says"] == f"1 of {picked['all']} shown"
    everything = json.loads(r.values["all"])
    assert len(everything["shown"]) == everything["all"]


def test_typing_a_record_id_finds_its_rule(cleaned, tmp_path):  # noqa: F811
    tmp, _, report, _ = cleaned
    rid = report["dropped_ids"]["language"]["ids"][0]
    r = load(tmp / "report.html", tmp_path / "s.png", evaluate={"v": _filtered("", rid)})
    shown = json.loads(r.values["v"])["shown"]
    assert "language" in shown and len(shown) < json.loads(r.values["v"])["all"]


def test_picking_an_entity_type_hides_the_other_types(scrubbed):  # noqa: F811
    tmp, _, report, _ = scrubbed
    assert {"PERSON", "PHONE_NUMBER"} <= set(report["by_entity_type"]["types"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    r = load(
        tmp / "report.html",
        SCREENSHOTS / "drill_pii_filtered.png",
        evaluate={"phone": _filtered("PHONE_NUMBER")},
    )
    assert r.console_errors == [] and r.requests == []
    v = json.loads(r.values["phone"])
    # the PHONE_NUMBER section, and the one sampled record that holds a phone number
    assert v["shown"] and all("PHONE_NUMBER" in keys.split() for keys in v["shown"])
    assert len(v["shown"]) < v["all"]
    assert v["says"] == f"{len(v['shown'])} of {v['all']} shown"
