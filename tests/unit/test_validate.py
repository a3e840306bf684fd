"""validate: one planted violation per expectation fails exactly that expectation; the verdict
follows severities; Great Expectations stays out of every other module's imports."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from provena import validate
from provena.config import ValidateConfig
from provena.errors import UserError
from provena.tokens import TokenCounter
from tests.conftest import ROOT
from tests.factory import CLINICAL_NOTE, records

SUITE = validate.load_suite(ROOT / "expectations" / "curated.json")
CFG = ValidateConfig()


#: support replies with their PII already replaced (even numbers), and clinical notes (odd)
KINDS = (
    {
        "source": "t.jsonl",
        "instruction": "Reply to the customer politely and resolve the issue.",
        "input": lambda i: f"Hi, order <ID> number {i} arrived late. Can you help?",
        "output": lambda i: f"Hi <PERSON>, sorry about order {i}. A refund is on its way today.",
        "meta": {"family": "support_reply", "gender": "male", "age_band": "65+"},
    },
    {
        **CLINICAL_NOTE,
        "input": lambda i: f"HPI: {20 + i % 60} year old woman with cough for {i} days.",
        "output": lambda i: json.dumps({"age": 20 + i % 60, "sex": "female", "icd10": ["J20.9"]}),
        "meta": {"family": "clinical_extraction", "gender": "female", "age_band": "30-44"},
    },
)


def _records(n: int = 120):
    return records(n, kinds=KINDS)


@pytest.fixture(scope="module")
def base():
    return validate.build_table(_records(), CFG, TokenCounter(None, ROOT, "t"))


def _failed(df) -> tuple[set[str], dict]:
    results = validate.run_suite(df, SUITE, validate.suite_parameters(CFG), None)
    return {r["name"] for r in results if not r["success"]}, validate.verdict(results)


def test_the_clean_table_passes_every_expectation(base):
    failed, v = _failed(base)
    assert failed == set() and v["verdict"] == "pass" and v["expectations"] == 21


def _set(df, col, row, value):
    df[col] = df[col].astype(object)
    df.at[row, col] = value


CLINICAL, SUPPORT = 1, 0  # rows of each family in the base table


def _violations():
    """expectation name -> a function planting exactly that violation into a copy."""

    def head(df):
        return df.head(50).copy()

    return {
        "columns_present": lambda df: df.drop(columns=["source"]),
        "row_count": head,
        "id_is_text": lambda df: _set(df, "id", SUPPORT, 12345) or df,
        "output_is_text": lambda df: _set(df, "output", SUPPORT, ["word"] * 20) or df,
        "id_not_null": lambda df: _set(df, "id", SUPPORT, None) or df,
        "output_not_null": lambda df: _set(df, "output", SUPPORT, None) or df,
        "instruction_not_null": lambda df: _set(df, "instruction", SUPPORT, None) or df,
        "family_not_null": lambda df: _set(df, "family", SUPPORT, None) or df,
        "unique_ids": lambda df: _set(df, "id", 2, df.at[0, "id"]) or df,
        "output_not_empty": lambda df: _set(df, "output", SUPPORT, "") or df,
        "output_length": lambda df: _set(df, "output", SUPPORT, "x " * 4500) or df,
        "instruction_length": lambda df: _set(df, "instruction", SUPPORT, "Reply") or df,
        "gender_values": lambda df: _set(df, "gender", SUPPORT, "woman") or df,
        "age_band_values": lambda df: _set(df, "age_band", SUPPORT, "40-50") or df,
        "family_values": lambda df: _set(df, "family", SUPPORT, "poetry") or df,
        "no_residual_pii": lambda df: _set(df, "text", SUPPORT, "SSN 123-45-6789 here") or df,
        "fits_max_seq_len": lambda df: df.assign(
            n_tokens=[5000 if i < 5 else n for i, n in enumerate(df["n_tokens"])]
        ),
        "extraction_output_is_json": lambda df: _set(df, "output", CLINICAL, "age 31, male") or df,
        "extraction_output_schema": lambda df: (
            _set(df, "output_json", CLINICAL, '{"age": "old", "sex": "male", "icd10": []}') or df
        ),
        "share_clinical_extraction": lambda df: df.assign(is_clinical_extraction=1),
        "share_support_reply": lambda df: df.assign(is_support_reply=0),
    }


def test_every_expectation_has_a_planted_violation():
    assert set(_violations()) == {e["meta"]["name"] for e in SUITE["expectations"]}


@pytest.mark.parametrize("name", sorted(_violations()))
def test_a_planted_violation_fails_exactly_its_expectation(base, name):
    failed, v = _failed(_violations()[name](base.copy()))
    assert failed == {name}
    severity = next(e["severity"] for e in SUITE["expectations"] if e["meta"]["name"] == name)
    assert v["verdict"] == ("fail" if severity == "critical" else "pass")
    assert (name in v["failed_critical"]) == (severity == "critical")
    assert (name in v["failed_warning"]) == (severity == "warning")


def test_verdict_follows_severities():
    def r(name, severity, success):
        return {"name": name, "severity": severity, "success": success}

    assert validate.verdict([r("a", "warning", False), r("b", "critical", True)])["verdict"] == (
        "pass"
    )
    v = validate.verdict([r("a", "warning", False), r("b", "critical", False)])
    assert v["verdict"] == "fail" and v["failed_critical"] == ["b"]
    assert v["failed_warning"] == ["a"] and v["passed"] == 0


def test_results_hold_ids_not_text_of_failing_rows(base):
    df = base.copy()
    _set(df, "text", SUPPORT, "call 123-45-6789 now")
    results = validate.run_suite(df, SUITE, validate.suite_parameters(CFG), None)
    pii = next(r for r in results if r["name"] == "no_residual_pii")
    assert pii["observed"]["unexpected_ids"] == [df.at[SUPPORT, "id"]]
    assert "123-45-6789" not in json.dumps(results)


def test_suite_in_the_repo_names_and_grades_every_expectation():
    for e in SUITE["expectations"]:
        assert e["meta"]["name"] and e["severity"] in ("critical", "warning", "info")
        assert e.get("description")


def test_broken_suites_are_clear_errors(tmp_path):
    path = tmp_path / "s.json"
    with pytest.raises(UserError, match="not found"):
        validate.load_suite(path)
    path.write_text('{"name": "s", "expectations": [{"type": "x", "kwargs": {}}]}')
    with pytest.raises(UserError, match=r"expectations \[0\] have no meta.name"):
        validate.load_suite(path)
    bad = {"name": "s", "expectations": [{"type": "expect_nothing", "meta": {"name": "a"}}]}
    with pytest.raises(UserError, match="does not load"):
        validate.run_suite(
            validate.build_table([], CFG, TokenCounter(None, ROOT, "t")), bad, {}, None
        )


def test_great_expectations_is_imported_only_by_validate():
    code = (
        "import sys\n"
        "import provena.cli, provena.clean, provena.scrub_pii, provena.ingest, provena.synth\n"
        "import provena.validate.report, provena.validate\n"
        "assert 'great_expectations' not in sys.modules, 'imported at module load'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_stage_writes_verdict_results_report_and_docs(tmp_path, base):
    from provena.io import RecordWriter

    inp = tmp_path / "clean.parquet"
    with RecordWriter(inp) as w:
        w.write(_records())
    out = validate.run(
        inp,
        CFG,
        root=ROOT,
        results_json=tmp_path / "results.json",
        verdict_json=tmp_path / "verdict.json",
        metrics=tmp_path / "m.json",
        docs_dir=tmp_path / "docs",
        report_html=tmp_path / "dq.html",
    )
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == out.report["verdict"] == "pass"
    assert json.loads((tmp_path / "m.json").read_text()) == out.metrics
    assert verdict["dataset"]["records"] == 120 and len(verdict["dataset"]["md5"]) == 32
    assert (tmp_path / "docs" / "index.html").is_file()
    html = (tmp_path / "dq.html").read_text()
    assert verdict["dataset"]["md5"] in html and "21 of 21 expectations passed" in html
    assert "<script" not in html


def _flawed_records():
    """Records with violations spread over many chunks (ids, text and counts all differ)."""
    recs = _records()
    recs[3] = {**recs[3], "input": recs[3]["input"] + " SSN 123-45-6789."}
    # over 8,000 characters, so also over max_seq_len: but 1 record in 120 passes that
    # expectation's `mostly: 0.99` for the whole table, though the chunk holding it is 1 in 7
    # over. The verdict must come from the summed counts
    recs[10] = {**recs[10], "output": "x " * 4500}
    recs[25] = {**recs[25], "output": "age 31, male"}
    recs[40] = {**recs[40], "meta": {**recs[40]["meta"], "gender": "woman"}}
    recs[70] = {**recs[70], "instruction": "Reply"}
    recs[80] = {**recs[80], "output": ""}
    return recs


@pytest.mark.parametrize("rows", [7, 50, 120, 1000])
def test_chunked_validation_equals_one_run_on_the_whole_table(rows):
    recs = _flawed_records()
    count = TokenCounter(None, ROOT, "t")
    params = validate.suite_parameters(CFG)
    whole = validate.run_suite(validate.build_table(recs, CFG, count), SUITE, params, None)
    table = validate.build_table(recs, CFG, count, text=False)
    assert table["instruction"].isna().all() and len(table) == 120
    chunks = validate.text_chunks(recs, table, CFG, rows)
    chunked = validate.run_suite_chunked(table, chunks, SUITE, params, None)
    assert chunked == whole
    failed = {r["name"] for r in whole if not r["success"]}
    assert failed == {
        "no_residual_pii",
        "output_length",
        "extraction_output_is_json",
        "extraction_output_schema",
        "gender_values",
        "instruction_length",
        "output_not_empty",
    }
    seq = next(r for r in chunked if r["name"] == "fits_max_seq_len")
    assert seq["success"] and seq["observed"]["unexpected_count"] == 1


def test_merge_recomputes_shares_and_keeps_the_first_ten_ids():
    def part(n, bad, missing, ids):
        return {
            "conf": None,
            "success": bad == 0,
            "error": None,
            "result": {
                "element_count": n,
                "unexpected_count": bad,
                "missing_count": missing,
                "partial_unexpected_index_list": [{"id": i} for i in ids],
                "partial_unexpected_list": ids,
            },
        }

    merged = validate.merge_results(
        [part(100, 8, 0, list("abcdefgh")), part(100, 4, 20, list("ijkl"))], mostly=0.9
    )
    res = merged["result"]
    assert res["element_count"] == 200 and res["unexpected_count"] == 12
    assert res["missing_count"] == 20 and res["unexpected_percent"] == 12 / 180 * 100
    assert [i["id"] for i in res["partial_unexpected_index_list"]] == list("abcdefghij")
    assert merged["success"]  # 168 of 180 = 93% >= 90%
    assert not validate.merge_results([part(10, 2, 0, ["a", "b"])], mostly=0.9)["success"]
    errored = part(10, 0, 0, [])
    errored["error"] = "boom"
    assert not validate.merge_results([part(10, 0, 0, []), errored])["success"]


def test_suites_that_need_a_whole_text_column_are_refused(tmp_path):
    validate.check_chunkable(SUITE, "expectations/curated.json")  # the repo's suite is row-wise
    for e in (
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "output"}},
        {"type": "expect_column_unique_value_count_to_be_between", "kwargs": {"column": "text"}},
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "n_tokens", "row_condition": "instruction == 'x'"},
        },
    ):
        bad = {"name": "s", "expectations": [{**e, "meta": {"name": "whole"}}]}
        with pytest.raises(UserError, match=r"s\.json: expectation 'whole'.*row by row"):
            validate.check_chunkable(bad, tmp_path / "s.json")


def test_stage_checks_text_a_chunk_at_a_time_with_the_same_results(tmp_path):
    from provena.io import RecordWriter

    inp = tmp_path / "clean.parquet"
    with RecordWriter(inp) as w:
        w.write(_flawed_records())
    out = {}
    for rows in (100, 1000):
        d = tmp_path / str(rows)
        out[rows] = validate.run(
            inp,
            CFG.model_copy(update={"chunk_rows": rows}),
            root=ROOT,
            results_json=d / "results.json",
            verdict_json=d / "verdict.json",
            docs_dir=d / "docs",
        ).report
        assert json.loads((d / "verdict.json").read_text())["verdict"] == "fail"
    assert out[100] == out[1000] and out[100]["dataset"]["records"] == 120
    # Data Docs: the table run and one page per chunk (2 chunks of 100 rows at most)
    pages = list((tmp_path / "100" / "docs" / "validations").rglob("*.html"))
    assert len(pages) == 3, pages
    assert len(list((tmp_path / "1000" / "docs" / "validations").rglob("*.html"))) == 1


# ------------------------------------------------- family checks only where families exist

#: questions and answers with no family and no attribute recorded (as in a user's own data)
PLAIN = {
    "instruction": "Answer the question.",
    "input": lambda i: f"What is {i} plus {i}?",
    "output": lambda i: f"{i} plus {i} is {2 * i}.",
}
FAMILY_CHECKS = {
    "family_not_null",
    "family_values",
    "extraction_output_is_json",
    "extraction_output_schema",
    "share_clinical_extraction",
    "share_support_reply",
}


def test_family_checks_are_not_judged_on_data_without_families(tmp_path):
    from tests.factory import write_records

    inp = write_records(tmp_path / "clean.parquet", records(120, kinds=(PLAIN,)))
    out = validate.run(
        inp,
        CFG,
        root=ROOT,
        results_json=tmp_path / "results.json",
        verdict_json=tmp_path / "verdict.json",
        metrics=tmp_path / "m.json",
        report_html=tmp_path / "dq.html",
    ).report
    assert not [r["name"] for r in out["results"] if r.get("error")]  # no GX error
    not_judged = {r["name"]: r["not_judged"] for r in out["results"] if r["success"] is None}
    # the attribute columns hold no value: nothing checked, so not judged either
    assert set(not_judged) == FAMILY_CHECKS | {"gender_values", "age_band_values"}
    assert all(
        "family checks apply only when families exist" in not_judged[n] for n in FAMILY_CHECKS
    )
    assert (
        not_judged["gender_values"]
        == "column 'gender' holds no value in any record: no row to check"
    )
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["verdict"] == "pass" and verdict["failed_warning"] == []
    assert verdict["passed"] == 21 - len(not_judged)
    assert {n["name"] for n in verdict["not_judged"]} == set(not_judged)
    assert json.loads((tmp_path / "m.json").read_text())["not_judged"] == len(not_judged)
    html = (tmp_path / "dq.html").read_text()
    assert f"{len(not_judged)} not judged (no evidence)" in html and "family checks apply" in html


def test_a_family_missing_where_others_exist_is_judged_not_an_error(base):
    # support replies only: the clinical share is 0 (judged: fails), its extraction checks see
    # no row (not judged), and no expectation errors on a missing is_clinical_extraction
    recs = [r for r in _records() if r["meta"]["family"] == "support_reply"]
    df = validate.build_table(
        recs, CFG, TokenCounter(None, ROOT, "t"), derived=validate.suite_columns(SUITE)
    )
    assert df["is_clinical_extraction"].eq(0).all()
    results = {
        r["name"]: r
        for r in validate.run_suite(df, SUITE, validate.suite_parameters(CFG), None, CFG)
    }
    assert not [n for n, r in results.items() if r.get("error")]
    assert {n for n, r in results.items() if r["success"] is False} == {
        "row_count",
        "share_clinical_extraction",
        "share_support_reply",
    }
    assert {n: r["not_judged"] for n, r in results.items() if r["success"] is None} == {
        "extraction_output_is_json": "no record meets its row condition: no row to check",
        "extraction_output_schema": "no record meets its row condition: no row to check",
    }


def test_no_evidence_is_never_a_pass():
    def r(name, severity, success):
        return {"name": name, "severity": severity, "success": success, "not_judged": "why"}

    v = validate.verdict([r("a", "critical", None), r("b", "warning", True)])
    assert v["verdict"] == "not_judged" and v["passed"] == 1
    assert v["not_judged"] == [{"name": "a", "reason": "why"}]
    v = validate.verdict([r("a", "critical", None), r("b", "critical", True)])
    assert v["verdict"] == "pass" and v["failed_critical"] == []
    assert (
        validate.verdict([r("a", "critical", None), r("b", "critical", False)])["verdict"] == "fail"
    )


def test_an_aggregate_over_an_empty_column_is_not_judged(base):
    suite = {
        "name": "s",
        "expectations": [
            {
                "type": "expect_column_distinct_values_to_be_in_set",
                "kwargs": {"column": "gender", "value_set": ["female"]},
                "meta": {"name": "genders"},
                "severity": "critical",
            }
        ],
    }
    [res] = validate.run_suite(base.assign(gender=None), suite, {}, None, CFG)
    assert res["success"] is None and "holds no value" in res["not_judged"]
    [res] = validate.run_suite(base, suite, {}, None, CFG)
    assert res["success"] is False  # male is there too: judged, and failed


# ------------------------------------------------------------ the residual card-number shape

CARD = re.compile(ValidateConfig().residual_pii_patterns["CREDIT_CARD"])


@pytest.mark.parametrize(
    ("text", "is_card"),
    [
        ("champions in 1990, 1991, 1992, 1993", False),
        ("1991, 1995, 2003, 2010", False),
        ("1991 1995 2003 2010", False),
        ("born 1956 died 2001", False),
        ("champions in 1990 1991 1992 1993", False),
        ("seasons 1990-1991-1992-1993", False),
        ("1990199119921993", False),
        ("elections 2008 2012 2016 2020", False),
        ("2019, 2020, 2021, 2022 and 2023", False),
        ("ISBN 9780306406157", False),
        ("order 123456789012345", False),
        ("call 0800 1234 5678 9012", False),
        ("Visa 4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("card 4111111111111111.", True),
        ("5500 0000 0000 0004", True),
        ("2221 0000 0000 0009", True),
        ("Amex 3782 822463 10005", True),
        ("378282246310005", True),
        ("6011 1111 1111 1117", True),
        ("JCB 3530 1113 3330 0000", True),
        ("JCB 213175197796454", True),
    ],
)
def test_the_card_number_shape(text, is_card):
    assert bool(CARD.search(text)) is is_card


def test_every_card_the_default_dataset_makes_has_the_card_shape():
    import random

    from provena.synth.people import luhn_card

    rng = random.Random(0)
    cards = [luhn_card(rng) for _ in range(300)]
    assert [c for c in cards if not CARD.fullmatch(c)] == []


def test_a_list_of_years_is_no_residual_pii(base):
    df = base.copy()
    _set(df, "text", SUPPORT, "Champions in 1990 1991 1992 1993, and again 2019, 2020, 2021, 2022.")
    failed, v = _failed(df)
    assert failed == set() and v["verdict"] == "pass"
