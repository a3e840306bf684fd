"""The report templates (provena.reports): one layout and one stylesheet for every HTML page,
loud errors for a missing value, escaping in HTML and none in the Markdown card, and every
template shipped as package data."""

from __future__ import annotations

import glob
import re
import tomllib

import pytest
from jinja2 import UndefinedError, nodes

from provena import reports
from provena.report_diff import diff_outputs
from provena.report_diff import render_html as render_diff
from tests.conftest import ROOT

TEMPLATES = ROOT / "src/provena/reports/templates"
LAYOUT = "base.html.j2"
PAYLOAD = "<script>alert(1)</script>"
# HTML templates that are not pages: the layout and the macros the pages import
NOT_PAGES = {LAYOUT, "macros.html.j2", "drill.html.j2"}
PAGES = sorted(
    p.relative_to(TEMPLATES).as_posix()
    for p in TEMPLATES.rglob("*.html.j2")
    if p.name not in NOT_PAGES
)


def _page(title: str = "t", main: str = "") -> str:
    """A page extending the layout, rendered with the title and body text as values."""
    env = reports.environment()
    source = (
        '{% extends "base.html.j2" %}{% block title %}{{ title }}{% endblock %}'
        "{% block main %}<p>{{ main }}</p>{% endblock %}"
    )
    return env.from_string(source).render(title=title, main=main)


def test_every_page_is_found():
    assert PAGES == [
        "bias_audit.html.j2",
        "clean_report.html.j2",
        "compare.html.j2",
        "data_quality.html.j2",
        "drift.html.j2",
        "funnel.html.j2",
        "model.html.j2",
        "pii_report.html.j2",
        "report_diff.html.j2",
    ]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_extends_the_layout_and_brings_no_style_of_its_own(name):
    source = (TEMPLATES / name).read_text()
    tree = reports.environment().parse(source)
    extends = list(tree.find_all(nodes.Extends))
    assert [e.template.value for e in extends] == [LAYOUT]
    assert not re.search(r"<(!doctype|html|head|style|link)\b", source, re.I)


def test_the_layout_has_viewport_meta_and_inlines_the_one_stylesheet():
    html = _page()
    css = (TEMPLATES / "style.css").read_text()
    assert html.startswith('<!doctype html>\n<html lang="en">')
    assert '<meta charset="utf-8">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count("<style>") == 1 and f"<style>\n{css}</style>" in html
    assert "<link" not in html and "src=" not in html  # self-contained: nothing to load
    assert "<header>" in html and "<main>" in html


def test_a_rendered_report_carries_the_layout():
    html = render_diff(diff_outputs({}, {"metrics/clean.json": {"records_in": 2}}))
    css = (TEMPLATES / "style.css").read_text()
    assert html.count("<style>") == 1 and css in html
    assert '<meta name="viewport"' in html
    assert "<title>Provena outputs: A → B</title>" in html


def test_no_html_is_left_in_python():
    for path in sorted((ROOT / "src/provena").rglob("*.py")):
        text = path.read_text()
        found = re.findall(r"<(!doctype|html|style|table|td|svg)\b", text, re.I)
        assert not found, f"{path.relative_to(ROOT)}: HTML markup {found} (use a template)"


def test_a_missing_value_is_an_error_not_an_empty_string():
    with pytest.raises(UndefinedError, match="'r' is undefined"):
        reports.render("pii_report.html.j2")
    with pytest.raises(UndefinedError, match="has no attribute 'summary'"):
        reports.render_macro("card/sections.md.j2", "human_review", {"source": "s.csv"})
    with pytest.raises(UndefinedError, match="'title' is undefined"):
        reports.environment().from_string(
            '{% extends "base.html.j2" %}{% block title %}{{ title }}{% endblock %}'
        ).render()


def test_html_is_escaped():
    html = _page(title=PAYLOAD, main=f'"{PAYLOAD}" & more')
    assert "<script" not in html
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in html
    assert "<p>&#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; &amp; more</p>" in html
    diff = render_diff(diff_outputs({}, {"metrics/clean.json": {"records_in": 2}}, label_b=PAYLOAD))
    assert "<script" not in diff and "&lt;script&gt;alert(1)&lt;/script&gt;" in diff


def test_markdown_is_not_escaped():
    ratings = {
        "source": "a<b>&c.csv",
        "imported_at": "t",
        "summary": {
            "rated": 1,
            "unrated": 0,
            "mean_rating": 4.0,
            "by_family": {},
            "by_attribute": {},
        },
    }
    md = reports.render_macro("card/sections.md.j2", "human_review", ratings)
    assert "the last a<b>&c.csv on t." in md


def test_filters():
    assert (reports.fixed(0.12345, 3), reports.fixed(None), reports.fixed(None, 2, "n/a")) == (
        "0.123",
        "—",
        "n/a",
    )
    assert (reports.percent(0.1234), reports.percent(0.5, 2)) == ("12.3%", "50.00%")
    assert [reports.md_cell(v) for v in (None, 1234, 0.123456, 12345.678, "a|b\nc")] == [
        "n/a",
        "1,234",
        "0.1235",
        "12,345.7",
        "a\\|b c",
    ]


def test_every_template_is_package_data():
    """The globs of [tool.setuptools.package-data] (setuptools expands them like glob) cover
    every file under templates/, so a built wheel ships them."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["provena"]
    pkg = ROOT / "src/provena"
    shipped = {f for p in patterns for f in glob.glob(p, root_dir=pkg)}
    files = {p.relative_to(pkg).as_posix() for p in TEMPLATES.rglob("*") if p.is_file()}
    assert files and files <= shipped, sorted(files - shipped)
