"""Great Expectations' Data Docs: offline (no CDN address left, the tables bootstrap-table drew
written out as HTML) and reproducible (two runs on the same data write identical files)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from provena import validate
from provena.io import RecordWriter, file_md5
from provena.validate import docs
from tests.conftest import ROOT
from tests.unit.test_validate import CFG, _flawed_records, _records


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _validate(inp: Path, out: Path) -> None:
    validate.run(
        inp,
        CFG,
        root=ROOT,
        results_json=out / "results.json",
        verdict_json=out / "verdict.json",
        docs_dir=out / "docs",
    )


def test_two_runs_on_the_same_data_write_identical_offline_data_docs(tmp_path):
    inp = tmp_path / "clean.parquet"
    with RecordWriter(inp) as w:
        w.write(_records())
    _validate(inp, tmp_path / "a")
    _validate(inp, tmp_path / "b")
    a, b = _tree(tmp_path / "a" / "docs"), _tree(tmp_path / "b" / "docs")
    assert a == b
    # the run is named by the data's hash, at the fixed run time: no clock value anywhere
    md5 = file_md5(inp)
    (page,) = [p for p in a if p.startswith("validations/")]
    assert f"/{md5[:12]} all records/19700101T000000.000000Z/" in page
    # fonts and images no page uses are gone: each page is self-contained
    assert sorted(a) == ["expectations/curated.html", "index.html", page]
    index = (tmp_path / "a" / "docs" / "index.html").read_text()
    for path in a:
        text = (tmp_path / "a" / "docs" / path).read_text(errors="replace")
        assert not re.search(r"<(script|link|img)[^>]*(src|href)=\"https?://", text), path
    text = (tmp_path / "a" / "docs" / page).read_text()
    assert re.search(r"ge_load_time</span>.*?19700101T000000\.000000Z", text, re.S)
    # the validation list is an HTML table whose row links to the run's page
    href = page.replace(" ", "%20")
    assert f'<tr data-href="{href}">' in index
    assert f'<a href="{href}">{md5[:12]} all records</a>' in index


def test_a_run_on_other_data_replaces_the_site_and_no_record_text_is_shown(tmp_path):
    """The site shows this run only: an earlier run's pages do not linger in its index. The
    failing rows of an expectation on a text column are named by id, their text withheld."""
    first, second = tmp_path / "1.parquet", tmp_path / "2.parquet"
    flawed = _flawed_records()
    with RecordWriter(first) as w:
        w.write(_records())
    with RecordWriter(second) as w:
        w.write(flawed)
    _validate(first, tmp_path)
    _validate(second, tmp_path)
    pages = [p for p in _tree(tmp_path / "docs") if p.startswith("validations/")]
    assert len(pages) == 1 and file_md5(second)[:12] in pages[0]
    assert file_md5(first)[:12] not in (tmp_path / "docs" / "index.html").read_text()
    page = (tmp_path / "docs" / pages[0]).read_text()
    assert "123-45-6789" not in page and "x x x x" not in page  # planted PII, a long output
    assert docs.WITHHELD.format(id=flawed[3]["id"]) in page  # the residual-PII row, by id
    assert "woman" in page  # values of other columns (an attribute) are shown
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    pii = next(r for r in results if r["name"] == "no_residual_pii")
    assert pii["observed"]["unexpected_ids"] == [flawed[3]["id"]]  # the JSON is unchanged


PAGE = """<html><head>
<link rel="stylesheet" href="https://cdn.example/bootstrap.min.css"/>
<script src="https://cdn.example/jquery.js"></script>
<style>.navbar-brand a { background: url('https://cdn.example/logo.png') }</style>
</head><body>
<img class="NO-CACHE" src="https://cdn.example/logo-long.png?d=20261207T113848.936448Z" alt="GX"/>
<div class="col-md-10 col-lg-10 col-xs-12">
<div id="t-toolbar" class="ml-1"><button onclick="clearTableFilters('t')">Clear</button></div>
<table id="t" class="table-sm" data-toggle="table">
</table>
<script>
  $('#t').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'run_time', 'title': 'Run Time', 'sortName': '_s'}, {'field': 'run_name', 'title': 'Run Name'}],
        data: [{'run_time': 'early', '_s': 1.0, 'run_name': 'a', '_table_row_link_path': 'a.html'}, {'run_time': 'late', '_s': 2.0, 'run_name': 'b <i>x</i>', '_table_row_link_path': 'b.html'}],
        toolbar: '#t-toolbar'
      },
      {'sortName': 'run_time', 'sortOrder': 'desc'}
    )
  );
</script>
<table id="e" class="table-sm" data-toggle="table">
</table>
<script>
  $('#e').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'x', 'title': 'X'}],
        data: [],
        toolbar: '#e-toolbar'
      },
      {}
    )
  );
</script>
<a data-toggle="collapse" href="#body-0f8fad5b-d9cb-469f-a165-70867728950e">more</a>
<div id=body-0f8fad5b-d9cb-469f-a165-70867728950e class="collapse">
</div></div>
<footer>
  <p>Stay current on everything GX with our newsletter <a href="https://x">Subscribe</a></p>
</footer>
</body></html>"""


def test_rewrite_drops_the_network_and_writes_the_tables_out():
    out = docs.rewrite_page(PAGE)
    assert "cdn.example" not in out and "newsletter" not in out and "clearTableFilters" not in out
    assert '<span class="ge-logo">Great Expectations</span>' in out
    # one inline script is left: ours (no jQuery)
    (script,) = re.findall(r"<script>(.*?)</script>", out, re.S)
    assert "$(" not in script and "hideSucceededValidations" in script
    # rows sorted by their sort key, descending; the plain run name is the link
    rows = re.findall(r"<tr data-href=\"([^\"]+)\">(.*?)</tr>", out, re.S)
    assert [h for h, _ in rows] == ["b.html", "a.html"]
    assert '<td><a href="a.html">a</a></td>' in rows[1][1]
    assert '<td><a href="b.html">late</a></td>' in rows[0][1]  # its name holds markup
    assert "no entries: this run wrote none to the site" in out  # never an empty table
    # clock values and random ids are gone
    assert "2026" not in out
    assert 'href="#body-n1"' in out and "id=body-n1 " in out
    assert out.count('id="provena-note"') == 1


def test_runs_of_one_time_are_listed_in_page_order_whatever_order_gx_gave():
    columns = [{"field": "run_time", "sortName": "_t"}, {"field": "run_name"}]
    names = ["rows 51-100", "all records", "rows 1-50", "rows 101-120"]
    rows = [
        {"run_time": "t", "_t": 0.0, "run_name": n, "_table_row_link_path": f"{n}.html"}
        for n in names
    ]
    opts = {"sortName": "run_time", "sortOrder": "desc"}
    for given in (rows, rows[::-1]):
        out = docs._table("x", columns, given, opts)
        assert re.findall(r'data-href="([^"]+)\.html"', out) == [
            "all records",
            "rows 1-50",
            "rows 51-100",
            "rows 101-120",
        ]
