"""The audit pages' findings with their records in headless chromium: no console error,
picking a group (or an attribute and a group) hides every finding not about it, a record id
typed finds its findings, and a screenshot of the filtered after page in reports/screenshots/
for a person to look at."""

from __future__ import annotations

import json

import pytest

from provena.audit_data.report import group_key, render_html
from tests.browser.test_browser import SCREENSHOTS
from tests.helpers.browser import chromium_path, load
from tests.unit.test_audit_drill import audits  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium (make setup-browser)")


def _filtered(attr: str = "", group: str = "", text: str = "") -> str:
    """JS: set the attention filter's attribute and group selects and its search box, then
    give the data-filter keys of the findings still shown, their number and the box's count,
    as JSON."""
    return f"""(() => {{
      const box = document.querySelector('.drill-filter[data-scope="attention-drill"]');
      const [a, g] = box.querySelectorAll("select"), txt = box.querySelector("input[type=search]");
      a.value = {json.dumps(attr)}; a.dispatchEvent(new Event("change"));
      g.value = {json.dumps(group)}; g.dispatchEvent(new Event("change"));
      txt.value = {json.dumps(text)}; txt.dispatchEvent(new Event("input"));
      const items = [...document.querySelectorAll("#attention-list > li[data-filter]")];
      const shown = items.filter(e => !e.hidden && e.offsetParent !== null);
      return JSON.stringify({{shown: shown.map(e => e.getAttribute("data-filter")),
                             all: items.length, says: box.querySelector("output").textContent}});
    }})()"""


def test_picking_a_group_hides_the_other_findings(audits, tmp_path):  # noqa: F811
    _, _, before, after = audits
    page = tmp_path / "audit_after.html"
    page.write_text(render_html(after, before), encoding="utf-8")
    female, inter = group_key("gender", "female"), "a-gender-x-age-band"
    rid = next(f for f in after["findings"] if "record_ids" in f)["record_ids"][0]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    r = load(
        page,
        SCREENSHOTS / "audit_drill_after_filtered.png",
        evaluate={
            "all": _filtered(),
            "id": _filtered(text=rid),
            "both": _filtered(inter, female),
            "female": _filtered("", female),  # last: the screenshot shows it
        },
    )
    assert r.console_errors == [] and r.requests == []
    everything = json.loads(r.values["all"])
    assert len(everything["shown"]) == everything["all"] >= 3
    v = json.loads(r.values["female"])
    assert v["shown"] and all(female in keys.split() for keys in v["shown"])
    assert len(v["shown"]) < v["all"]
    assert v["says"] == f"{len(v['shown'])} of {v['all']} shown"
    # findings about an intersection that holds women are shown too
    assert any(inter in keys.split() for keys in v["shown"])
    both = json.loads(r.values["both"])
    assert both["shown"] and all(
        female in keys.split() and inter in keys.split() for keys in both["shown"]
    )
    assert len(both["shown"]) < len(v["shown"])
    found = json.loads(r.values["id"])
    assert found["shown"] and len(found["shown"]) < found["all"]
    assert r.screenshot.stat().st_size > 10_000
