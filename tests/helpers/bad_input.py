"""The bad-input table (issue 9, point 1): bad raw folders, each with what ingest must make of
it (a clear error naming the file and line, or quarantine entries with their rule and reason,
plus the records it keeps). tests/unit/test_bad_input.py runs ingest on each case;
tests/pipeline/test_bad_input_chain.py runs every recoverable case through the curation chain.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import load_tiny

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
