"""Bad input through the curation pipeline (issue 9, point 1).

One table of bad raw files, each with what ingest must do with it: a clear error naming the
file (and line, where there is one), or quarantine entries with their rule and reason, plus the
records it keeps. Then every recoverable file together, beside the tiny default dataset, goes
through ingest -> scrub_pii -> clean -> validate -> audit_data -> augment -> split in one
process, and each stage's books must balance: records in = kept + quarantined.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from provena import ingest
from provena.config import ConfigError, load_params
from provena.errors import IngestError
from provena.io import read_jsonl, read_records
from provena.records import record_id
from tests.conftest import load_tiny, tiny_data, tiny_yaml

PARAMS = load_tiny()
MAX = PARAMS.ingest.max_record_bytes  # 10,000,000 in the tiny profile
BIG = 10 * 1024 * 1024  # "a 10 MB record"
DEPTH = sys.getrecursionlimit()  # the json module recurses once per level of nesting

INSTR = "Summarize the visit note."
OUT = "The patient is stable and goes home today."
META_OUT = "A record whose sensitive attributes have the wrong types."
DUP = "This answer appears twice in its file, word for word."


def row(**kw: object) -> bytes:
    return json.dumps({"instruction": INSTR, "input": "", "output": OUT, **kw}).encode()


def utf8_row(**kw: object) -> bytes:
    """A JSON line with non-ASCII text written as UTF-8 (not as \\u escapes)."""
    payload = {"instruction": INSTR, "input": "", "output": OUT, **kw}
    return json.dumps(payload, ensure_ascii=False).encode()


def lines(*rows: bytes, end: bytes = b"\n") -> bytes:
    return b"".join(r + end for r in rows)


GOOD = row()
DEEP = b"[" * 100_000 + b"]" * 100_000  # far past any recursion limit
BAD_UTF8 = b'{"instruction": "Say it.", "output": "caf\xe9 au lait, please"}'
DEEP_LINE = b'{"instruction": "a", "output": "b", "x": ' + DEEP + b"}"
# where the nesting passes DEPTH: the object's '{' is level 1, each '[' one more
DEEP_COL = len(b'{"instruction": "a", "output": "b", "x": ') + DEPTH
HUGE_LINE = row(output="x" * BIG)
ZWJ_FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # woman ZWJ woman ZWJ girl
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ inside a word: keep
HEBREW = "\u200f\u05e9\u05dc\u05d5\u05dd \u2067\u05e2\u05d5\u05dc\u05dd\u2069"  # RLM, isolate


@dataclass(frozen=True)
class Kept:
    """A kept record: its text fields after normalization, and its meta."""

    instruction: str
    input: str
    output: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """A bad raw folder and what ingest must make of it."""

    files: dict[str, bytes]
    kept: list[Kept] = field(default_factory=list)
    quarantined: list[tuple[int, str, str]] = field(default_factory=list)  # line, rule, reason
    error: str | None = None  # exact message of the IngestError; {raw} is the folder shown
    changed: dict[str, int] = field(default_factory=dict)  # normalization rules that fired


K = Kept(INSTR, "", OUT)
CASES = {
    # ---------------------------------------------------------------- encodings and bytes
    "invalid-utf8-jsonl": Case(
        {"a.jsonl": lines(GOOD, BAD_UTF8)},
        kept=[K],
        quarantined=[(2, "invalid_utf8", "invalid UTF-8 at byte 41")],
    ),
    "invalid-utf8-csv": Case(
        {"a.csv": b"instruction,input,output\nSay it.,,fine\nSay it.,,caf\xe9 au lait\n"},
        kept=[Kept("Say it.", "", "fine")],
        quarantined=[(3, "invalid_utf8", "invalid UTF-8 in row")],
    ),
    "invalid-utf8-json-array": Case(
        {"a.json": b"[" + GOOD + b",\n" + BAD_UTF8 + b"]"},
        error="{raw}/a.json: line 2: invalid UTF-8 at byte " + str(len(b"[" + GOOD + b",\n") + 41),
    ),
    # a BOM starts the file, and starts line 2 too where two such files were concatenated
    "bom-jsonl": Case(
        {"a.jsonl": lines(b"\xef\xbb\xbf" + GOOD, b"\xef\xbb\xbf" + row(output="Second answer."))},
        kept=[K, Kept(INSTR, "", "Second answer.")],
    ),
    "bom-csv": Case(
        {"a.csv": b"\xef\xbb\xbfinstruction,input,output\nSay it.,,fine\n"},
        kept=[Kept("Say it.", "", "fine")],  # the header is 'instruction', not '\ufeffinstruction'
    ),
    "crlf-jsonl": Case(
        {"a.jsonl": lines(GOOD, row(output="line one\r\nline two\r\n"), end=b"\r\n")},
        kept=[K, Kept(INSTR, "", "line one\nline two")],
        changed={"whitespace": 1},
    ),
    "crlf-csv": Case(
        {"a.csv": b'instruction,input,output\r\nSay it.,,"line one\r\nline two"\r\nAsk.,,ok\r\n'},
        kept=[Kept("Say it.", "", "line one\nline two"), Kept("Ask.", "", "ok")],
        changed={"whitespace": 1},
    ),
    "nul-byte-outside-strings": Case(
        {"a.jsonl": lines(GOOD, b'{"instruction": "a",\x00 "output": "b"}')},
        kept=[K],
        quarantined=[
            (
                2,
                "malformed_json",
                "malformed JSON: Expecting property name enclosed in double quotes at column 21",
            )
        ],
    ),
    "nul-inside-text": Case(
        {
            "a.jsonl": lines(row(output="The patient\u0000 is stable.")),
            "b.csv": b"instruction,input,output\nSay it.,,fi\x00ne\n",
        },
        kept=[Kept(INSTR, "", "The patient is stable."), Kept("Say it.", "", "fine")],
        changed={"whitespace": 2},  # NUL is an invisible control: the whitespace rule drops it
    ),
    # ------------------------------------------------------------------- size and nesting
    "record-10mb-jsonl": Case(
        {"a.jsonl": lines(GOOD, HUGE_LINE)},
        kept=[K],
        quarantined=[
            (
                2,
                "record_too_large",
                f"line is {len(HUGE_LINE) + 1:,} bytes, over ingest.max_record_bytes ({MAX:,})",
            )
        ],
    ),
    "record-10mb-json-array": Case(
        {"a.json": b"[" + GOOD + b"," + HUGE_LINE + b"]"},
        kept=[K],
        quarantined=[
            (
                2,
                "record_too_large",
                f"record text is {len(INSTR) + BIG:,} bytes, over ingest.max_record_bytes "
                f"({MAX:,})",
            )
        ],
    ),
    "record-10mb-csv": Case(
        {"a.csv": b"instruction,input,output\nSay it.,," + b"x" * BIG + b"\nAsk.,,ok\n"},
        kept=[Kept("Ask.", "", "ok")],
        quarantined=[(2, "record_too_large", f"a field is over ingest.max_record_bytes ({MAX:,})")],
    ),
    "deeply-nested-jsonl": Case(
        {"a.jsonl": lines(GOOD, DEEP_LINE)},
        kept=[K],
        quarantined=[
            (
                2,
                "too_deep",
                f"JSON nested too deeply to read (over {DEPTH:,} levels at column {DEEP_COL})",
            )
        ],
    ),
    "deeply-nested-json-array": Case(
        {"a.json": b"[\n" + GOOD + b",\n" + DEEP_LINE + b"]"},  # the array's '[' is level 1
        error=f"{{raw}}/a.json: line 3, column {DEEP_COL - 1}: JSON nested too deeply to read "
        f"(over {DEPTH:,} levels)",
    ),
    # nesting the parser can read is kept, whole, in meta
    "nested-but-readable": Case(
        {"a.jsonl": lines(row(extra={"a": [[[{"b": [1, [2, [3]]]}]]]}))},
        kept=[Kept(INSTR, "", OUT, {"extra": {"a": [[[{"b": [1, [2, [3]]]}]]]}})],
    ),
    # ------------------------------------------------------------------------ wrong types
    "wrong-types": Case(
        {
            "a.jsonl": lines(
                GOOD,
                row(instruction=42),
                row(instruction=["Summarize", "the note"]),
                row(output=None),
                row(output=True),
                row(input={"text": "x"}),
            )
        },
        kept=[K],
        quarantined=[
            (2, "wrong_type", "field 'instruction' (column 'instruction') must be text, got int"),
            (3, "wrong_type", "field 'instruction' (column 'instruction') must be text, got list"),
            (4, "missing_field", "field 'output' (column 'output') is missing or null"),
            (5, "wrong_type", "field 'output' (column 'output') must be text, got bool"),
            (6, "wrong_type", "field 'input' (column 'input') must be text, got dict"),
        ],
    ),
    # meta is free: odd types in it are kept as they are, and the audits read them as text
    "wrong-types-in-meta": Case(
        {"a.jsonl": lines(row(output=META_OUT, meta={"gender": 5, "age_band": ["18-29"]}))},
        kept=[Kept(INSTR, "", META_OUT, {"gender": 5, "age_band": ["18-29"]})],
    ),
    "wrong-types-chat": Case(
        {
            "c.jsonl": lines(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": "Hi?"},
                            {"role": "bot", "content": "Hello."},
                        ]
                    }
                ).encode(),
                json.dumps({"messages": {"role": "user", "content": "Hi?"}}).encode(),
                json.dumps({"messages": [{"role": "user", "content": 7}]}).encode(),
                json.dumps({"messages": [{"role": 1, "content": "x"}]}).encode(),
            )
        },
        kept=[Kept("Hi?", "", "Hello.")],
        quarantined=[
            (2, "bad_messages", "column 'messages' must be a non-empty list of messages"),
            (3, "bad_messages", "message 1 needs text 'role' and 'content'"),
            (4, "bad_messages", "message 1 needs text 'role' and 'content'"),
        ],
    ),
    # ------------------------------------------------------------ missing and extra columns
    "missing-output-in-a-row": Case(
        {
            "a.jsonl": lines(
                GOOD, b'{"instruction": "No answer here."}', b'{"output": "No question."}'
            )
        },
        kept=[K],
        quarantined=[
            (2, "missing_field", "field 'output' (column 'output') is missing or null"),
            (3, "missing_field", "field 'instruction' (column 'instruction') is missing or null"),
        ],
    ),
    "missing-output-column": Case(
        {"a.jsonl": lines(b'{"instruction": "x", "input": "y"}')},
        error="{raw}/a.jsonl: cannot tell the shape from its columns (instruction, input); "
        "expected alpaca (instruction/input/output), dolly (instruction/context/response) or "
        "chat (messages with role/content). Map the columns in ingest.sources with an explicit "
        "shape and columns.",
    ),
    "missing-instruction-column": Case(
        {"a.csv": b"input,output\nx,y\n"},
        error="{raw}/a.csv: cannot tell the shape from its columns (input, output); "
        "expected alpaca (instruction/input/output), dolly (instruction/context/response) or "
        "chat (messages with role/content). Map the columns in ingest.sources with an explicit "
        "shape and columns.",
    ),
    # extra keys and columns are kept in meta; a CSV row with a cell too many or too few is
    # quarantined, since which cell is extra cannot be known
    "extra-columns": Case(
        {
            "a.jsonl": lines(row(topic="ops", score=3, tags=["a", "b"])),
            "b.csv": b"instruction,input,output,topic\nSay it.,,fine,ops\nSay it.,,fine,ops,x\n"
            b"Say it.,fine\n",
        },
        kept=[
            Kept(INSTR, "", OUT, {"topic": "ops", "score": 3, "tags": ["a", "b"]}),
            Kept("Say it.", "", "fine", {"topic": "ops"}),
        ],
        quarantined=[
            (3, "malformed_csv", "row has 5 fields, the header has 4"),
            (4, "malformed_csv", "row has 2 fields, the header has 4"),
        ],
    ),
    # ------------------------------------------------------------------------- duplicates
    # ids are content hashes: the same content twice is two records with one id (clean removes
    # the copy); an 'id' column is just a column, kept in meta, and never the record's id
    "duplicate-content": Case(
        {"a.jsonl": lines(row(output=DUP), row(output=DUP))},
        kept=[Kept(INSTR, "", DUP), Kept(INSTR, "", DUP)],
    ),
    "duplicate-explicit-id": Case(
        {"a.jsonl": lines(row(id="ex-1"), row(id="ex-1", output="A different answer."))},
        kept=[
            Kept(INSTR, "", OUT, {"id": "ex-1"}),
            Kept(INSTR, "", "A different answer.", {"id": "ex-1"}),
        ],
    ),
    # --------------------------------------------------------------- scripts and invisibles
    "non-english-nfc": Case(
        {
            "a.jsonl": lines(
                utf8_row(output="Gru\u0308\u00dfe aus Ko\u0308ln."),  # decomposed umlauts
                utf8_row(output="\u75c5\u4eba\u60c5\u51b5\u7a33\u5b9a\u3002"),
                utf8_row(output="\u0915\u094d\u200d\u0937 \u0930\u094b\u0917\u0940"),  # ZWJ
            )
        },
        kept=[
            Kept(INSTR, "", "Gr\u00fc\u00dfe aus K\u00f6ln."),
            Kept(INSTR, "", "\u75c5\u4eba\u60c5\u51b5\u7a33\u5b9a\u3002"),
            Kept(INSTR, "", "\u0915\u094d\u200d\u0937 \u0930\u094b\u0917\u0940"),
        ],
        changed={"nfc": 1},
    ),
    "emoji": Case(
        {
            "a.jsonl": lines(
                utf8_row(
                    output=f"Family: {ZWJ_FAMILY}, thumbs \U0001f44d\U0001f3fd, \U0001f1e9\U0001f1ea."
                )
            )
        },
        kept=[
            Kept(
                INSTR,
                "",
                f"Family: {ZWJ_FAMILY}, thumbs \U0001f44d\U0001f3fd, \U0001f1e9\U0001f1ea.",
            )
        ],
    ),
    "right-to-left": Case(
        {
            "a.jsonl": lines(
                utf8_row(
                    output="\u0627\u0644\u0645\u0631\u064a\u0636 \u0645\u0633\u062a\u0642\u0631."
                ),
                utf8_row(output=HEBREW),
            )
        },
        kept=[
            Kept(INSTR, "", "\u0627\u0644\u0645\u0631\u064a\u0636 \u0645\u0633\u062a\u0642\u0631."),
            Kept(INSTR, "", HEBREW),  # RLM and isolates carry the reading order: kept
        ],
    ),
    # zero-width space, word joiner and a stray BOM only break matching: dropped. ZWJ (emoji,
    # Indic conjuncts) and ZWNJ (Persian word shapes) change what is shown: kept
    "zero-width": Case(
        {
            "a.jsonl": lines(
                utf8_row(output="pass\u200bword re\u2060set \ufeffnow"),
                utf8_row(output=f"{PERSIAN} {ZWJ_FAMILY}"),
            )
        },
        kept=[Kept(INSTR, "", "password reset now"), Kept(INSTR, "", f"{PERSIAN} {ZWJ_FAMILY}")],
        changed={"whitespace": 1},
    ),
    # ------------------------------------------------------------------ nothing to read
    "empty-file": Case({"a.jsonl": b""}, error="{raw}/a.jsonl: file is empty"),
    "empty-csv": Case({"a.csv": b""}, error="{raw}/a.csv: file is empty"),
    "blank-lines-only": Case(
        {"a.jsonl": b"\n\r\n\n"}, error="{raw}/a.jsonl: file holds no records"
    ),
    "header-only-csv": Case(
        {"a.csv": b"instruction,input,output\n"}, error="{raw}/a.csv: file holds no records"
    ),
    "no-files": Case(
        {"README.md": b"about the data"},
        error="no input files found in {root} (looked for .csv, .json, .jsonl, .ndjson, "
        ".parquet, .tsv files and save_to_disk folders)",
    ),
}
RECOVERABLE = [name for name, c in CASES.items() if c.error is None]


def write_case(raw: Path, case: Case) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name, data in case.files.items():
        (raw / name).write_bytes(data)


def run_ingest(tmp: Path, raw: Path) -> tuple[dict, list, list, list]:
    out = tmp / "out"
    report = ingest.run(
        [raw],
        PARAMS.ingest,
        out=out / "ingest.parquet",
        ledger=out / "ingest.ledger.jsonl",
        quarantine=out / "ingest.quarantine.jsonl",
        metrics=out / "ingest.json",
        base=tmp,
    )
    records = [r for b in read_records(out / "ingest.parquet") for r in b]
    quarantine = list(read_jsonl(out / "ingest.quarantine.jsonl"))
    ledger = list(read_jsonl(out / "ingest.ledger.jsonl"))
    return report, records, quarantine, ledger


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_an_error_or_quarantined_with_its_reason(tmp_path, name):
    case = CASES[name]
    raw = tmp_path / "raw" / name
    write_case(raw, case)
    if case.error is not None:
        with pytest.raises(IngestError) as exc:
            run_ingest(tmp_path, raw)
        assert str(exc.value) == case.error.format(raw=f"raw/{name}", root=raw)
        assert not (tmp_path / "out" / "ingest.parquet").exists()  # nothing half-written
        return
    report, records, quarantine, ledger = run_ingest(tmp_path, raw)
    assert [
        Kept(r["instruction"], r["input"], r["output"], r["meta"]) for r in records
    ] == case.kept
    assert all(r["id"] == record_id(r["instruction"], r["input"], r["output"]) for r in records)
    got = [(q["line"], q["rule"], q["reason"]) for q in quarantine]
    assert got == case.quarantined
    assert all(
        q["source"].startswith(f"raw/{name}/") and q["stage"] == "ingest" for q in quarantine
    )
    # the bad row itself is kept, cut to a bounded excerpt when it is huge
    assert all(len(json.dumps(q)) < 100_000 and ("raw" in q or "record" in q) for q in quarantine)
    assert report["records_in"] == len(case.kept) + len(case.quarantined)
    assert (report["records_kept"], report["records_quarantined"]) == (
        len(records),
        len(quarantine),
    )
    assert report["changed_by_rule"] == case.changed
    quarantined_lines = [(e["line"], e["rule"]) for e in ledger if e["action"] == "quarantined"]
    assert quarantined_lines == [(line, rule) for line, rule, _ in case.quarantined]


# --------------------------------------------------------------------------- params.yaml


def test_wrong_types_in_params_list_every_key_value_range_and_line(tmp_path):
    text = tiny_yaml()
    for old, new in [
        ("  n_clinical: 150\n", "  n_clinical: -5\n"),
        ("ingest:\n", "ingest:\n  normalize:\n    nfc: maybe\n"),
        ("  chunk_size: 64\n", "  chunk_size: many\n"),
        ("  max_steps: 6\n", "  max_steps: [6]\n"),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "params.yaml"
    path.write_text(text)
    line = {
        k: text.splitlines().index(v.rstrip("\n")) + 1
        for k, v in [
            ("n_clinical", "  n_clinical: -5"),
            ("nfc", "    nfc: maybe"),
            ("chunk_size", "  chunk_size: many"),
            ("max_steps", "  max_steps: [6]"),
        ]
    }
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value).splitlines() == [
        f"{path}: 4 problems",
        f"  - line {line['n_clinical']}: synth.n_clinical = -5: Input should be greater than or "
        "equal to 10 (allowed: 10 to 1000000)",
        f"  - line {line['nfc']}: ingest.normalize.nfc = 'maybe': Input should be a valid "
        "boolean, unable to interpret input",
        f"  - line {line['chunk_size']}: ingest.chunk_size = 'many': Input should be a valid "
        "integer, unable to parse string as an integer (allowed: 1 to 1000000)",
        f"  - line {line['max_steps']}: train.max_steps = [6]: Input should be a valid integer "
        "(allowed: 1 to 10000000)",
    ]


def test_params_unknown_and_missing_keys_name_their_line(tmp_path):
    data = tiny_data()
    data["clean"]["dedup"]["treshold"] = 0.5
    del data["synth"]["seed"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    text = path.read_text().splitlines()
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    problems = exc.value.problems
    assert len(problems) == 2
    treshold = text.index("    treshold: 0.5") + 1
    # a missing key has no line of its own: its section's line is given
    assert problems[0] == f"line {text.index('synth:') + 1}: synth.seed: required key is missing"
    assert problems[1].startswith(f"line {treshold}: clean.dedup.treshold: unknown key;")


def test_params_that_are_not_a_mapping_name_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError) as exc:
        load_params(path)
    assert str(exc.value) == f"{path}: 1 problem\n  - expected a mapping of sections, got list"


# ------------------------------------------------------------- the whole curation chain


def _lines(path: Path) -> list[dict]:
    return list(read_jsonl(path)) if path.exists() else []


def _rows(path: Path) -> list[dict]:
    return [r for b in read_records(path) for r in b]


@dataclass
class Chain:
    """Where one in-process run of the curation stages wrote its outputs."""

    tmp: Path
    raw: Path
    synth: dict

    def metrics(self, stage: str) -> dict:
        return json.loads((self.tmp / "metrics" / f"{stage}.json").read_text())

    def interim(self, stage: str) -> Path:
        return self.tmp / "data" / "interim" / f"{stage}.parquet"

    def ledger(self, stage: str) -> list[dict]:
        return _lines(self.tmp / "data" / "ledger" / f"{stage}.jsonl")

    def quarantine(self, stage: str) -> list[dict]:
        return _lines(self.tmp / "data" / "quarantine" / f"{stage}.jsonl")


def _run_chain(tmp: Path) -> Chain:
    """ingest -> scrub_pii -> clean -> validate -> audit_data -> augment -> audit_data -> split,
    each called as its stage script calls it, on the tiny dataset plus every recoverable file."""
    from provena import audit_data, augment, clean, scrub_pii, split, validate
    from provena.synth import generate, write_dataset
    from tests.conftest import ROOT

    p = PARAMS
    raw = tmp / "data" / "raw"
    write_dataset(generate(p.synth), raw / "default", tmp / "metrics" / "synth.json")
    for name in RECOVERABLE:
        write_case(raw / name, CASES[name])
    d, m = tmp / "data", tmp / "metrics"
    chain = Chain(tmp, raw, json.loads((m / "synth.json").read_text()))
    ingest.run(
        [raw],
        p.ingest,
        out=chain.interim("ingest"),
        ledger=d / "ledger" / "ingest.jsonl",
        quarantine=d / "quarantine" / "ingest.jsonl",
        metrics=m / "ingest.json",
        base=tmp,
    )
    scrub_pii.run(
        chain.interim("ingest"),
        p.scrub_pii,
        out=chain.interim("scrub_pii"),
        ledger=d / "ledger" / "scrub_pii.jsonl",
        quarantine=d / "quarantine" / "scrub_pii.jsonl",
        metrics=m / "scrub_pii.json",
        report_json=tmp / "audits" / "pii_report.json",
        report_html=None,
        gold_paths=[raw / "default" / "_gold" / "pii_spans.jsonl"],
    )
    clean.run(
        chain.interim("scrub_pii"),
        p.clean,
        out=chain.interim("clean"),
        ledger=d / "ledger" / "clean.jsonl",
        quarantine=d / "quarantine" / "clean.jsonl",
        metrics=m / "clean.json",
        labels=[raw / "default" / "_gold" / "labels.jsonl"],
        root=ROOT,
    )
    validate.run(
        chain.interim("clean"),
        p.validate_,
        root=ROOT,  # the expectation suite lives in the repo
        results_json=tmp / "reports" / "validation.json",
        verdict_json=tmp / "reports" / "validation_verdict.json",
        metrics=m / "validate.json",
    )
    for when, inp in (("before", chain.interim("clean")), ("after", None)):
        if when == "after":
            augment.run(
                chain.interim("clean"),
                tmp / "audits" / "audit_before.json",
                p.augment,
                p.audit_data,
                out=chain.interim("augment"),
                ledger=d / "ledger" / "augment.jsonl",
                metrics=m / "augment.json",
            )
            inp = chain.interim("augment")
        audit_data.run(
            inp,
            p.audit_data,
            when=when,
            out_json=tmp / "audits" / f"audit_{when}.json",
            metrics=m / f"audit_data_{when}.json",
            root=tmp,
        )
    split.run(
        chain.interim("augment"),
        p.split,
        out={s: d / "processed" / f"{s}.parquet" for s in split.ALL_SPLITS},
        ledger=d / "ledger" / "split.jsonl",
        metrics=m / "split.json",
    )
    return chain


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Chain:
    return _run_chain(tmp_path_factory.mktemp("chain"))


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_ingest_books_balance_and_every_bad_row_is_in_quarantine(chain):
    m = chain.metrics("ingest")
    quarantine = chain.quarantine("ingest")
    expected = sorted(
        (f"data/raw/{name}/{file}", line, rule, reason)
        for name in RECOVERABLE
        for (line, rule, reason), file in _with_files(CASES[name])
    )
    bad = sorted(
        (q["source"], q["line"], q["rule"], q["reason"])
        for q in quarantine
        if not q["source"].startswith("data/raw/default/")
    )
    assert bad == expected
    synth_bad = m["records_quarantined"] - len(expected)
    assert synth_bad == chain.synth["malformed_lines"]
    kept = sum(len(CASES[n].kept) for n in RECOVERABLE) + chain.synth["records"]
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    assert (m["records_kept"], m["records_quarantined"]) == (kept, len(quarantine))
    assert len(_rows(chain.interim("ingest"))) == kept
    assert sum(e["action"] == "quarantined" for e in chain.ledger("ingest")) == len(quarantine)


def _with_files(case: Case) -> list[tuple[tuple[int, str, str], str]]:
    """Each expected quarantine entry with its file: the only one, or the CSV of a pair."""
    (bad,) = [f for f in case.files if len(case.files) == 1 or f.endswith(".csv")]
    return [(q, bad) for q in case.quarantined]


@pytest.mark.pipeline  # about 80 s on two shared cores
@pytest.mark.parametrize("stage", ["scrub_pii", "clean"])
def test_chain_filtering_stages_balance_their_books(chain, stage):
    prev = {"scrub_pii": "ingest", "clean": "scrub_pii"}[stage]
    m = chain.metrics(stage)
    assert m["records_in"] == chain.metrics(prev)["records_kept"]
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    quarantine = chain.quarantine(stage)
    assert len(quarantine) == m["records_quarantined"]
    assert all(q.get("reason") and q.get("rule") for q in quarantine)
    assert len(_rows(chain.interim(stage))) == m["records_kept"]
    ids_in = {r["id"] for r in _rows(chain.interim(prev))}
    ids_out = {r["id"] for r in _rows(chain.interim(stage))}
    assert ids_out <= ids_in or stage == "scrub_pii"  # scrubbing changes text, so ids


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_clean_quarantines_the_duplicate_copy_and_keeps_scripts_intact(chain):
    quarantine = chain.quarantine("clean")
    dup = [q for q in quarantine if q["record"]["source"] == "data/raw/duplicate-content/a.jsonl"]
    assert [(q["rule"], q["record"]["output"]) for q in dup] == [("exact_duplicate", DUP)]
    assert sum(r["output"] == DUP for r in _rows(chain.interim("clean"))) == 1
    kept = {r["output"] for r in _rows(chain.interim("clean"))}
    for text in (f"{PERSIAN} {ZWJ_FAMILY}", HEBREW):
        assert text in kept or any(q["record"]["output"] == text for q in quarantine)


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_validate_and_audits_see_every_kept_record(chain):
    kept = chain.metrics("clean")["records_kept"]
    verdict = json.loads((chain.tmp / "reports" / "validation_verdict.json").read_text())
    assert verdict["dataset"]["records"] == kept
    assert chain.metrics("audit_data_before")["records"] == kept
    augment = chain.metrics("augment")
    assert chain.metrics("audit_data_after")["records"] == augment["records_out"]


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_augment_counts_what_it_adds(chain):
    m = chain.metrics("augment")
    assert m["records_in"] == m["records_kept"] == chain.metrics("clean")["records_kept"]
    assert m["records_out"] == m["records_in"] + m["records_added"]
    added = [e for e in chain.ledger("augment") if e["action"] == "added"]
    assert len(added) == m["records_added"] == sum(m["added_by_op"].values())
    assert len(_rows(chain.interim("augment"))) == m["records_out"]


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_split_keeps_its_own_books(chain):
    from provena import split

    m = chain.metrics("split")
    assert m["records_in"] == chain.metrics("augment")["records_out"]
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    planted = m.get("canaries", {}).get("planted_records", 0)
    assert m["records_in"] == m["records_out"] - planted
    written = {
        s: len(_rows(chain.tmp / "data" / "processed" / f"{s}.parquet")) for s in split.ALL_SPLITS
    }
    assert written == m["records"] and sum(written.values()) == m["records_out"]


@pytest.mark.pipeline  # about 80 s on two shared cores
def test_chain_bad_files_records_that_clean_kept_reach_exactly_one_split(chain):
    from provena import split

    bad = {
        r["id"]: r["output"]
        for r in _rows(chain.interim("clean"))
        if not r["source"].startswith("data/raw/default/")
    }
    assert META_OUT in bad.values() and HEBREW in bad.values()  # odd meta and RTL survive
    where: dict[str, list[str]] = {}
    for s in split.ALL_SPLITS:
        for r in _rows(chain.tmp / "data" / "processed" / f"{s}.parquet"):
            if r["id"] in bad and r["parent_id"] is None:
                where.setdefault(r["id"], []).append(s)
    assert sorted(where) == sorted(bad) and all(len(v) == 1 for v in where.values())
