"""Bad input to ingest (issue 9, point 1): each bad raw folder of the table in
tests/helpers/bad_input.py is a clear error naming the file (and line, where there is one), or
quarantine entries with their rule and reason, plus the records it keeps; params.yaml with
wrong types or keys names them. The whole curation chain on every recoverable folder is in
tests/pipeline/test_bad_input_chain.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from provena import ingest
from provena.config import ConfigError, load_params
from provena.errors import IngestError
from provena.io import read_jsonl, read_records
from provena.records import record_id
from tests.conftest import tiny_data, tiny_yaml
from tests.helpers.bad_input import CASES, PARAMS, Kept, write_case


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
