"""scrub_pii on ``meta``: free-text values (a column the user did not map, e.g. a second
model's answer) are scrubbed like the text fields, labels are not; `provena scrub` does the
same to a file's other columns and its ``meta`` column."""

from __future__ import annotations

import json

import pytest

from provena import scrub_pii
from provena.cli import main
from provena.config import ScrubPiiConfig, meta_labels
from provena.io import read_jsonl
from tests.conftest import ROOT, load_tiny
from tests.factory import record

EMAIL = "ann.lee@mailbox.org"
PHONE = "(415) 555-0134"


@pytest.mark.parametrize(
    ("value", "free"),
    [
        ("Write to me at home, please", True),  # whitespace
        (f"Call {PHONE}", True),
        ("firstname.lastname@company-mail.org", True),  # one word, longer than 24 characters
        (
            "我叫王小明，住在北京市朝阳区建国路八十八号三单元五楼。",
            True,
        ),  # no spaces, 27 characters
        ("open_qa", False),
        ("female", False),
        ("45-64", False),
        ("llama-2-7b-chat-hf", False),  # a model name: 18 characters
        ("  male\n", False),  # whitespace around a label is not whitespace in it
        ("", False),
    ],
)
def test_free_text_is_whitespace_inside_or_more_than_24_characters(value, free):
    assert ScrubPiiConfig().meta.free_text_chars == 24
    assert scrub_pii.is_free_text(value, 24) is free


def test_free_texts_walks_nested_meta_with_dotted_names_and_keeps_by_key_or_path():
    meta = {
        "answer_b": "a second answer here",
        "judge": {"comment": "the judge said so", "model": "gpt-4", "score": 4},
        "turns": ["first turn text", {"text": "second turn text"}, 7, None, True],
        "review": {"note": "kept as it is", "by": "the team lead"},
    }
    found = scrub_pii.free_texts(meta, keep={"review", "judge.comment"}, max_chars=24)
    assert [(m.field, m.path, m.kept) for m in found] == [
        ("meta.answer_b", ("answer_b",), False),
        ("meta.judge.comment", ("judge", "comment"), True),
        ("meta.turns[0]", ("turns", 0), False),
        ("meta.turns[1].text", ("turns", 1, "text"), False),
        ("meta.review.note", ("review", "note"), True),
        ("meta.review.by", ("review", "by"), True),
    ]


def test_meta_labels_come_from_the_params_of_the_stages_that_read_them():
    labels = meta_labels()  # the library defaults
    # audit attributes, an audit outcome label, the family, split strata, clean's gold key
    assert {"gender", "age_band", "icd10_chapter", "resolution", "family", "synth_id"} <= labels
    params = load_tiny()
    params = params.model_copy(
        update={
            "audit_data": params.audit_data.model_copy(update={"attributes": ["region"]}),
            "split": params.split.model_copy(update={"stratify_by": ["difficulty"]}),
            "clean": params.clean.model_copy(update={"gold_key": "row_key"}),
        }
    )
    labels = params.meta_labels()
    assert {"region", "difficulty", "row_key", "family"} <= labels
    cfg = ScrubPiiConfig(gold_key="gid", meta={"keep": ["mine"], "drop": ["d"], "hash": ["h"]})
    assert {"gid", "mine", "d", "h", "region"} <= scrub_pii.meta_keep(cfg, labels)


@pytest.fixture(scope="module")
def scrubbed_meta():
    """One record whose meta holds a second answer with an e-mail and a phone, nested free
    text, labels (declared by params) and a key of the user's keep list."""
    cfg = ScrubPiiConfig(meta={"keep": ["reviewer_note"]})
    meta = {
        "answer_b": f"Sure! Write to {EMAIL} or call {PHONE} after 6pm.",
        "reviewer_note": f"Checked with {EMAIL}",  # the user's keep list
        "gender": "female",  # an audit attribute
        "icd10_chapter": f"Mail {EMAIL}",  # an audit outcome label: never rewritten
        "family": "open_qa",
        "synth_id": "c000001",  # the gold key
        "generator": "llama-2-7b-chat-hf",  # one short word: a label, not free text
        "judge": {"comment": f"ask {EMAIL} for the source", "score": 4},
        "turns": [f"my email is {EMAIL}", "ok"],
    }
    rec = record(
        id="r1",
        source="data/raw/mine/qa.jsonl",
        instruction="Who can I ask about my order?",
        output="Ask the help desk.",
        meta=meta,
    )
    scrubber = scrub_pii.Scrubber(cfg, labels=meta_labels())
    return rec, scrub_pii.scrub_batch([rec], scrubber), cfg


def test_a_free_text_meta_value_is_scrubbed_like_the_text_fields(scrubbed_meta):
    rec, result, _ = scrubbed_meta
    (kept,) = result.kept
    meta = kept["meta"]
    for value in (meta["answer_b"], meta["judge"]["comment"], meta["turns"][0]):
        assert EMAIL not in value and "@" in value  # a surrogate address, as in the text
    assert PHONE not in meta["answer_b"] and meta["answer_b"].startswith("Sure! Write to ")
    assert meta["judge"]["score"] == 4 and meta["turns"][1] == "ok"
    assert rec["meta"]["answer_b"].count(EMAIL) == 1  # the input record is left as it was


def test_labels_and_the_users_keep_list_are_left_as_they_are(scrubbed_meta):
    rec, result, _ = scrubbed_meta
    meta = result.kept[0]["meta"]
    for key in ("reviewer_note", "gender", "icd10_chapter", "family", "synth_id", "generator"):
        assert meta[key] == rec["meta"][key], key


def test_the_ledger_and_the_counts_name_the_meta_field(scrubbed_meta):
    _, result, cfg = scrubbed_meta
    (line,) = result.ledger
    fields = [(e["field"], e["entity_type"]) for e in line["entities"]]
    assert fields == [
        ("meta.answer_b", "EMAIL_ADDRESS"),
        ("meta.answer_b", "PHONE_NUMBER"),
        ("meta.judge.comment", "EMAIL_ADDRESS"),
        ("meta.turns[0]", "EMAIL_ADDRESS"),
    ]
    start, end = line["entities"][0]["start"], line["entities"][0]["end"]
    assert f"Sure! Write to {EMAIL}"[start:end] == EMAIL  # offsets into the meta value
    st = result.detail
    assert st.by_type_field[("EMAIL_ADDRESS", "meta.answer_b")] == 1
    assert st.records_with_pii == 1 and result.stats.changed_by_rule["pii"] == 1
    report = scrub_pii.build_report(result.stats.as_dict(), st, cfg)
    assert report["meta"]["free_text"] == {"answer_b": 1, "judge": 1, "turns": 1}
    assert report["meta"]["free_text_kept"] == {"icd10_chapter": 1, "reviewer_note": 1}
    assert EMAIL not in json.dumps(report) and EMAIL not in json.dumps(result.ledger)


def test_a_value_found_in_the_text_is_replaced_in_meta_free_text_too():
    """The same-value pass and the residual scan cover meta: a name detected in the output
    is replaced where it stands, undetected, in a meta note; nothing survives to quarantine."""
    cfg = ScrubPiiConfig(profile="strict", operators={"default": "placeholder"})
    rec = record(
        source="chats.jsonl",
        output="Dear Szabina Gelencsér, your parcel is on its way.",
        meta={"note": "customer szabina is happy; Gelencsér called twice"},
    )
    result = scrub_pii.scrub_batch([rec], scrub_pii.Scrubber(cfg))
    assert not result.rejected
    (kept,) = result.kept
    assert "Gelencsér" not in kept["output"] and "Gelencsér" not in kept["meta"]["note"]


def test_meta_detections_are_not_scored_against_gold_spans():
    """Gold spans exist for the text fields only: a detection in meta is no false positive."""
    rec = record(output="Ask the help desk.", meta={"synth_id": "g1", "answer_b": f"Mail {EMAIL}"})
    result = scrub_pii.scrub_batch([rec], scrub_pii.Scrubber(ScrubPiiConfig()), gold={})
    assert result.detail.by_type_field[("EMAIL_ADDRESS", "meta.answer_b")] == 1
    assert result.detail.gold_records == 1 and result.detail.gold.pred_chars == 0


def test_meta_drop_and_hash_apply_before_free_text(scrubbed_meta):
    cfg = ScrubPiiConfig(meta={"drop": ["answer_b"], "hash": ["judge"]})
    rec, _, _ = scrubbed_meta
    result = scrub_pii.scrub_batch([rec], scrub_pii.Scrubber(cfg))
    meta = result.kept[0]["meta"]
    assert "answer_b" not in meta and len(meta["judge"]) == 16  # dropped; a keyed hash
    # reviewer_note is not in this configuration's keep list: scrubbed now
    fields = [e["field"] for e in result.ledger[0]["entities"]]
    assert fields == ["meta.reviewer_note", "meta.turns[0]"]


# ----------------------------------------------------------------- provena scrub on a file


def _rows():
    return [
        {
            "id": "q1",
            "source": "mine/answers.jsonl",
            "instruction": "How do I reach support?",
            "output": "Use the contact form.",
            "answer_b": f"Write to {EMAIL} or call {PHONE}.",
            "family": "open_qa",
            "notes": {"by": f"checked by {EMAIL}", "n": 2},
            # a record file's meta: JSON text with sorted keys
            "meta": json.dumps({"gender": "female", "comment": f"sent by {EMAIL} today"}),
        },
        {
            "id": "q2",
            "source": "mine/answers.jsonl",
            "instruction": "What is the capital of France?",
            "output": "Paris.",
            "answer_b": "Paris",
            "family": "open_qa",
            "notes": {"by": "nobody", "n": 0},
            "meta": json.dumps({"gender": "male"}),
        },
    ]


def test_scrub_file_treats_other_columns_and_the_meta_column_as_the_stage_treats_meta(tmp_path):
    inp, out, spans = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "spans.jsonl"
    rows = _rows()
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = scrub_pii.scrub_file(inp, out, ScrubPiiConfig(), spans=spans)
    assert r.fields == ["instruction", "output"] and r.free_text == 3 and r.changed == 3
    first, second = read_jsonl(out)
    assert EMAIL not in first["answer_b"] and PHONE not in first["answer_b"]
    assert EMAIL not in first["notes"]["by"] and first["notes"]["n"] == 2
    meta = json.loads(first["meta"])
    assert EMAIL not in meta["comment"] and meta["gender"] == "female"
    assert first["meta"] == json.dumps(meta, ensure_ascii=False, sort_keys=True)
    assert (first["id"], first["source"], first["family"]) == (
        "q1",
        "mine/answers.jsonl",
        "open_qa",
    )
    assert second == rows[1]  # nothing to scrub: the meta text keeps its bytes
    lines = list(read_jsonl(spans))
    assert [(d["row"], d["field"], d["entity_type"]) for d in lines] == [
        (0, "answer_b", "EMAIL_ADDRESS"),
        (0, "answer_b", "PHONE_NUMBER"),
        (0, "notes.by", "EMAIL_ADDRESS"),
        (0, "meta.comment", "EMAIL_ADDRESS"),
    ]
    assert rows[0]["answer_b"][lines[0]["start"] : lines[0]["end"]] == EMAIL
    assert EMAIL not in spans.read_text()


def test_scrub_file_applies_meta_drop_and_hash_to_columns_and_meta_keys(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    cfg = ScrubPiiConfig(meta={"drop": ["answer_b"], "hash": ["comment"]})
    r = scrub_pii.scrub_file(inp, out, cfg)
    assert (r.dropped, r.hashed, r.free_text) == (2, 1, 1)
    first, second = read_jsonl(out)
    assert "answer_b" not in first and "answer_b" not in second
    assert len(json.loads(first["meta"])["comment"]) == 16


def test_scrub_cli_scrubs_other_columns_and_keeps_what_keep_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: library defaults
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    assert main(["scrub", "in.jsonl", "out.jsonl"]) == 0
    out = capsys.readouterr().out
    assert "fields instruction, output and 3 free-text values of other columns" in out
    first, _ = read_jsonl(tmp_path / "out.jsonl")
    assert EMAIL not in first["answer_b"] and EMAIL not in json.loads(first["meta"])["comment"]
    assert main(["scrub", "in.jsonl", "out.jsonl", "--keep", "answer_b,comment"]) == 0
    first, _ = read_jsonl(tmp_path / "out.jsonl")
    assert first["answer_b"] == _rows()[0]["answer_b"]
    assert json.loads(first["meta"])["comment"] == f"sent by {EMAIL} today"
    assert EMAIL not in first["notes"]["by"]  # not named: still scrubbed


def test_scrub_cli_keeps_the_labels_the_params_file_declares(tmp_path, monkeypatch):
    """With a params.yaml, a column that a stage reads as a label (here an audit attribute)
    is left as it is, as the stage leaves it in meta."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        (ROOT / "params.yaml")
        .read_text()
        .replace("audit_data: {}", "audit_data:\n  attributes: [answer_b]", 1)
    )
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    assert main(["scrub", "in.jsonl", "out.jsonl"]) == 0
    first, _ = read_jsonl(tmp_path / "out.jsonl")
    assert first["answer_b"] == _rows()[0]["answer_b"]
    assert EMAIL not in json.loads(first["meta"])["comment"]
