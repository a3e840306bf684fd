import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provena.cli import main
from provena.io import read_jsonl, read_records
from tests.conftest import ROOT, write_jsonl, write_tiny_params
from tests.factory import record, write_records

#: the line of synth.seed in params.yaml, which bad.yaml below breaks
SEED_LINE = next(
    n
    for n, line in enumerate((ROOT / "params.yaml").read_text().splitlines(), 1)
    if line.startswith("  seed: 20261129")
)

ALPACA = {"instruction": "Say hi.", "input": "", "output": "Hi!"}


def test_help_lists_the_subcommands():
    out = subprocess.run(
        [sys.executable, "-m", "provena.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("ingest", "synth", "check-params"):
        assert cmd in out


def test_console_script_is_installed():
    # pip puts console scripts beside the interpreter: found there whether or not the
    # environment is activated (plain `.venv/bin/python -m pytest` has no .venv/bin on PATH)
    script = shutil.which("provena", path=str(Path(sys.executable).parent))
    assert script, f"no provena script beside {sys.executable}: pip install -e ."
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout
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
        (ROOT / "params.yaml")
        .read_text()
        .replace("ingest:\n", "ingest:\n  normalize:\n    html_entities: false\n", 1)
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
            f"bad.yaml: 1 problem\n  - line {SEED_LINE}: synth.seed = 'x': Input should be a "
            "valid integer",
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
                str(write_tiny_params(tmp_path / "params.yaml")),
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


# ------------------------------------------------------------------- the command tree and help

JOBS = {
    "Curate data": ["synth", "ingest", "scrub", "dedup"],
    "Review and sign off": ["review", "signoff"],
    "Compare models": ["compare"],
    "Trace lineage": ["trace", "trained-on", "bundle"],
    "Use the model": ["generate"],
    "Deploy": ["export"],
    "Reports and params": ["report", "check-params", "suite"],
    "Watch new data": ["drift"],
}


def _commands(group=None, path=()):
    """(path, command) for every command and subcommand of ``provena``."""
    from provena.cli import cli

    group = group or cli
    for name, cmd in group.commands.items():
        yield (*path, name), cmd
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, (*path, name))


def test_help_lists_each_command_once_under_its_job(capsys):
    import re

    from provena.cli import cli

    assert main(["--help"]) == 0
    listed, heading = {}, None
    for line in capsys.readouterr().out.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            heading = line[:-1]
        elif m := re.match(r"  ([a-z][\w-]*)  ", line):
            listed.setdefault(heading, []).append(m.group(1))
    assert {h: names for h, names in listed.items() if h != "Options"} == JOBS
    assert sorted(n for names in JOBS.values() for n in names) == sorted(cli.commands)


def test_every_command_has_a_help_line_and_a_help_page(capsys):
    paths = [path for path, _ in _commands()]
    assert ("review", "export") in paths and ("report", "diff") in paths
    for path, cmd in _commands():
        assert cmd.get_short_help_str().strip(), path
        assert main([*path, "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"Usage: provena {' '.join(path)} ")
        assert cmd.help and " ".join(cmd.help.split()[:3]) in " ".join(out.split()), path


@pytest.mark.parametrize(
    "argv", [["--frobnicate"], ["dedup", "a.jsonl", "b.jsonl", "--frobnicate"]]
)
def test_an_unknown_option_exits_2_naming_it(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "No such option '--frobnicate'" in err and "Traceback" not in err


def test_a_failing_result_exits_1_and_a_user_error_2(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text("{}")
    assert main(["signoff", "r.json", "--check"]) == 1
    assert "r.json: NOT signed off" in capsys.readouterr().out
    assert main(["signoff", "r.json", "--reviewer", "Sam"]) == 2
    assert "needs --reviewer NAME and --note TEXT" in caplog.text


# ------------------------------------------------------------ provena dedup is clean's dedup

NOTES = [
    "The patient is a 54 year old woman who presents with three days of productive cough, low "
    "grade fever and fatigue. She denies chest pain. Lungs show scattered crackles at the right "
    "base. Chest film confirms a right lower lobe infiltrate.",
    "Thanks for reaching out about your subscription. I have cancelled the renewal that was due "
    "next month and refunded the last charge to your original card. You will see the credit "
    "within five business days.",
    "The patient is a 71 year old man seen for follow up of type two diabetes. His home glucose "
    "readings are mostly under one hundred and fifty. Feet are without ulcers and pulses are "
    "intact. Continue the current dose.",
]


@pytest.mark.parametrize("keep", ["first", "longest"])
def test_dedup_file_drops_what_the_clean_stage_drops(tmp_path, keep):
    from provena import clean
    from provena.config import CleanConfig
    from provena.io import RecordWriter
    from provena.records import make_record

    a, b, c = NOTES
    rows = [  # (input, output): exact, case/space and one-word copies, with and without input
        ("", a),
        (b, "Your subscription is cancelled."),
        ("", a.replace("scattered", "coarse") + " Plan is rest."),
        ("", "  " + a.upper()),
        (c, "Summary: stable."),
        (b.replace("cancelled", "stopped"), "Your subscription is cancelled."),
        ("", a),
    ]
    recs = [
        make_record(
            source="s", instruction="Summarize the note in a short sentence.", input=i, output=o
        )
        for i, o in rows
    ]
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(recs)
    cfg = CleanConfig.model_validate({"dedup": {"keep": keep}})

    plan = clean.plan(inp, cfg)
    assert {d.rule for d in plan.drops.values()} <= set(clean.DUP_RULES), plan.drops
    stage = {
        row: (d.rule, d.extra["kept_row"], d.extra["similarity"]) for row, d in plan.drops.items()
    }
    result = clean.dedup_file(inp, tmp_path / "out.jsonl", cfg)
    cli = {
        d["line"] - 1: (d["rule"], d["kept_line"] - 1, d["similarity"])
        for d in read_jsonl(result.dropped_to)
    }
    assert cli == stage
    assert len(stage) == 4  # three copies of the first note, one of the second
    assert {rule for rule, _, _ in stage.values()} == (
        set(clean.DUP_RULES) if keep == "first" else {"near_duplicate"}  # kept: the longer copy
    )
    kept = [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")]
    assert kept == [r["id"] for i, r in enumerate(recs) if i not in stage]
    assert (result.rows, result.fields, result.dropped) == (7, cfg.fields, len(stage))
