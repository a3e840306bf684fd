"""The PII report's review sections (provena.scrub_pii.report): the sample of records with each
replacement marked, and the near-threshold detections with their value masked. The tiny
dataset's end-to-end checks (no gold value anywhere in the report) are in test_scrub_pii.py."""

from __future__ import annotations

import html
import json
import random

import pytest

from provena import scrub_pii
from provena.config import ScrubPiiConfig
from provena.io import read_records
from provena.pii.engine import Detection
from provena.scrub_pii.report import (
    MASK,
    FieldView,
    Review,
    RoundRobinSample,
    render_html,
    segments,
)
from tests.factory import record, write_records

NAME, PHONE, LICENSE = "Maria Lopez", "(415) 555-0134", "A1234567"
CHAT = f"Hi, I am {NAME}, call me at {PHONE}. My license is {LICENSE} if you need it."
LICENSE_MASK = f"[US_DRIVER_LICENSE {MASK}]"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two records scrubbed with the default operators (surrogates) and the general profile:
    a name and a phone replaced, a driver licence number found at 0.3, below the 0.35
    threshold."""
    tmp = tmp_path_factory.mktemp("pii_report")
    recs = [
        record(source="t.jsonl", instruction="Reply to the customer.", input=CHAT, output="Ok."),
        record(source="t.jsonl", instruction="Summarize.", input="A refund for order 12.",
               output="Refund requested."),
    ]  # fmt: skip
    write_records(tmp / "in.parquet", recs)
    report = scrub_pii.run(
        tmp / "in.parquet",
        ScrubPiiConfig(),
        out=tmp / "out.parquet",
        ledger=tmp / "ledger.jsonl",
        quarantine=tmp / "quarantine.jsonl",
        metrics=tmp / "metrics.json",
        report_json=tmp / "report.json",
        report_html=tmp / "report.html",
    )
    out = {r["id"]: r for b in read_records(tmp / "out.parquet") for r in b}
    return tmp, report, out, recs[0]["id"]


def _field(report, rid, name):
    (rec,) = [r for r in report["sample"]["records"] if r["id"] == rid]
    (f,) = [f for f in rec["fields"] if f["field"] == name]
    return f["segments"]


def test_sample_marks_each_replacement_with_its_type_and_operator(small):
    tmp, report, out, rid = small
    assert len(report["sample"]["records"]) == 2  # both kept, both shown
    segs = _field(report, rid, "input")
    marks = [(s["entity_type"], s["operator"]) for s in segs if "operator" in s]
    assert marks == [("PERSON", "surrogate"), ("PHONE_NUMBER", "surrogate")]
    # the segments are the scrubbed text the data holds, the withheld value masked
    scrubbed = out[rid]["input"]
    assert "".join(s["text"] for s in segs) == scrubbed.replace(LICENSE, LICENSE_MASK)
    page = (tmp / "report.html").read_text()
    for s in segs:
        if "operator" in s:
            title = f'title="{s["entity_type"]} · surrogate · {s["recognizer"]} · score '
            assert f'<mark class="op-surrogate" {title}' in page
            tag = f'<span class="tag">{s["entity_type"]} · surrogate</span></mark>'
            assert f">{html.escape(s['text'])}{tag}" in page  # type and operator visible
    assert "▒" not in page  # no greyed glyphs any more


def test_near_threshold_table_counts_and_masks_the_value(small):
    tmp, report, out, rid = small
    nt = report["near_threshold"]
    assert (nt["band"], nt["detections"], nt["records"]) == ([0.2, 0.35], 1, 1)
    assert nt["by_type"] == {"US_DRIVER_LICENSE": 1}
    (ex,) = nt["examples"]
    assert (ex["id"], ex["field"], ex["entity_type"], ex["score"]) == (
        rid,
        "input",
        "US_DRIVER_LICENSE",
        0.3,
    )
    words = "".join(s["text"] for s in ex["context"])
    assert words.endswith(f". My license is {LICENSE_MASK} if you need it.")
    assert LICENSE in out[rid]["input"]  # not replaced: below the threshold
    page = (tmp / "report.html").read_text()
    assert "<td>US_DRIVER_LICENSE</td><td>0.30</td><td>UsLicenseRecognizer</td>" in page
    assert '<mark class="withheld near" title="near threshold: US_DRIVER_LICENSE' in page


def test_no_detected_value_in_the_report(small):
    tmp, *_ = small
    for name in ("report.json", "report.html"):
        text = (tmp / name).read_text()
        for value in (NAME, PHONE, LICENSE, "555-0134"):
            assert value not in text, f"{name} holds {value!r}"


def test_near_threshold_detections_never_change_the_data(small, tmp_path):
    """With the margin at 0 nothing is looked for below the threshold, and the data written
    is the same byte for byte."""
    tmp, *_ = small
    kw = {k: tmp_path / k for k in ("ledger", "quarantine", "metrics", "report_json")}
    off = scrub_pii.run(
        tmp / "in.parquet",
        ScrubPiiConfig(near_threshold_margin=0),
        out=tmp_path / "out.parquet",
        report_html=tmp_path / "report.html",
        **kw,
    )
    assert off["near_threshold"]["detections"] == 0 and off["near_threshold"]["examples"] == []
    assert "Not looked for" in (tmp_path / "report.html").read_text()
    assert (tmp_path / "out.parquet").read_bytes() == (tmp / "out.parquet").read_bytes()
    assert (tmp_path / "ledger").read_bytes() == (tmp / "ledger.jsonl").read_bytes()


def test_a_withheld_value_inside_a_kept_one_is_masked_whole():
    text = "He is Irish, born in 1950."
    spans = [(6, 11, "NRP", 0.85, "SpacyRecognizer")]
    gold = [{"start": 6, "end": 11, "withheld": "missed", "entity_type": "PERSON"}]
    ops = {"default": "placeholder", "NRP": "keep"}
    segs = segments(text, spans, text, [(6, 11)], ops, gold)
    assert segs is not None
    assert "".join(s["text"] for s in segs) == f"He is [PERSON {MASK}], born in 1950."
    # replacements that cannot be found again in the scrubbed text: not shown at all
    assert segments(text, spans, "She is X, born in 1950.", [(7, 8)], ops) is None
    assert segments(text, spans, text, [], ops) is None


def test_a_near_threshold_value_is_masked_wherever_it_stands_in_the_record():
    """Found below the threshold in one field, the same value elsewhere (where no recognizer
    scored it) is masked too, and counted once."""
    review = Review(5, 5, 0, {"default": "placeholder"}, threshold=0.35, margin=0.15)
    found = [Detection(11, 19, "US_DRIVER_LICENSE", 0.3, "UsLicenseRecognizer")]
    near = review.near_outside(found, [])  # counted here
    views = [
        FieldView("input", "input", f"license is {LICENSE}", [], f"license is {LICENSE}", [], near, []),
        FieldView("output", "output", f"Keep {LICENSE}.", [], f"Keep {LICENSE}.", [], [], []),
    ]  # fmt: skip
    review.add_record("r1", "t.jsonl", "general", views, kept=True)
    out = review.as_dict()
    assert LICENSE not in json.dumps(out)
    (rec,) = out["sample"]["records"]
    assert ["".join(s["text"] for s in f["segments"]) for f in rec["fields"]] == [
        f"license is {LICENSE_MASK}",
        f"Keep {LICENSE_MASK}.",
    ]
    assert out["near_threshold"]["detections"] == 1 and out["near_threshold"]["shown"] == 1


def test_report_html_escapes_the_scrubbed_text(small):
    _, report, _, _ = small
    payload = "<script>alert(1)</script>"
    report = json.loads(json.dumps(report))
    report["sample"]["records"][0]["fields"][0]["segments"] = [
        {"text": payload},
        {
            "text": payload,
            "entity_type": "PERSON",
            "operator": "surrogate",
            "recognizer": payload,
            "score": 0.9,
        },
    ]
    page = render_html(report)
    assert payload not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_round_robin_sample_is_the_same_whatever_the_order_and_batches():
    items = [(f"s{i % 3}", f"{i:04d}") for i in range(60)] + [("rare", "0999")]

    def sample(order, batches):
        parts = []
        for b in range(batches):
            s = RoundRobinSample(7, seed=1)
            for stratum, key in order[b::batches]:
                s.offer(stratum, key, lambda stratum=stratum, key=key: (stratum, key))
            parts.append(s)
        for p in parts[1:]:
            parts[0].merge(p)
        return parts[0].items()

    first = sample(items, 1)
    shuffled = items[:]
    random.Random(3).shuffle(shuffled)
    assert sample(shuffled, 1) == first and sample(shuffled, 4) == first
    # spread: every stratum, the rare one included, before any gives a third item
    assert len(first) == 7 and {s for s, _ in first} == {"s0", "s1", "s2", "rare"}
    by = {s: sorted(k for t, k in items if t == s)[:2] for s in ("s0", "s1", "s2")}
    assert all(k in by[s] for s, k in first if s != "rare")
