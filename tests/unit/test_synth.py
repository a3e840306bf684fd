"""synth: deterministic, realistic, and its ground truth matches what ingest produces."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from provena import ingest
from provena.config import load_params
from provena.io import read_jsonl, read_records
from provena.synth import (
    CHAT_FILE,
    CLINICAL_FILE,
    LABELS_FILE,
    LEGACY_FILE,
    REPAIR,
    SPANS_FILE,
    generate,
    write_dataset,
)
from provena.synth.icd10 import ICD10
from tests.conftest import ROOT, load_tiny


@pytest.fixture(scope="module")
def default_ds():
    return generate(load_params(ROOT / "params.yaml").synth)


@pytest.fixture(scope="module")
def tiny_ds(tiny_params):
    return generate(tiny_params.synth)


def test_same_params_give_byte_identical_files(tiny_params, tmp_path):
    a, b = generate(tiny_params.synth), generate(tiny_params.synth)
    assert a.files == b.files
    write_dataset(a, tmp_path / "a")
    write_dataset(b, tmp_path / "b")
    files_a = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    assert files_a == sorted(
        p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file()
    )
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_another_seed_gives_other_data(tiny_params):
    other = tiny_params.synth.model_copy(update={"seed": tiny_params.synth.seed + 1})
    assert generate(other).files[CLINICAL_FILE] != generate(tiny_params.synth).files[CLINICAL_FILE]


def test_default_dataset_size_families_and_imbalance(default_ds):
    s = default_ds.stats
    assert s["records"] >= 10_000
    assert set(s["family_share"]) == {"clinical_extraction", "support_reply"}
    assert min(s["family_share"].values()) > 0.4
    assert s["gender_share"]["female"] <= 0.30
    assert s["defect_rate"]["near_duplicate"] >= 0.03
    assert set(s["defects"]) == {
        "exact_duplicate",
        "near_duplicate",
        "mojibake",
        "mojibake_lossy",
        "html_entities",
        "html_markup",
        "empty_output",
        "short_output",
        "over_long",
        "non_english",
    }
    assert all(v > 0 for v in s["defects"].values())
    assert s["malformed_lines"] == 25


def test_planted_outcome_disparity(default_ds):
    s = default_ds.stats
    assert (
        s["support_refund_rate_by_gender"]["male"] - s["support_refund_rate_by_gender"]["female"]
        > 0.15
    )
    assert (
        s["support_declined_rate_by_gender"]["female"]
        > 2 * s["support_declined_rate_by_gender"]["male"]
    )
    lengths = s["support_mean_reply_chars_by_age_band"]
    assert lengths["65+"] < 0.8 * min(v for k, v in lengths.items() if k != "65+")


def test_clinical_outputs_are_json_with_real_codes_matching_the_note(default_ds):
    codes = {c.code for c in ICD10}
    clinical = [
        d
        for d in default_ds.drafts
        if d.family == "clinical_extraction"
        and not any(
            lab["defect"] in ("empty_output", "short_output", "html_markup") for lab in d.labels
        )
    ]
    assert len(clinical) > 5_000
    for d in clinical:
        answer = json.loads(d.fields["output"])
        assert set(answer) == {"age", "sex", "icd10"}
        assert answer["sex"] == d.meta["gender"] in ("female", "male")
        assert set(answer["icd10"]) <= codes and answer["icd10"]
        assert str(answer["age"]) in d.fields["input"]
    caps = [d for d in clinical if d.meta["all_caps"]]
    assert 0.1 < len(caps) / len(clinical) < 0.2
    assert all(d.fields["input"] == d.fields["input"].upper() for d in caps)


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(
        d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2)
        for i, d in enumerate(reversed(digits))
    )
    return total % 10 == 0


CHECKS = {
    "EMAIL_ADDRESS": lambda v: re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", v, re.I) is not None,
    "PHONE_NUMBER": lambda v: sum(c.isdigit() for c in v) in (10, 11),
    "CREDIT_CARD": lambda v: len(v) == 4 or _luhn_ok(v),
    "US_SSN": lambda v: re.fullmatch(r"\d{3}-\d{2}-\d{4}", v) is not None,
    "PERSON": lambda v: v[0].isalpha() and not any(c.isdigit() for c in v),
}


def test_gold_spans_cover_pii_of_every_kind(default_ds):
    by_type = Counter()
    for d in default_ds.drafts:
        if any(lab["expect"] == REPAIR for lab in d.labels):
            continue  # spans point into the repaired text; checked after ingest below
        for field, spans in d.spans.items():
            text = d.fields[field]
            for s in spans:
                value = text[s.start : s.end]
                assert value and value == value.strip(), (d.synth_id, field, s)
                assert CHECKS.get(s.entity_type, bool)(value), (s.entity_type, value)
                by_type[s.entity_type] += 1
    for kind in (
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "DATE_TIME",
        "MEDICAL_RECORD_NUMBER",
        "STREET_ADDRESS",
        "LOCATION",
        "ORGANIZATION",
        "CREDIT_CARD",
        "ORDER_NUMBER",
        "US_SSN",
    ):
        assert by_type[kind] > 100, kind


def test_ingest_of_the_dataset_matches_its_ground_truth(tiny_ds, tmp_path):
    raw = tmp_path / "raw" / "default"
    write_dataset(tiny_ds, raw)
    out = tmp_path / "ingest.parquet"
    report = ingest.run(
        [tmp_path / "raw"],
        load_tiny().ingest,
        out=out,
        ledger=tmp_path / "ledger.jsonl",
        quarantine=tmp_path / "q.jsonl",
        metrics=None,
        base=tmp_path,
    )
    assert {f["source"].split("/")[-1]: f["shape"] for f in report["files"]} == {
        CLINICAL_FILE: "alpaca",
        CHAT_FILE: "messages",
        LEGACY_FILE: "dolly",
    }

    labels = list(read_jsonl(raw / LABELS_FILE))
    # exactly the planted malformed lines are quarantined, each for the planted reason
    planted = {(lab["line"], lab["defect"]) for lab in labels if "file" in lab}
    got = {(q["line"], q["rule"]) for q in read_jsonl(tmp_path / "q.jsonl")}
    assert got == planted and len(planted) == 6

    records = {r["meta"]["synth_id"]: r for batch in read_records(out) for r in batch}
    assert len(records) == len(tiny_ds.drafts)
    repaired = {lab["synth_id"] for lab in labels if lab.get("expect") == REPAIR}
    damaged = {lab["synth_id"] for lab in labels if "synth_id" in lab and "of" not in lab}
    assert repaired
    for d in tiny_ds.drafts:
        rec = records[d.synth_id]
        if d.synth_id in repaired:
            assert (
                "â€" not in rec["output"]
                and "&#39;" not in rec["input"]
                and "<br>" not in rec["input"]
            )
        elif d.synth_id not in damaged:  # clean text passes ingest unchanged
            assert [rec[f] for f in ("instruction", "input", "output")] == [
                d.fields[f] for f in ("instruction", "input", "output")
            ]
    for span in read_jsonl(raw / SPANS_FILE):
        value = records[span["synth_id"]][span["field"]][span["start"] : span["end"]]
        assert value and CHECKS.get(span["entity_type"], bool)(value), span
