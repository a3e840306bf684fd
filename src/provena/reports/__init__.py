"""reports: renders every HTML report and the model card from the packaged Jinja2 templates.

``templates/`` holds one layout (``base.html.j2``: doctype, viewport, title, the one stylesheet
``style.css`` inlined so a page stays self-contained and works offline, header, a sticky table
of contents built by :func:`table_of_contents` from the page's headings without a script, main, and
the page's "Sources of reference values" when it gives any), the
shared macros (``macros.html.j2``), one template per page extending the layout, and the model
card (``card/``, Markdown). HTML templates (``*.html.j2``) are autoescaped, Markdown ones
(``*.md.j2``) are not; a missing context key is an error (``StrictUndefined``), never an empty
string. Chart geometry comes from :mod:`provena.reports.charts` (a template global). A page's
renderer builds a plain context from its JSON report and calls :func:`render`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from provena.reports import charts


def fixed(value: float | None, digits: int = 2, none: str = "—") -> str:
    """``value`` with ``digits`` decimals; ``none`` for None."""
    return none if value is None else f"{value:.{digits}f}"


def percent(value: float | None, digits: int = 1, none: str = "—") -> str:
    """A share in [0, 1] as a percentage with ``digits`` decimals: 0.1234 -> '12.3%'."""
    return none if value is None else f"{100 * value:.{digits}f}%"


def md_cell(value: Any) -> str:
    """A value in a Markdown table cell: 'n/a' for None, numbers with thousands separators
    (floats to 4 significant digits below 1,000), text with its pipes escaped on one line."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|").replace("\n", " ")


_HEADING = re.compile(r"<h([23])((?:\s[^>]*)?)>(.*?)</h\1>", re.S)
_ID = re.compile(r'\sid="([^"]*)"')


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def table_of_contents(html: str) -> dict[str, Any]:
    """The table of contents of a page's rendered ``html``: every ``<h2>`` and every ``<h3>``
    that has an id, in order, as {"html": the page, "toc": [{level, id, text}]} (``text`` is
    the heading's escaped HTML without tags and without its ``<small>`` note). An ``<h2>``
    without an id gets an anchor just before it (``<a class="toc-anchor" id=...>``, the id
    from its text, unique on the page); the heading itself is left as it is."""
    taken = set(_ID.findall(html))
    toc: list[dict[str, Any]] = []

    def visit(m: re.Match[str]) -> str:
        level, attrs, inner = int(m[1]), m[2] or "", m[3]
        found = _ID.search(attrs)
        text = re.sub(r"<[^>]*>", "", re.sub(r"<small>.*?</small>", "", inner, flags=re.S))
        text = " ".join(text.split())
        if found:
            ident = found[1]
        elif level == 2:
            base = ident = _slug(text)
            n = 2
            while ident in taken:
                ident, n = f"{base}-{n}", n + 1
            taken.add(ident)
            toc.append({"level": level, "id": ident, "text": Markup(text)})
            return f'<a class="toc-anchor" id="{ident}"></a>{m[0]}'
        else:
            return m[0]
        toc.append({"level": level, "id": ident, "text": Markup(text)})
        return m[0]

    return {"html": Markup(_HEADING.sub(visit, str(html))), "toc": toc}


@cache
def environment() -> Environment:
    """The one Jinja2 environment every report and the card are rendered with."""
    env = Environment(
        loader=PackageLoader("provena.reports", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("md.j2",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fixed=fixed, percent=percent, md_cell=md_cell)
    env.globals.update(table_of_contents=table_of_contents, charts=charts)
    return env


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` (relative to ``templates/``) with ``context``."""
    return environment().get_template(name).render(**context)


def render_macro(name: str, macro: str, *args: Any) -> str:
    """Call the macro ``macro`` of the template ``name`` with ``args`` (a card section alone)."""
    return str(getattr(environment().get_template(name).module, macro)(*args))
