"""validate: one planted violation per expectation fails exactly that expectation; the verdict
follows severities; Great Expectations stays out of every other module's imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from provena import validate
from provena.config import ValidateConfig
from provena.errors import UserError
from provena.records import make_record
from provena.tokens import TokenCounter
from tests.conftest import ROOT

SUITE = validate.load_suite(ROOT / "expectations" / "curated.json")
CFG = ValidateConfig()


def _records(n: int = 120):
    out = []
    for i in range(n):
        if i % 2:
            rec = make_record(
                source="t.jsonl",
                instruction="Return the patient's age, sex and ICD-10 codes as JSON.",
                input=f"HPI: {20 + i % 60} year old woman with cough for {i} days.",
                output=json.dumps({"age": 20 + i % 60, "sex": "female", "icd10": ["J20.9"]}),
                meta={"family": "clinical_extraction", "gender": "female", "age_band": "30-44"},
            )
        else:
            rec = make_record(
                source="t.jsonl",
                instruction="Reply to the customer politely and resolve the issue.",
                input=f"Hi, order <ID> number {i} arrived late. Can you help?",
                output=f"Hi <PERSON>, sorry about order {i}. A refund is on its way today.",
                meta={"family": "support_reply", "gender": "male", "age_band": "65+"},
            )
        out.append(rec)
    return out


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
        "import provena.quality_report, provena.validate\n"
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
    assert verdict["verdict"] == out["verdict"] == "pass"
    assert verdict["dataset"]["records"] == 120 and len(verdict["dataset"]["md5"]) == 32
    assert (tmp_path / "docs" / "index.html").is_file()
    html = (tmp_path / "dq.html").read_text()
    assert verdict["dataset"]["md5"] in html and "21 of 21 expectations passed" in html
    assert "<script" not in html
