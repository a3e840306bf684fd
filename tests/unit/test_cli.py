import json
import subprocess
import sys

import pytest

from provena.cli import main
from provena.io import read_jsonl, read_records
from tests.conftest import ROOT, write_jsonl
from tests.factory import record, write_records

ALPACA = {"instruction": "Say hi.", "input": "", "output": "Hi!"}


def test_help_lists_the_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "provena.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("ingest", "synth", "check-params"):
        assert cmd in out


def test_console_script_is_installed():
    out = subprocess.run(
        ["provena", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("provena ")


def test_ingest_on_arbitrary_files_outside_dvc(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: library defaults apply
    write_jsonl(tmp_path / "in" / "a.jsonl", [ALPACA, ALPACA], raw_lines={2: b"{oops"})
    (tmp_path / "in" / "b.csv").write_text("instruction,context,response\nQ,,A\n")
    assert main(["ingest", "in/a.jsonl", "in/b.csv", "--out", "out/records.jsonl"]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "4 records in, 3 kept -> out/records.jsonl, 1 quarantined"
    )
    records = [r for b in read_records(tmp_path / "out" / "records.jsonl") for r in b]
    assert [r["output"] for r in records] == ["Hi!", "Hi!", "A"]
    (q,) = read_jsonl(tmp_path / "out" / "records.quarantine.jsonl")
    assert (q["source"], q["line"], q["rule"]) == ("in/a.jsonl", 2, "malformed_json")
    assert (tmp_path / "out" / "records.ledger.jsonl").exists()


def test_ingest_cli_uses_the_stage_params_and_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        (ROOT / "params.yaml").read_text().replace("html_entities: true", "html_entities: false")
    )
    write_jsonl(tmp_path / "a.jsonl", [{**ALPACA, "output": "A &amp; B"}])
    assert main(["ingest", "a.jsonl", "--out", "o.parquet", "--metrics", "m.json"]) == 0
    (rec,) = next(read_records(tmp_path / "o.parquet"))
    assert rec["output"] == "A &amp; B"
    assert json.loads((tmp_path / "m.json").read_text())["records_kept"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["ingest", "missing.jsonl", "--out", "o.parquet"],
            "missing.jsonl: no such file or folder",
        ),
        (
            ["check-params", "bad.yaml"],
            "bad.yaml: 1 problem\n  - line 7: synth.seed = 'x': Input should be a valid integer",
        ),
    ],
)
def test_user_errors_exit_2_with_a_clear_message_and_no_traceback(tmp_path, argv, message):
    bad = (ROOT / "params.yaml").read_text().replace("seed: 20261129", "seed: x")
    (tmp_path / "bad.yaml").write_text(bad)
    proc = subprocess.run(
        [sys.executable, "-m", "provena.cli", *argv], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_params_accepts_the_shipped_params(capsys):
    assert main(["check-params", str(ROOT / "params.yaml")]) == 0
    out = capsys.readouterr().out
    # every section in params.yaml order, the later stages' as they are added
    assert "OK (synth, ingest, scrub_pii, clean, validate, audit_data, augment, split" in out


def test_synth_cli_writes_a_sample(tmp_path):
    assert (
        main(
            [
                "synth",
                "--params",
                str(ROOT / "profiles" / "tiny.yaml"),
                "--out",
                str(tmp_path / "d"),
                "-n",
                "40",
            ]
        )
        == 0
    )
    assert (tmp_path / "d" / "clinical_extraction.jsonl").exists()
    assert (tmp_path / "d" / "_gold" / "pii_spans.jsonl").exists()


def _review_project(tmp_path):
    """A test split of two records and evaluate's predictions for them (base and adapter)."""
    recs = [
        record(source="s", instruction="Q1", output="A1", meta={"gender": "female"}),
        record(source="s", instruction="Q2", output="A2", meta={"gender": "male"}),
    ]
    write_records(tmp_path / "data" / "processed" / "test.parquet", recs)
    preds = [
        {"split": "test", "model": m, "id": r["id"], "family": "f", "gender": r["meta"]["gender"],
         "age_band": None, "prediction": f"{m} {r['output']}", "reference": r["output"]}
        for r in recs for m in ("base", "adapter")
    ]  # fmt: skip
    write_jsonl(tmp_path / "data" / "eval" / "predictions.jsonl", preds)


def test_review_export_then_import_with_the_default_paths(tmp_path, monkeypatch, capsys):
    import csv

    monkeypatch.chdir(tmp_path)  # no params.yaml: audit_data's default attributes
    _review_project(tmp_path)
    argv = ["review", "export", "sheet.csv", "--splits", "data/processed/test.parquet"]
    assert main(argv) == 0
    assert capsys.readouterr().out == (
        "2 adapter answers to rate -> sheet.csv\n"
        "  gender: female 1 (of 1), male 1 (of 1)\n"
        "  age_band: (missing) 2 (of 2)\n"
        "fill in rating (1-5), comment and reviewer, then: provena review import sheet.csv\n"
    )
    with open("sheet.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["model_answer"] for r in rows) == ["adapter A1", "adapter A2"]
    rows[0].update(rating="4", reviewer="Ann")
    with open("sheet.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["review", "import", "sheet.csv"]) == 0
    assert capsys.readouterr().out == (
        "1 rated, 1 unrated in sheet.csv -> reviews/ratings.json: 1 rated in all (mean 4.00), "
        "1 still unrated\n"
    )
    saved = json.loads((tmp_path / "reviews" / "ratings.json").read_text())
    assert [(r["id"], r["rating"], r["reviewer"]) for r in saved["rows"]] == [
        (rows[0]["id"], 4, "Ann")
    ]


def test_review_import_error_exits_2_naming_file_line_and_column(tmp_path):
    _review_project(tmp_path)
    head = "review_id,split,model,family,id,gender,prompt,model_answer,reference,rating,comment,reviewer"
    (tmp_path / "s.csv").write_text(f"{head}\nx,test,adapter,f,i,male,p,a,r,9,,Ann\n")
    proc = subprocess.run(
        [sys.executable, "-m", "provena.cli", "review", "import", "s.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "s.csv: 2 problems, nothing imported\n" in proc.stderr
    assert "  - line 2, column 'review_id': 'x' is not the id of split 'test'" in proc.stderr
    assert "  - line 2, column 'rating': '9' is not a whole number from 1 to 5\n" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reviews").exists()


def test_review_help_says_imports_merge():
    out = subprocess.run(
        [sys.executable, "-m", "provena.cli", "review", "import", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "merge into --out by review_id" in " ".join(out.split())
