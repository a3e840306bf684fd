"""The reports' shared layout and charts: the table of contents, the shared axis of before and
after, labels never cut, heatmap cells, the histogram's y axis; and the audit page built on
them (needs-attention links, collapsed not-checked outcomes, the source of the references)."""

from __future__ import annotations

import re

import pytest

from provena import reports
from provena.audit_data import report as audit_report
from provena.config import AuditDataConfig
from provena.reports import charts
from tests.helpers.audit_pages import audits

LONG = "nonbinary & 18-29"


def _series(before: dict, after: dict) -> list[dict]:
    return [{"name": "before", "points": before}, {"name": "after", "points": after}]


def test_before_and_after_share_one_axis_the_same_value_drawn_at_the_same_place():
    before = {"male": {"value": 0.715, "ci": [0.70, 0.73]}, "female": {"value": 0.274}}
    after = {"male": {"value": 0.541}, "female": {"value": 0.459, "ci": [0.45, 0.47]}}
    c = charts.compare(
        ["male", "female"], _series(before, after), pct=True, title="t", axis_title="share"
    )
    pts = {(p["series"], r["label"][0]): p for r in c["rows"] for p in r["points"]}
    # one scale: the length from the axis origin is proportional to the value in both runs
    scale = {
        k: (p["x"] - c["x0"]) / v
        for k, p, v in [
            (("before", "male"), pts["before", "male"], 0.715),
            (("after", "male"), pts["after", "male"], 0.541),
            (("after", "female"), pts["after", "female"], 0.459),
        ]
    }
    assert max(scale.values()) - min(scale.values()) < 0.01
    assert pts["before", "male"]["x"] > pts["after", "male"]["x"]  # 71.5% wider than 54.1%
    same = charts.compare(
        ["a"],
        _series({"a": {"value": 0.3}}, {"a": {"value": 0.3}}),
        pct=True,
        title="t",
        axis_title="x",
    )
    a, b = same["rows"][0]["points"]
    assert a["x"] == b["x"]
    # the axis spans both runs' values and interval ends, starts at 0 and is labelled
    ticks = c["ticks"]
    assert ticks[0]["value"] == 0 and ticks[0]["label"] == "0%"
    assert ticks[-1]["value"] >= 0.73 and ticks[-1]["x"] == pytest.approx(c["x0"] + c["plot_w"])
    assert pts["before", "male"]["hi"] <= ticks[-1]["x"]


def test_axis_ticks_are_round_and_cover_the_top():
    ax = charts.axis(0.715, 300, pct=True)
    assert [t["label"] for t in ax["ticks"]] == ["0%", "20%", "40%", "60%", "80%"]
    ax = charts.axis(311, 300, pct=False)
    assert ax["max"] >= 311 and ax["ticks"][1]["value"] == 100


def test_labels_are_never_cut():
    c = charts.compare(
        ["male", LONG],
        _series({LONG: {"value": 0.1}}, {LONG: {"value": 0.2}}),
        pct=True,
        title="t",
        axis_title="x",
    )
    assert [r["label"] for r in c["rows"]] == [["male"], [LONG]]
    assert c["x0"] >= charts.text_width(LONG)  # the plot starts after the longest label
    very = "a group label far longer than any label column should be allowed to grow " * 2
    lines = charts.wrap(very.strip())
    assert len(lines) > 1 and " ".join(lines) == very.strip()
    assert all(charts.text_width(line) <= charts.MAX_LABEL_W for line in lines)
    html = reports.render_macro(
        "macros.html.j2",
        "hbars",
        {
            "rows": [{"label": LONG, "value": 0.2, "ci": None, "ref": None, "verdict": "pass"}],
            "max": 1.0,
            "pct": True,
        },
    )
    assert ">nonbinary &amp; 18-29</text>" in html


def test_heatmap_cells_sit_at_their_row_and_column_and_share_the_colour_scale():
    cells = {
        ("female", "18-29"): {"value": 0.05, "verdict": "fail", "title": "f"},
        ("male", "65+"): {"value": 0.20, "verdict": "pass", "title": "m"},
    }
    h = charts.heatmap(
        cells,
        ["female", "male"],
        ["18-29", "65+"],
        top=0.2,
        pct=True,
        title="t",
        row_title="gender",
        col_title="age_band",
    )
    by = {(c["row"], c["col"]): c for c in h["cells"]}
    assert len(by) == 4
    f, m = by["female", "18-29"], by["male", "65+"]
    assert (f["x"], f["y"]) == (h["x0"], h["y0"])
    assert (m["x"], m["y"]) == (h["x0"] + h["cell_w"], h["y0"] + h["cell_h"])
    assert (f["text"], f["verdict"], m["text"]) == ("5.0%", "fail", "20.0%")
    assert m["opacity"] > f["opacity"]
    assert by["female", "65+"]["sub"] == "no records"
    other = charts.heatmap(
        {("female", "18-29"): cells["female", "18-29"]},
        ["female"],
        ["18-29"],
        top=0.2,
        pct=True,
        title="t",
        row_title="g",
        col_title="a",
    )
    assert other["cells"][0]["opacity"] == f["opacity"]  # same top, same value: same fill
    svg = reports.render_macro("macros.html.j2", "heatmap", h)
    assert 'role="img"' in svg and "<title>t</title>" in svg and ">age_band →</text>" in svg


def test_histogram_has_a_y_axis_on_its_square_root_scale():
    h = {
        "bins": [
            {"x": 0, "lo": 0, "hi": 5, "count": 40, "h": 100.0},
            {"x": 1, "lo": 5, "hi": 10, "count": 10, "h": 50.0},
        ],
        "max": 40,
        "lo": 0,
        "hi": 10,
        "n": 50,
    }
    ticks = charts.histogram_axis(h)
    assert ticks == [{"count": 0, "h": 0.0}, {"count": 10, "h": 50.0}, {"count": 40, "h": 100.0}]
    svg = reports.render_macro("macros.html.j2", "histogram", h, "tokens")
    assert "<title>Histogram of tokens (50 values)</title>" in svg
    assert "square-root scale" in svg and ">40</text>" in svg


def test_table_of_contents_lists_h2s_and_h3s_with_ids():
    html = (
        '<h2 id="a">First <small>note</small></h2><h3 id="b">Sub &amp; more</h3><h3>no id</h3>'
        '<h2>Second one</h2><p id="second-one"></p><h2>Second one</h2>'
    )
    out = reports.table_of_contents(html)
    assert [(e["level"], e["id"], str(e["text"])) for e in out["toc"]] == [
        (2, "a", "First"),
        (3, "b", "Sub &amp; more"),
        (2, "second-one-2", "Second one"),
        (2, "second-one-3", "Second one"),
    ]
    ids = re.findall(r'id="([^"]+)"', str(out["html"]))
    assert len(ids) == len(set(ids)) and "<h2>Second one</h2>" in str(out["html"])


@pytest.fixture(scope="module")
def pages():
    before, after = audits()
    return before, after, audit_report.render_html(after, before)


def test_audit_page_links_every_failing_and_inconclusive_finding_to_its_section(pages):
    _, after, html = pages
    ids = set(re.findall(r' id="([^"]+)"', html))
    nav = html.split('<nav class="toc"', 1)[1].split("</nav>", 1)[0]
    targets = re.findall(r'href="#([^"]+)"', nav)
    assert targets and set(targets) <= ids
    attention = html.split('id="attention-list">', 1)[1].split("</ul>", 1)[0]
    wanted = [
        f
        for f in after["findings"]
        if f["verdict"] in ("fail", "inconclusive") and f["check"] != "all"
    ]
    links = re.findall(r'href="#([^"]+)"', attention)
    assert len(links) == len(wanted) and set(links) <= ids
    assert audit_report.section_of("outcome:resolution:gender:resolution = refund") == (
        "out-resolution-gender-refund"
    )
    verdicts = re.findall(r'<li class="(\w+)"><span class="status">', attention)
    assert verdicts == sorted(verdicts, key=["fail", "inconclusive"].index)


def test_not_checked_outcomes_are_collapsed_with_their_reason(pages):
    _, _, html = pages
    details = re.findall(
        r'<details class="not-checked" id="([^"]+)"><summary>(.*?)</summary>', html, re.S
    )
    assert details
    reasons = " ".join(s for _, s in details)
    assert "icd10_chapter" in reasons and "check: false" in reasons
    assert "out-icd10-chapter-gender-i" in [i for i, _ in details]
    # and they are not among the open sections
    assert '<h3 id="out-icd10-chapter-gender-i">' not in html


def test_the_page_says_where_the_reference_shares_come_from(pages):
    _, _, html = pages
    src = html.split('id="reference-sources">', 1)[1].split("</table>", 1)[0]
    assert "<code>audit_data.reference.gender</code>" in src
    assert AuditDataConfig().reference_source["age_band"] in src
    assert '<a href="#sources"' in html


def test_a_reference_set_in_params_without_a_source_says_so():
    cfg = AuditDataConfig(reference={"gender": {"female": 0.5, "male": 0.5}})
    assert cfg.reference_source == {}
    from provena.group_audit import reference_sources

    src = reference_sources(cfg)
    assert src["gender"]["set_in"] == "params"
    assert "no source given" in src["gender"]["source"]
    assert src["age_band"]["shares"] == "parity"
    with pytest.raises(ValueError, match="reference_source for 'x'"):
        AuditDataConfig(reference_source={"x": "somewhere"})


def test_every_audit_chart_has_a_title_and_role_img(pages):
    _, _, html = pages
    svgs = re.findall(r"<svg[^>]*>\s*<title>", html)
    assert svgs and len(svgs) == html.count("<svg")
    assert html.count('role="img"') == html.count("<svg")
    assert "<script" not in html
