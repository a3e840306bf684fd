"""Great Expectations' Data Docs, made to work offline and to be reproducible.

Great Expectations (1.x) writes its Data Docs pages to load Bootstrap, jQuery, bootstrap-table,
Font Awesome, Vega and a logo from CDNs: offline the index is unstyled, its validation list
(drawn by bootstrap-table from data in a script) never renders, and every inline script fails
with a ReferenceError (``$``). None of these libraries ships with Great Expectations or with any
Provena dependency, and its template loader puts its own templates first, so a custom template
cannot replace them. So :func:`make_offline` rewrites the written pages, after the checkpoint:

- every ``<script src>`` and ``<link href>`` to a network address is removed, and so are GX's
  inline scripts (they all call jQuery); one small stylesheet and one small script of ours
  (``data_docs_assets/``) are inlined in their place: the few Bootstrap rules the pages use,
  and tabs, "Show more info" collapses, the "Show All / Failed Only" filter and clickable rows
  in plain JavaScript;
- the tables bootstrap-table drew in the browser (the index's validation results and suites)
  are written out as plain HTML tables from the same data, each row linking to its page,
  sorted as GX sorted them;
- the logo (an image on a web server) becomes text; the newsletter footer and the favicon are
  dropped, and so the static files (fonts, images) no page refers to any more: each page is
  one self-contained file, like Provena's own reports.

The pages are written by :func:`publish` (what GX's UpdateDataDocsAction does), from each
run's result made fit to show first: record text is withheld. The validated table holds the
records' text, and a failing row-wise expectation on it (the residual-PII check above all)
would list what it found; the pages name those rows by id instead (:data:`WITHHELD`), as
``reports/validation.json`` does.

Reproducible: two runs on the same data write byte-identical pages. The run name carries the
validated file's md5 (:func:`run_name`) and the run time is fixed (:data:`RUN_TIME`), not the
clock; the batch's load time (``ge_load_time``, the clock) is set to the run time; the random
element ids GX draws (uuid4) are numbered in order of appearance; the logo's cache-busting
time stamp goes with the logo. A note at the top of each page says so.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import re
import shutil
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

#: The run time every Data Docs run carries: fixed, so the pages do not change with the clock.
#: The run name carries the data's hash (:func:`run_name`); when the stage ran is not part
#: of its output.
RUN_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

_EXTERNAL_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>\s*")
_EXTERNAL_LINK = re.compile(r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>\s*")
_INLINE_SCRIPT = re.compile(r"<script>.*?</script>\s*", re.S)
_IMG_REMOTE = re.compile(r"<img[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>", re.S)
_CSS_URL_REMOTE = re.compile(r"url\(['\"]?https?://[^)]*\)")
_FAVICON = re.compile(r"<link rel=\"shortcut icon\"[^>]*>\s*")
_NEWSLETTER = re.compile(r"<footer>\s*<p>[^<]*newsletter.*?</footer>\s*", re.S | re.I)
_TABLE_SCRIPT = re.compile(
    r"\$\('#(?P<id>[^']+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns: (?P<columns>\[.*?\]),\s*data: (?P<data>\[.*?\]),\s*toolbar: '[^']*'\s*\},\s*"
    r"(?P<options>\{.*?\})\s*\)\s*\);",
    re.S,
)
_TOOLBAR = re.compile(r"<div id=\"(?P<id>[^\"]+)-toolbar\"[^>]*>.*?</div>\s*", re.S)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def run_name(label: str, data_md5: str | None) -> str:
    """A run's name: the first 12 hex digits of the validated file's md5, then what it covers
    (``all records``, ``rows 1-5000``); without a hash, the label alone."""
    return f"{data_md5[:12]} {label}" if data_md5 else label


#: what a Data Docs page shows in place of a text column's value (the record is named by id)
WITHHELD = "(text withheld: record {id})"


def _withhold_values(result: dict[str, Any]) -> None:
    """A row-wise result on a text column, its values replaced by their records' ids: the
    pages list the failing rows of a residual-PII check, and must not show what it found."""
    index = result.get("partial_unexpected_index_list") or []
    ids = [i.get("id") if isinstance(i, dict) else i for i in index]
    if "partial_unexpected_list" in result:
        n = len(result["partial_unexpected_list"] or [])
        result["partial_unexpected_list"] = [
            WITHHELD.format(id=ids[k] if k < len(ids) else "?") for k in range(n)
        ]
        result["partial_unexpected_counts"] = [
            {"value": v, "count": 1} for v in result["partial_unexpected_list"]
        ]
    if index:
        result["partial_unexpected_index_list"] = [{"id": i} for i in ids]
    for key in ("unexpected_list", "unexpected_index_list"):  # COMPLETE format only
        result.pop(key, None)


def publish(ctx, checkpoint_result, site: str, withhold: Callable[[Any], bool]) -> None:
    """Write a checkpoint's runs to the Data Docs site ``site`` (what GX's UpdateDataDocsAction
    does), each run's result first made fit to show: the batch's load time (the clock) set to
    :data:`RUN_TIME`, and the values of every expectation ``withhold`` names (those reading a
    text column) replaced by their records' ids (:data:`WITHHELD`)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    for ident, result in checkpoint_result.run_results.items():
        shown = copy.deepcopy(result)  # the caller reads the original
        markers = shown.meta.get("batch_markers")
        if isinstance(markers, dict) and "ge_load_time" in markers:
            markers["ge_load_time"] = RUN_TIME.strftime("%Y%m%dT%H%M%S.%fZ")
        for r in shown.results:
            if r.result and withhold(r.expectation_config):
                _withhold_values(r.result)
        ctx.validation_results_store.set(ident, shown)
        ctx.build_data_docs(
            site_names=[site],
            resource_identifiers=[ident, ExpectationSuiteIdentifier(name=shown.suite_name)],
        )


def clear(docs_dir: Path) -> None:
    """Remove what an earlier run wrote (the site lists every run it holds: only this one's)."""
    for name in ("index.html", "validations", "expectations", "static"):
        path = docs_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _asset(name: str) -> str:
    return (resources.files("provena.validate") / "data_docs_assets" / name).read_text("utf-8")


@cache
def _parts():
    """The macros of ``data_docs_assets/parts.html.j2`` (Jinja2, autoescaped)."""
    env = Environment(
        loader=PackageLoader("provena.validate", "data_docs_assets"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("parts.html.j2").module


def _table(table_id: str, columns: list[dict], data: list[dict], options: dict) -> str:
    """bootstrap-table's table as plain HTML: the same columns and cells (GX's own HTML), rows
    sorted as GX asked, each row linked to its page (the run name is the link, else the first
    plain-text cell)."""
    sort_name = options.get("sortName")
    col = next((c for c in columns if c["field"] == sort_name), {})
    key = col.get("sortName", sort_name)

    def order(row: dict) -> tuple:
        value = row.get(key, "") if key else ""
        num = isinstance(value, int | float)
        return (0, value, "") if num else (1, 0, str(value))

    def page(row: dict) -> list:  # "rows 2-3" before "rows 10-11"
        parts = re.split(r"(\d+)", str(row.get("_table_row_link_path", "")))
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]

    # ties (runs of one time) in page order, so the order never depends on the order GX
    # listed the files in (a directory listing); sorted() is stable, reversed or not
    data = sorted(sorted(data, key=page), key=order, reverse=options.get("sortOrder") == "desc")
    rows = []
    for row in data:
        values = {c["field"]: str(row.get(c["field"], "")).strip() for c in columns}
        plain = [f for f, v in values.items() if "<" not in v]
        link_field = "run_name" if "run_name" in plain else next(iter(plain), None)
        link = row.get("_table_row_link_path")
        cells = [{"value": v, "link": bool(link) and f == link_field} for f, v in values.items()]
        rows.append({"link": link, "cells": cells})
    return str(_parts().table(table_id, [str(c.get("title", "")) for c in columns], rows))


def _static_tables(page: str) -> str:
    """Each bootstrap-table drawn from script data, written out as a plain table."""
    for m in list(_TABLE_SCRIPT.finditer(page)):
        table_id = m["id"]
        table = _table(
            table_id,
            ast.literal_eval(m["columns"]),
            ast.literal_eval(m["data"]),
            ast.literal_eval(m["options"]),
        )
        # the element with the table's id, empty: bootstrap-table filled it in the browser
        empty = re.compile(rf"<(\w+)\s+id=\"{re.escape(table_id)}\"[^>]*>\s*</\1>", re.S)
        page, n = empty.subn(lambda _m, t=table: t, page)
        if n != 1:
            raise RuntimeError(  # GX's page layout changed: a bug to fix here, not user input
                f"Data Docs: the empty element of bootstrap-table {table_id!r} is not in the page"
                " once (did Great Expectations change its page layout?)"
            )
    return _TOOLBAR.sub("", page)  # their "Clear Filters" buttons: there are no filters


def rewrite_page(page: str, run_time: dt.datetime = RUN_TIME) -> str:
    """One Data Docs page, offline and free of clock values (see the module's docstring)."""
    page = _static_tables(page)
    page = _EXTERNAL_SCRIPT.sub("", page)
    page = _EXTERNAL_LINK.sub("", page)
    page = _INLINE_SCRIPT.sub("", page)
    parts = _parts()
    page = _IMG_REMOTE.sub(lambda _m: str(parts.logo()), page)
    page = _CSS_URL_REMOTE.sub("none", page)
    page = _NEWSLETTER.sub("", page)
    page = _FAVICON.sub("", page)
    ids: dict[str, str] = {}
    page = _UUID.sub(lambda m: ids.setdefault(m[0], f"n{len(ids) + 1}"), page)
    note = str(parts.note(run_time.strftime("%Y-%m-%dT%H:%M:%SZ")))
    page = page.replace("</head>", str(parts.style(_asset("offline.css"))) + "</head>", 1)
    page = re.sub(
        r"(<div class=\"col-md-10 col-lg-10[^>]*>)",
        lambda m: m[1] + "\n" + note,
        page,
        count=1,
    )
    return page.replace("</body>", str(parts.script(_asset("offline.js"))) + "</body>", 1)


def make_offline(docs_dir: Path, run_time: dt.datetime = RUN_TIME) -> list[Path]:
    """Rewrite every page of the site (:func:`rewrite_page`) and delete the static files no page
    refers to; returns the pages."""
    pages = sorted(docs_dir.rglob("*.html"))
    texts = []
    for path in pages:
        text = rewrite_page(path.read_text(encoding="utf-8"), run_time)
        path.write_text(text, encoding="utf-8")
        texts.append(text)
    static = docs_dir / "static"
    if static.is_dir():
        for f in sorted(static.rglob("*")):
            if f.is_file() and not any(f"static/{_rel(f, static)}" in t for t in texts):
                f.unlink()
        for d in sorted((p for p in static.rglob("*") if p.is_dir()), reverse=True):
            if not any(d.iterdir()):
                d.rmdir()
        if not any(static.iterdir()):
            static.rmdir()
    return pages


def _rel(path: Path, static: Path) -> str:
    return path.relative_to(static).as_posix()
