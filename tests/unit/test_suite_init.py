"""`provena suite init`: a Great Expectations suite profiled from the user's curated table,
which loads in Great Expectations and passes on that table, with bounds that bite on data
unlike it; family checks only where families exist; clear errors on bad input; no overwrite
without --force."""

from __future__ import annotations

import json

import pytest

from provena import validate
from provena.cli import main
from provena.config import ValidateConfig
from provena.errors import UserError
from provena.validate import profile
from tests.conftest import ROOT
from tests.factory import CLINICAL_NOTE, SUPPORT_REPLY, record, records, write_records

ASSET = ROOT / "tests" / "assets" / "own_data" / "qa.jsonl"
CFG = ValidateConfig()


def own_records():
    """The own-data asset (raw Dolly-shaped rows) as curated records: no family, no attribute,
    its `category` in meta, as ingest would map it."""
    rows = [json.loads(line) for line in ASSET.read_text().splitlines() if line.strip()]
    return [
        record(
            source="data/raw/mine/qa.jsonl",
            instruction=r["instruction"],
            input=r["context"],
            output=r["response"],
            meta={"category": r["category"]},
        )
        for r in rows
    ]


def _init(tmp_path, recs, name="mine.json", *extra):
    data = write_records(tmp_path / "clean.parquet", recs)
    out = tmp_path / "expectations" / name
    code = main(["suite", "init", "--data", str(data), "--out", str(out), *extra])
    return code, data, out


def _validate(tmp_path, data, out, tag="v"):
    """The validate stage on ``data`` with ``validate.suite`` pointing at ``out``."""
    cfg = CFG.model_copy(update={"suite": out.relative_to(tmp_path).as_posix()})
    d = tmp_path / tag
    return validate.run(
        data, cfg, root=tmp_path, results_json=d / "results.json", verdict_json=d / "v.json"
    ).report


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own")
    code, data, out = _init(tmp, own_records())
    assert code == 0
    return tmp, data, out


def test_the_written_suite_loads_in_gx_and_passes_on_the_table_it_profiled(own, capsys):
    import great_expectations as gx

    tmp, data, out = own
    suite = validate.load_suite(out)  # every expectation named, no name twice
    gx.ExpectationSuite(**suite)  # Great Expectations builds every expectation
    report = _validate(tmp, data, out)
    assert report["verdict"] == "pass"
    assert report["failed_critical"] == report["failed_warning"] == []
    assert report["not_judged"] == [] and report["passed"] == len(suite["expectations"])
    assert not any(r.get("error") for r in report["results"])


def test_the_suite_covers_shape_lengths_languages_pii_and_duplicates(own):
    _, _, out = own
    suite = json.loads(out.read_text())
    by_name = {e["meta"]["name"]: e for e in suite["expectations"]}
    assert {
        "columns_present",
        "unique_ids",
        "output_not_empty",
        "fits_max_seq_len",
        "no_residual_pii",
        "instruction_length",
        "output_length",
        "output_length_median",
        "language_values",
        "duplicate_texts",
        "duplicate_prompts",
    } <= set(by_name)
    assert by_name["language_values"]["kwargs"]["value_set"] == ["en"]
    for name in ("no_residual_pii", "fits_max_seq_len", "unique_ids", "columns_present"):
        assert by_name[name]["severity"] == "critical", name
    # profiled bounds are warnings the user tightens, each explained in its description
    lengths = by_name["output_length"]
    assert lengths["severity"] == "warning" and "quantiles" in lengths["description"]
    n = len(own_records())
    assert f"the {n} records profiled" in lengths["description"]
    assert suite["meta"]["profiled"]["records"] == n
    # no family and no attribute in this data: no family or attribute expectation at all
    assert not [k for k in by_name if "family" in k or k.startswith(("share_", "gender"))]


def test_the_shared_expectations_are_the_shipped_suites_own():
    shipped = {e["meta"]["name"]: e for e in validate.load_suite(ROOT / CFG.suite)["expectations"]}
    assert shipped["fits_max_seq_len"] == profile.FITS_MAX_SEQ_LEN
    assert shipped["no_residual_pii"] == profile.NO_RESIDUAL_PII


def test_it_prints_what_it_wrote_and_how_to_use_it(tmp_path, capsys):
    code, _, out = _init(tmp_path, own_records()[:30])
    text = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert f"wrote {out}: " in text and "critical no_residual_pii" in text
    assert f"validate.suite: {out.as_posix()}" in text and "verdict pass" in text
    assert "(left out: no record names a task family" in text
    assert "meta category: not columns of the validated table" in text


def test_the_same_table_gives_the_same_file(tmp_path):
    recs = own_records()
    _, _, a = _init(tmp_path / "a", recs)
    _, _, b = _init(tmp_path / "b", recs)
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    ja["meta"]["profiled"].pop("path"), jb["meta"]["profiled"].pop("path")
    assert ja == jb


def test_an_existing_suite_is_not_overwritten_without_force(own, caplog):
    _, data, out = own
    before = out.read_bytes()
    out.write_text("{}")  # the user's edits
    argv = ["suite", "init", "--data", str(data), "--out", str(out)]
    assert main(argv) == 2
    assert "exists: pass --force to overwrite it" in caplog.text
    assert out.read_text() == "{}"
    assert main([*argv, "--force"]) == 0
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.jsonl", None, r"none\.jsonl: no such file"),
        ("empty.jsonl", "\n", r"empty\.jsonl: holds no record to profile"),
        ("bad.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": \n', r"bad\.jsonl, line 2: not valid JSON"),
        ("list.jsonl", "[1, 2]\n", r"list\.jsonl, line 1: not a JSON object \(got an array\)"),
        ("field.jsonl", '{"instruction": "a"}\n', r"field\.jsonl, line 1: field 'output' missing or not a string"),
        ("meta.jsonl", '{"instruction": "a", "output": "b", "meta": [1]}\n', r"meta\.jsonl, line 1: field 'meta' is not an object"),
        ("table.parquet", b"not parquet", r"table\.parquet: not a Parquet file"),
        ("rows.csv", "a,b\n", r"rows\.csv: unsupported file type '\.csv'"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error_naming_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message):
        profile.init_suite(path, tmp_path / "out.json", CFG, root=tmp_path)
    assert not (tmp_path / "out.json").exists()


def test_a_parquet_file_that_is_not_a_record_table_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"question": ["a"], "answer": ["b"]}), path)
    with pytest.raises(UserError, match=r"t\.parquet: not a record table: no column id, "):
        profile.read_curated(path)


def test_jsonl_records_without_ids_get_the_pipelines_content_hash(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"instruction": "Name a colour.", "output": "Blue."}) + "\n")
    [rec] = profile.read_curated(path)
    assert rec["id"] == record(instruction="Name a colour.", output="Blue.")["id"]
    assert rec["input"] == "" and rec["meta"] == {} and rec["source"] == "c.jsonl"


def _failed(tmp_path, out, recs, tag):
    data = write_records(tmp_path / f"{tag}.parquet", recs)
    report = _validate(tmp_path, data, out, tag)
    return set(report["failed_warning"]) | set(report["failed_critical"])


def test_the_profiled_bounds_bite_on_data_unlike_the_profile(own):
    tmp, _, out = own
    recs = own_records()
    # 5 outputs in 76 ten times longer than any: over the row bounds for more than 1% of rows
    long = [{**r, "output": r["output"] * 10} if i < 5 else r for i, r in enumerate(recs)]
    assert _failed(tmp, out, long, "long") == {"output_length"}
    french = "La tour Eiffel a été construite pour l'exposition universelle de Paris en 1889."
    fr = [*recs, record(instruction="Où est la tour Eiffel ?", output=french)]
    assert _failed(tmp, out, fr, "fr") == {"language_values"}
    # 5 prompts answered a second time (another answer, as long)
    again = [
        record(instruction=r["instruction"], output=r["output"] + " I hope this helps.")
        for r in recs[:5]
    ]
    twice = [*recs, *again]
    assert _failed(tmp, out, twice, "twice") == {"duplicate_prompts"}


def test_families_and_attributes_are_profiled_only_where_records_have_them(tmp_path):
    recs = records(50, kinds=(SUPPORT_REPLY, CLINICAL_NOTE))
    code, data, out = _init(tmp_path, recs)
    assert code == 0
    by_name = {e["meta"]["name"]: e for e in json.loads(out.read_text())["expectations"]}
    assert by_name["family_values"]["kwargs"]["value_set"] == [
        "clinical_extraction",
        "support_reply",
    ]
    share = by_name["share_support_reply"]["kwargs"]
    assert (share["column"], share["min_value"], share["max_value"]) == (
        "is_support_reply",
        0.25,
        0.75,
    )
    assert by_name["gender_values"]["kwargs"]["value_set"] == ["female", "male"]
    assert _validate(tmp_path, data, out)["verdict"] == "pass"
    # a table with the support replies only: the clinical share is judged (0%), not an error
    only = _failed(tmp_path, out, [r for r in recs if r["meta"]["family"] == "support_reply"], "s")
    assert {"share_clinical_extraction", "share_support_reply"} <= only
