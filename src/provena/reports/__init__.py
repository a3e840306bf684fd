"""reports: renders every HTML report and the model card from the packaged Jinja2 templates.

``templates/`` holds one layout (``base.html.j2``: doctype, viewport, title, the one stylesheet
``style.css`` inlined so a page stays self-contained and works offline, header, main), the
shared macros (``macros.html.j2``), one template per page extending the layout, and the model
card (``card/``, Markdown). HTML templates (``*.html.j2``) are autoescaped, Markdown ones
(``*.md.j2``) are not; a missing context key is an error (``StrictUndefined``), never an empty
string. A page's renderer builds a plain context from its JSON report and calls :func:`render`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


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
    return env


def render(name: str, **context: Any) -> str:
    """Render the template ``name`` (relative to ``templates/``) with ``context``."""
    return environment().get_template(name).render(**context)


def render_macro(name: str, macro: str, *args: Any) -> str:
    """Call the macro ``macro`` of the template ``name`` with ``args`` (a card section alone)."""
    return str(getattr(environment().get_template(name).module, macro)(*args))
