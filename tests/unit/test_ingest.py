"""ingest: every input shape and format, every bad input, conservation and stable ids."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provena import ingest
from provena.config import IngestConfig, SourceRule
from provena.errors import IngestError
from provena.io import read_jsonl, read_records
from provena.records import record_id
from tests.conftest import ASSETS, write_jsonl

CFG = IngestConfig()
ALPACA = {"instruction": "Summarize.", "input": "Long text here.", "output": "Short."}


def run(
    tmp_path: Path, inputs: list[Path], cfg: IngestConfig = CFG
) -> tuple[dict, list, list, list]:
    out = tmp_path / "out" / "records.parquet"
    report = ingest.run(
        inputs,
        cfg,
        out=out,
        ledger=tmp_path / "out" / "ledger.jsonl",
        quarantine=tmp_path / "out" / "quarantine.jsonl",
        metrics=tmp_path / "out" / "metrics.json",
        base=tmp_path,
    )
    records = [r for batch in read_records(out) for r in batch]
    quarantine = list(read_jsonl(tmp_path / "out" / "quarantine.jsonl"))
    ledger = list(read_jsonl(tmp_path / "out" / "ledger.jsonl"))
    assert report == json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert report["records_in"] == report["records_kept"] + report["records_quarantined"]
    assert report["records_kept"] == len(records)
    assert report["records_quarantined"] == len(quarantine)
    return report, records, quarantine, ledger


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _hf(path: Path, rows: list[dict]) -> Path:
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


# ------------------------------------------------------------------------- shapes and formats

EXPECTED = ("Summarize.", "Long text here.", "Short.")
#: that example (with meta lang=en) in each text shape and format, one file each
SHAPES = ASSETS / "shapes"


def _shape(name: str) -> Callable[[Path], Path]:
    def make(raw: Path) -> Path:
        raw.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(SHAPES / name, raw / name))

    return make


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_shape("alpaca.jsonl"), id="alpaca-jsonl"),
        pytest.param(_shape("alpaca.json"), id="alpaca-json-array"),
        pytest.param(_shape("dolly.csv"), id="dolly-csv"),
        pytest.param(_shape("dolly.tsv"), id="dolly-tsv"),
        pytest.param(
            lambda d: _parquet(
                d / "m.parquet",
                [
                    {
                        "messages": [
                            {"role": "system", "content": "Summarize."},
                            {"role": "user", "content": "Long text here."},
                            {"role": "assistant", "content": "Short."},
                        ],
                        "lang": "en",
                    }
                ],
            ),
            id="messages-parquet",
        ),
        pytest.param(_shape("sharegpt.jsonl"), id="sharegpt-jsonl"),
        pytest.param(
            lambda d: _hf(d / "hf", [{**ALPACA, "lang": "en"}]), id="alpaca-hf-save_to_disk"
        ),
    ],
)
def test_every_shape_and_format_maps_onto_the_same_record(tmp_path, make):
    make(tmp_path / "raw")
    report, records, quarantine, _ = run(tmp_path, [tmp_path / "raw"])
    assert quarantine == []
    (rec,) = records
    assert (rec["instruction"], rec["input"], rec["output"]) == EXPECTED
    assert rec["id"] == record_id(*EXPECTED)  # same example, same id, whatever the format
    assert rec["meta"] == {"lang": "en"}
    assert rec["source"].startswith("raw/")
    assert report["files"][0]["records_in"] == 1


def _parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_hf_dataset_dict_reads_every_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list([ALPACA]),
            "test": datasets.Dataset.from_list([{**ALPACA, "output": "Other."}]),
        }
    )
    dd.save_to_disk(str(tmp_path / "raw" / "hf"))
    _, records, _, _ = run(tmp_path, [tmp_path / "raw"])
    assert sorted(r["source"] for r in records) == ["raw/hf[test]", "raw/hf[train]"]


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([("user", "Hi?"), ("assistant", "Hello.")], ("Hi?", "", "Hello.")),
        (
            [("system", "Be brief."), ("user", "Hi?"), ("assistant", "Hello.")],
            ("Be brief.", "Hi?", "Hello."),
        ),
        (
            [("user", "A?"), ("assistant", "B."), ("user", "C?"), ("assistant", "D.")],
            ("A?", "assistant: B.\n\nuser: C?", "D."),
        ),
    ],
)
def test_chat_turns_map_onto_instruction_input_output_and_keep_messages(
    tmp_path, messages, expected
):
    rows = [{"messages": [{"role": r, "content": c} for r, c in messages]}]
    write_jsonl(tmp_path / "raw" / "c.jsonl", rows)
    _, (rec,), _, _ = run(tmp_path, [tmp_path / "raw"])
    assert (rec["instruction"], rec["input"], rec["output"]) == expected
    assert [(m["role"], m["content"]) for m in rec["messages"]] == messages


def test_per_source_column_mapping(tmp_path):
    _csv(tmp_path / "raw" / "mine" / "x.csv", "prompt,completion,topic\nDo it.,Done.,ops\n")
    cfg = IngestConfig(
        sources=[
            SourceRule(
                glob="mine/*.csv",
                shape="alpaca",
                columns={"instruction": "prompt", "output": "completion", "input": None},
            ),
            SourceRule(glob="**/*"),
        ]
    )
    _, (rec,), _, _ = run(tmp_path, [tmp_path / "raw"], cfg)
    assert (rec["instruction"], rec["input"], rec["output"], rec["meta"]) == (
        "Do it.",
        "",
        "Done.",
        {"topic": "ops"},
    )


def test_meta_column_is_merged_and_other_columns_kept(tmp_path):
    write_jsonl(
        tmp_path / "raw" / "a.jsonl", [{**ALPACA, "meta": {"gender": "female"}, "category": "qa"}]
    )
    _, (rec,), _, _ = run(tmp_path, [tmp_path / "raw"])
    assert rec["meta"] == {"gender": "female", "category": "qa"}


def test_normalization_is_ledgered_per_rule_with_file_and_line(tmp_path):
    write_jsonl(
        tmp_path / "raw" / "a.jsonl", [ALPACA, {**ALPACA, "output": "Itâ€™s &amp; <br>done"}]
    )
    report, records, _, ledger = run(tmp_path, [tmp_path / "raw"])
    assert records[1]["output"] == "It’s &\ndone"
    assert records[1]["id"] == record_id("Summarize.", "Long text here.", "It’s &\ndone")
    rules = {(e["rule"], e["line"], tuple(e["fields"])) for e in ledger}
    assert rules == {
        ("fix_mojibake", 2, ("output",)),
        ("html_entities", 2, ("output",)),
        ("html_tags", 2, ("output",)),
        ("whitespace", 2, ("output",)),
    }
    assert all(
        e["source"] == "raw/a.jsonl" and e["action"] == "normalized" and e["id"] == records[1]["id"]
        for e in ledger
    )
    assert report["changed_by_rule"] == {
        "fix_mojibake": 1,
        "html_entities": 1,
        "html_tags": 1,
        "whitespace": 1,
    }


def test_ids_are_stable_and_duplicates_share_them(tmp_path):
    write_jsonl(tmp_path / "raw" / "a.jsonl", [ALPACA, ALPACA])
    _, records, _, _ = run(tmp_path, [tmp_path / "raw"])
    assert records[0]["id"] == records[1]["id"] == record_id(*EXPECTED)


# ----------------------------------------------------------------------- bad rows: quarantine

GOOD = json.dumps(ALPACA).encode()


@pytest.mark.parametrize(
    ("raw", "rule", "reason"),
    [
        (
            b'{"instruction": "x", "output": ',
            "malformed_json",
            "malformed JSON: Expecting value at column 32",
        ),
        (b'["not", "an", "object"]', "not_an_object", "expected a JSON object, got list"),
        (b'{"instruction": "x", "output": "caf\xe9"}', "invalid_utf8", "invalid UTF-8 at byte 35"),
        (
            b'{"instruction": "x", "output": 42}',
            "wrong_type",
            "field 'output' (column 'output') must be text, got int",
        ),
        (
            b'{"instruction": "x"}',
            "missing_field",
            "field 'output' (column 'output') is missing or null",
        ),
        (
            b'{"instruction": null, "output": "y"}',
            "missing_field",
            "field 'instruction' (column 'instruction') is missing or null",
        ),
        (
            b'{"instruction": "x", "input": ["a"], "output": "y"}',
            "wrong_type",
            "field 'input' (column 'input') must be text, got list",
        ),
    ],
)
def test_bad_jsonl_line_is_quarantined_with_file_line_and_reason(tmp_path, raw, rule, reason):
    write_jsonl(tmp_path / "raw" / "a.jsonl", [ALPACA, ALPACA], raw_lines={2: raw})
    report, records, (q,), ledger = run(tmp_path, [tmp_path / "raw"])
    assert len(records) == 2
    assert (q["source"], q["line"], q["rule"], q["reason"], q["stage"]) == (
        "raw/a.jsonl",
        2,
        rule,
        reason,
        "ingest",
    )
    assert ("record" in q) or ("raw" in q)  # the bad row itself is kept, never lost
    assert report["quarantined_by_rule"] == {rule: 1}
    assert {"action": "quarantined", "line": 2, "rule": rule}.items() <= ledger[-1].items()


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([{"role": "user", "content": "Hi"}], "the last message is not from the assistant"),
        ([{"role": "assistant", "content": "Hi"}], "no user message"),
        (
            [{"role": "narrator", "content": "x"}, {"role": "assistant", "content": "y"}],
            "message 1 has unknown role 'narrator'",
        ),
        (
            [{"role": "user"}, {"role": "assistant", "content": "y"}],
            "message 1 needs text 'role' and 'content'",
        ),
        ([], "column 'messages' must be a non-empty list of messages"),
        ("not a list", "column 'messages' is text that is not a JSON list"),
    ],
)
def test_bad_chat_is_quarantined(tmp_path, messages, reason):
    ok = {"messages": [{"role": "user", "content": "A"}, {"role": "assistant", "content": "B"}]}
    write_jsonl(tmp_path / "raw" / "c.jsonl", [ok, {"messages": messages}])
    _, records, (q,), _ = run(tmp_path, [tmp_path / "raw"])
    assert (
        len(records) == 1
        and q["rule"] == "bad_messages"
        and q["reason"] == reason
        and q["line"] == 2
    )


def test_csv_row_with_wrong_field_count_is_quarantined_with_its_line(tmp_path):
    _csv(
        tmp_path / "raw" / "d.csv",
        'instruction,context,response\na,b,c\n"multi\nline",b,c\nonly,two\na,b,c\n',
    )
    _, records, (q,), _ = run(tmp_path, [tmp_path / "raw"])
    assert len(records) == 3
    # header is line 1, the quoted cell spans lines 3-4, so the short row starts on line 5
    assert (q["line"], q["rule"], q["reason"]) == (
        5,
        "malformed_csv",
        "row has 2 fields, the header has 3",
    )


def test_oversized_line_is_quarantined_unread(tmp_path):
    cfg = IngestConfig(max_record_bytes=1_000)
    write_jsonl(tmp_path / "raw" / "a.jsonl", [ALPACA, {**ALPACA, "input": "x" * 5_000}])
    _, records, (q,), _ = run(tmp_path, [tmp_path / "raw"], cfg)
    assert len(records) == 1 and q["rule"] == "record_too_large" and q["line"] == 2
    assert (
        q["reason"].startswith("line is 5,")
        and "over ingest.max_record_bytes (1,000)" in q["reason"]
    )


def test_bom_crlf_and_blank_lines_are_read(tmp_path):
    p = tmp_path / "raw" / "a.jsonl"
    p.parent.mkdir(parents=True)
    p.write_bytes(b"\xef\xbb\xbf" + GOOD + b"\r\n\r\n" + GOOD + b"\r\n")
    report, records, quarantine, _ = run(tmp_path, [tmp_path / "raw"])
    assert len(records) == 2 and quarantine == [] and report["blank_lines_skipped"] == 1


# --------------------------------------------------------------------- bad inputs: clear errors


def test_no_input_files_is_an_error_naming_the_folder(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "notes.txt").write_text("hello")
    with pytest.raises(IngestError, match=r"no input files found in .*raw \(looked for \.csv"):
        run(tmp_path, [tmp_path / "raw"])


def test_missing_input_path_is_an_error(tmp_path):
    with pytest.raises(IngestError, match=r"nope: no such file or folder"):
        run(tmp_path, [tmp_path / "nope"])


@pytest.mark.parametrize("name", ["a.jsonl", "a.csv", "a.parquet", "a.json"])
def test_empty_file_is_an_error_naming_the_path(tmp_path, name):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / name).write_bytes(b"")
    with pytest.raises(IngestError, match=rf"^raw/{name}: file is empty$"):
        run(tmp_path, [tmp_path / "raw"])


def test_file_of_blank_lines_is_an_error(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.jsonl").write_text("\n\n")
    with pytest.raises(IngestError, match=r"^raw/a.jsonl: file holds no records$"):
        run(tmp_path, [tmp_path / "raw"])


def test_missing_mapped_column_is_an_error_naming_path_and_column(tmp_path):
    _csv(tmp_path / "raw" / "d.csv", "instruction,context,reply\na,b,c\n")
    cfg = IngestConfig(sources=[SourceRule(glob="*.csv", shape="dolly")])
    with pytest.raises(IngestError) as exc:
        run(tmp_path, [tmp_path / "raw"], cfg)
    assert str(exc.value) == (
        "raw/d.csv: column 'response' not found (mapped to 'output' by ingest.columns.dolly.output); "
        "columns present: instruction, context, reply"
    )


def test_unknown_shape_is_an_error_that_says_how_to_map_it(tmp_path):
    write_jsonl(tmp_path / "raw" / "a.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(
        IngestError,
        match=r"raw/a.jsonl: cannot tell the shape from its columns \(question, answer\)",
    ):
        run(tmp_path, [tmp_path / "raw"])


def test_a_failed_run_leaves_no_partial_output(tmp_path):
    write_jsonl(tmp_path / "raw" / "a.jsonl", [ALPACA])
    _csv(tmp_path / "raw" / "b.csv", "question,answer\nq,a\n")  # second file fails
    with pytest.raises(IngestError):
        run(tmp_path, [tmp_path / "raw"])
    assert not (tmp_path / "out" / "records.parquet").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_underscore_and_dot_entries_are_skipped_and_unknown_files_reported(tmp_path):
    write_jsonl(tmp_path / "raw" / "a.jsonl", [ALPACA])
    write_jsonl(tmp_path / "raw" / "_gold" / "spans.jsonl", [{"x": 1}])
    write_jsonl(tmp_path / "raw" / ".hidden.jsonl", [{"x": 1}])
    (tmp_path / "raw" / "README.md").write_text("about the data")
    report, records, _, _ = run(tmp_path, [tmp_path / "raw"])
    assert len(records) == 1
    assert report["files_skipped"] == [
        {"path": str(tmp_path / "raw" / "README.md"), "reason": "unsupported file type '.md'"}
    ]


def test_single_file_input_and_unsupported_single_file(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [ALPACA])
    _, records, _, _ = run(tmp_path, [f])
    assert len(records) == 1
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(IngestError, match=r"a.txt: unsupported file type '.txt'"):
        run(tmp_path, [tmp_path / "a.txt"])


def test_core_is_pure_and_chunking_does_not_change_the_result(tmp_path):
    rows = [{**ALPACA, "output": f"answer {i}"} for i in range(50)]
    write_jsonl(tmp_path / "raw" / "a.jsonl", rows, raw_lines={7: b"{bad"})
    _, small, q_small, _ = run(tmp_path, [tmp_path / "raw"], IngestConfig(chunk_size=3))
    _, big, q_big, _ = run(tmp_path, [tmp_path / "raw"], IngestConfig(chunk_size=1000))
    assert small == big and q_small == q_big and len(small) == 50
