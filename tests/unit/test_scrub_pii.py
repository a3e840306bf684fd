"""scrub_pii: recognizers on tables of cases, operators on golden text, surrogate consistency,
no raw PII anywhere outside the data (the stage with the network cut is in
tests/pipeline/test_offline.py)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import re

import pyarrow.parquet as pq
import pytest

from provena import scrub_pii
from provena.config import ScrubPiiConfig
from provena.io import read_jsonl, read_records
from provena.ledger_key import key_check, ledger_hash
from provena.lexicon import title_view
from provena.pii.engine import PiiDetector, ner_stretches, offline_tldextract, windows
from provena.pii.operators import Anonymizer, Surrogates
from provena.pii.settings import secret_key
from tests.conftest import load_tiny, tiny_ingested


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(profile="strict", allow_list=ScrubPiiConfig().allow_list)


# (text, value that must be caught, entity types that may catch it)
CAUGHT = [
    # street addresses, one line and several, in several countries' formats
    (
        "Ship it to 1234 Oak St, Springfield, IL 62704 please.",
        "1234 Oak St, Springfield, IL 62704",
        {"STREET_ADDRESS"},
    ),
    (
        "Meet me at 5100 Quadra 104\n Suite 845\n Evionnaz\n Switzerland 05377",
        "5100 Quadra 104\n Suite 845\n Evionnaz\n Switzerland 05377",
        {"STREET_ADDRESS"},
    ),
    (
        "Home address:\n88 Maple Avenue\nApt 5B\nDenver, CO 80203",
        "88 Maple Avenue\nApt 5B\nDenver, CO 80203",
        {"STREET_ADDRESS"},
    ),
    ("Her address: 450 Præstevænget 15, København V", "450 Præstevænget 15", {"STREET_ADDRESS"}),
    ("Send it to P.O. Box 287 before Friday.", "P.O. Box 287", {"STREET_ADDRESS"}),
    (
        "ADDRESS: 6384 HICKORY AVE UNIT 22, ALBANY, NY 12270",
        "6384 HICKORY AVE UNIT 22, ALBANY, NY 12270",
        {"STREET_ADDRESS"},
    ),
    # record numbers and other IDs introduced by context words
    ("MRN: 00482913, seen today", "00482913", {"MEDICAL_RECORD_NUMBER"}),
    ("Med Rec No. A1234567 admitted", "A1234567", {"MEDICAL_RECORD_NUMBER"}),
    ("Your order ORD-65472-H has shipped", "ORD-65472-H", {"ID"}),
    ("Please block card no 213175197796454", "213175197796454", {"CREDIT_CARD"}),
    # clinicians after titles and before credentials, any case
    ("Seen today by Dr. Sarah Kim in clinic.", "Sarah Kim", {"PERSON"}),
    ("ATTENDING: DR. JAMES O'NEIL", "JAMES O'NEIL", {"PERSON"}),
    ("Dictated by Ana Ruiz, RN", "Ana Ruiz", {"PERSON"}),
    # names and places in ALL-CAPS notes
    ("PATIENT: LOPEZ, THOMAS   MRN 50621462\nDOB: 09/26/1994", "LOPEZ, THOMAS", {"PERSON"}),
    ("PT IS A 54 Y/O MAN WHO LIVES IN SACRAMENTO WITH HIS WIFE.", "SACRAMENTO", {"LOCATION"}),
    # names and places spaCy's small model misses
    ("We met Szabina Gelencsér in Budapest last spring.", "Szabina Gelencsér", {"PERSON"}),
    ("my name is vitoria", "vitoria", {"PERSON"}),
    ("What's your last name? Nielsen", "Nielsen", {"PERSON"}),
    # ages, dates of birth, postcodes, phones said to be phones
    ("Patient is a 84-year-old male with headaches", "84", {"AGE"}),
    ("HPI: 29F presenting with cough", "29", {"AGE"}),
    ("DOB: 03/14/1962", "03/14/1962", {"DATE_TIME"}),
    ("My zip code is 2371", "2371", {"ZIP_CODE"}),
    ("Mobile: 723 813 266 (after 6pm)", "723 813 266", {"PHONE_NUMBER"}),
    # Presidio's own recognizers
    ("Write to jane.doe@example.org today", "jane.doe@example.org", {"EMAIL_ADDRESS"}),
    ("Call (415) 555-0134 now", "(415) 555-0134", {"PHONE_NUMBER"}),
    ("SSN 536-90-4371 on file", "536-90-4371", {"US_SSN"}),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00", {"IBAN_CODE"}),
    ("Server at 192.168.10.24 failed", "192.168.10.24", {"IP_ADDRESS"}),
    ("Visa 4111 1111 1111 1111 expired", "4111 1111 1111 1111", {"CREDIT_CARD"}),
]

NOT_PII = [
    "Take 2 tablets PO BID for 5 days.",
    "BP 122/80, HR 77, RR 16, SpO2 97% on RA.",
    "Symptoms started last month and got worse over the weekend.",
    "Assessment: GERD, COPD exacerbation, hypertension.",
    "Answer with JSON only.",
    "The package flew through customs in two days.",
]


@pytest.mark.parametrize(("text", "value", "types"), CAUGHT, ids=[c[1][:30] for c in CAUGHT])
def test_recognizer_table_catches_each_case(detector, text, value, types):
    start = text.index(value)
    end = start + len(value)
    (dets,) = detector.detect([text])
    got = [(text[d.start : d.end], d.entity_type) for d in dets]
    covered = {i for d in dets for i in range(d.start, d.end)}
    assert all(
        i in covered for i in range(start, end) if not text[i].isspace() and text[i] != ","
    ), got
    assert any(d.entity_type in types and d.start < end and start < d.end for d in dets), got


@pytest.mark.parametrize("text", NOT_PII)
def test_ordinary_clinical_and_support_text_is_left_alone(detector, text):
    (dets,) = detector.detect([text])
    assert [(text[d.start : d.end], d.entity_type) for d in dets] == []


def test_long_text_is_cut_into_windows_that_cover_it():
    text = "\n".join(f"line {i} with some words" for i in range(2000))
    pieces = list(windows(text, 4000, 300))
    assert pieces[0][0] == 0 and all(len(w) <= 4000 for _, w in pieces)
    covered = set()
    for offset, w in pieces:
        assert text[offset : offset + len(w)] == w
        covered.update(range(offset, offset + len(w)))
    assert covered == set(range(len(text)))


def test_detection_in_a_long_text_finds_values_past_the_first_window(detector):
    text = ("Vitals stable. " * 600) + "Call Maria Lopez at (415) 555-0134."
    (dets,) = detector.detect([text])
    found = {text[d.start : d.end] for d in dets}
    assert "(415) 555-0134" in found and any("Maria Lopez" in f for f in found)


def test_ner_runs_only_on_sentences_that_may_hold_a_kept_entity():
    text = (
        "Thanks for the update. The package arrived late and the box was damaged. "
        "Please ask Maria Lopez to call me back."
    )
    stretches = ner_stretches(text, caps=False)
    seen = " ".join(text[a:b] for a, b in stretches)
    assert "Maria Lopez" in seen and "Thanks" not in seen and "package" not in seen
    assert seen.startswith("the box was damaged.")  # four words of context before the sentence
    caps = "PT SEEN TODAY FOR FOLLOW UP OF COUGH. WILL CALL DAUGHTER MARIA LOPEZ AT HOME."
    view = title_view(caps)
    (only,) = ner_stretches(view, caps=True)
    assert "Maria Lopez" in view[only[0] : only[1]] and only[0] > 0


def test_ner_on_those_sentences_finds_what_ner_on_whole_texts_finds(detector, monkeypatch):
    texts = [t for t, _, _ in CAUGHT] + NOT_PII
    stretches = detector.detect(texts)
    monkeypatch.setattr(detector.nlp_engine, "whole_texts", True)
    assert detector.detect(texts) == stretches


def test_a_window_repeated_in_a_batch_is_analyzed_once_with_the_same_detections(
    detector, monkeypatch
):
    texts = [t for t, _, _ in CAUGHT[:4]]
    alone = [detector.detect([t])[0] for t in texts]
    # one line repeated: the long text's windows are the same text at different offsets
    value = "ann.lee@mail.com"
    long = "\n".join([f"Questions go to {value} on weekdays."] * 200)
    assert len({w for _, w in windows(long, detector.window_chars, detector.window_overlap)}) < (
        len(list(windows(long, detector.window_chars, detector.window_overlap)))
    )
    analyzed: list[str] = []
    real = detector.analyze
    monkeypatch.setattr(
        detector, "analyze", lambda text, *a, **k: analyzed.append(text) or real(text, *a, **k)
    )
    batch = [texts[0], texts[1], texts[0], texts[2], texts[1], texts[3], long]
    found = detector.detect(batch)
    assert found[:6] == [alone[0], alone[1], alone[0], alone[2], alone[1], alone[3]]
    assert len(analyzed) == len(set(analyzed)) and set(texts) <= set(analyzed)
    # every copy of the e-mail found where it stands in the long text (windows shifted)
    starts = {d.start for d in found[6] if long[d.start : d.end] == value}
    assert starts == {m.start() for m in re.finditer(re.escape(value), long)}


# ------------------------------------------------------------------------------- operators

TEXT = "Ann Lee (ann.lee@mail.com, 415-555-0134) was born on 03/14/1962; card 4111 1111 1111 1111."
SPANS = [
    (0, 7, "PERSON", 0.9),
    (9, 25, "EMAIL_ADDRESS", 0.9),
    (27, 39, "PHONE_NUMBER", 0.9),
    (53, 63, "DATE_TIME", 0.9),
    (70, 89, "CREDIT_CARD", 0.9),
]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (
            "placeholder",
            "<PERSON> (<EMAIL_ADDRESS>, <PHONE_NUMBER>) was born on <DATE_TIME>; card <CREDIT_CARD>.",
        ),
        (
            "mask",
            "*** *** (***.***@****.***, ***-***-0134) was born on **/**/1962; card **** **** **** 1111.",
        ),
        ("redact", " (, ) was born on ; card ."),
        ("keep", TEXT),
    ],
)
def test_operator_golden_before_after(operator, expected):
    an = Anonymizer({"default": operator}, key=b"test-key", salt=None, mask_keep_last=4)
    assert an.anonymize(TEXT, SPANS) == expected


def test_hash_operator_needs_the_salt_and_never_shows_it():
    with pytest.raises(Exception, match="needs a secret salt"):
        Anonymizer({"default": "hash"}, key=b"k", salt=None)
    an = Anonymizer({"default": "hash"}, key=b"k", salt=b"s3cret-salt-value")
    out = an.anonymize(TEXT, SPANS)
    assert re.fullmatch(r"<PERSON:[0-9a-f]{12}> \(<EMAIL_ADDRESS:[0-9a-f]{12}>, .*", out)
    assert "s3cret" not in out and "Ann" not in out
    other = Anonymizer({"default": "hash"}, key=b"k", salt=b"another-salt-value").anonymize(
        TEXT, SPANS
    )
    assert other != out


def test_surrogate_golden_and_format_preserving():
    an = Anonymizer({"default": "surrogate"}, key=b"test-key", salt=None)
    out = an.anonymize(TEXT, SPANS)
    assert out == an.anonymize(TEXT, SPANS)  # deterministic
    m = re.fullmatch(
        r"(\w+) (\w+) \(([\w.]+)@(\w+)\.com, (\d{3}-\d{3}-\d{4})\) was born on (\d\d/\d\d/\d{4}); "
        r"card (\d{4} \d{4} \d{4} \d{4})\.",
        out,
    )
    assert m, out
    first, last, local = m.group(1), m.group(2), m.group(3)
    assert (first, last) != ("Ann", "Lee")
    assert local == f"{first.lower()}.{last.lower()}"  # the email follows the fake name
    dt.datetime.strptime(m.group(6), "%m/%d/%Y")  # still a valid date, same format
    assert m.group(6) != "03/14/1962" and m.group(5) != "415-555-0134"


def test_surrogates_are_consistent_within_a_dataset_and_differ_across_keys():
    a, b, other = Surrogates(b"k1"), Surrogates(b"k1"), Surrogates(b"k2")
    for kind, value in [
        ("PERSON", "Christopher Carter"),
        ("EMAIL_ADDRESS", "c.carter@aol.com"),
        ("PHONE_NUMBER", "(555) 123-4567"),
        ("DATE_TIME", "March 14, 1962"),
        ("STREET_ADDRESS", "12 Oak St, Springfield, IL 62704"),
        ("LOCATION", "Denver"),
    ]:
        assert a(kind, value) == b(kind, value) != value
        assert other(kind, value) != a(kind, value)
    full, first = a("PERSON", "Christopher Carter"), a("PERSON", "Christopher")
    assert full.split()[0] == first  # 'Hi Christopher' still refers to the same fake person
    assert a("PERSON", "CARTER, CHRISTOPHER") == f"{full.split()[1].upper()}, {first.upper()}"
    assert re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", a("PHONE_NUMBER", "(555) 123-4567"))


# ---------------------------------------------------------------------- the stage, end to end


@pytest.fixture(scope="module")
def scrubbed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scrub")
    params = load_tiny()
    tiny_ingested(tmp)
    out = tmp / "out"
    # placeholders everywhere: a surrogate could by chance equal another record's real value;
    # every record in the report's sample, so the no-raw-PII check reads all their text
    cfg = params.scrub_pii.model_copy(
        update={
            "operators": {"default": "placeholder", "AGE": "keep", "NRP": "keep"},
            "report_examples": 1000,
        }
    )
    report = scrub_pii.run(
        tmp / "ingest.parquet",
        cfg,
        out=out / "records.parquet",
        ledger=out / "ledger.jsonl",
        quarantine=out / "quarantine.jsonl",
        metrics=out / "metrics.json",
        report_json=out / "report.json",
        report_html=out / "report.html",
        gold_paths=[tmp / "raw" / "default" / "_gold" / "pii_spans.jsonl"],
        surrogates=out / "surrogates.parquet",
    )
    return tmp, report


def test_surrogates_file_says_where_each_replacement_stands(scrubbed):
    """One row per replacement in a kept record's text fields, at the new value's offsets in
    the output (placeholders here, so the text there is '<TYPE>'): what augment swaps."""
    tmp, _ = scrubbed
    rows = pq.read_table(tmp / "out" / "surrogates.parquet").to_pylist()
    kept = {r["id"]: r for b in read_records(tmp / "out" / "records.parquet") for r in b}
    assert len(rows) > 500 and {r["field"] for r in rows} <= {"instruction", "input", "output"}
    for r in rows:
        assert r["operator"] == "placeholder"
        assert kept[r["id"]][r["field"]][r["start"] : r["end"]] == f"<{r['entity_type']}>"
    # every replacement the ledger names in a kept record's text fields, and no other
    named = collections.Counter(
        (line["id"], e["field"], e["entity_type"])
        for line in read_jsonl(tmp / "out" / "ledger.jsonl")
        if line["action"] == "scrubbed"
        for e in line["entities"]
        if e["field"] in ("instruction", "input", "output") and e["operator"] != "keep"
    )
    assert named == collections.Counter((r["id"], r["field"], r["entity_type"]) for r in rows)


def test_books_balance_and_gold_quality(scrubbed):
    _tmp, report = scrubbed
    books = report["books"]
    assert books["records_in"] == books["records_kept"] + books["records_quarantined"]
    s = report["summary"]
    assert s["residual_verdict"] == "pass" and s["residual_rate"] <= 0.001
    assert s["gold_missed_share"] <= 0.05 and s["gold_f2"] >= 0.85 and s["gold_precision"] >= 0.80
    assert report["gold_evaluation"]["per_type"]["PERSON"]["gold_spans"] > 100


def test_no_raw_pii_value_outside_the_data(scrubbed, capfd):
    """Every gold PII value of the input is absent from ledger, quarantine, metrics and reports."""
    tmp, _ = scrubbed
    records = {r["meta"]["synth_id"]: r for b in read_records(tmp / "ingest.parquet") for r in b}
    values = set()
    for g in read_jsonl(tmp / "raw" / "default" / "_gold" / "pii_spans.jsonl"):
        value = records[g["synth_id"]][g["field"]][g["start"] : g["end"]]
        if g["entity_type"] != "AGE" and len(value) >= 5:
            values.add(value)
    assert len(values) > 500
    for name in ("ledger.jsonl", "quarantine.jsonl", "metrics.json", "report.json", "report.html"):
        text = (tmp / "out" / name).read_text()
        # a value as a whole token: a 5-digit value may turn up by chance inside a hex hash
        leaked = [
            v
            for v in values
            for form in {v, v.replace("&", "&amp;").replace("'", "&#39;")}
            if re.search(rf"(?<![0-9A-Za-z]){re.escape(form)}(?![0-9A-Za-z])", text)
        ]
        assert leaked == [], f"{name} holds raw PII: {leaked[:5]}"
    logged = capfd.readouterr()
    assert not [v for v in values if v in logged.out or v in logged.err]


def test_report_sample_shows_every_kept_record_marked_and_missed_values_masked(scrubbed):
    """The sample (all records here) is scrubbed text with each replacement marked; a gold
    value the detector missed is masked, so the check above covers what it left."""
    tmp, report = scrubbed
    sample = report["sample"]
    assert len(sample["records"]) == report["books"]["records_kept"]
    assert sample["fields_not_shown"] == 0
    segs = [s for r in sample["records"] for f in r["fields"] for s in f.get("segments", [])]
    marked = [s for s in segs if "operator" in s]
    assert {s["operator"] for s in marked} == {"placeholder", "keep"}
    assert all(s["text"] == f"<{s['entity_type']}>" for s in marked if s["operator"] != "keep")
    missed = [s for s in segs if s.get("withheld") == "missed"]
    assert missed and all(s["text"] == f"[{s['entity_type']} ·····]" for s in missed)
    html = (tmp / "out" / "report.html").read_text()
    # the sample's section: from its heading to the next (the by-type section marks its own)
    html = html[html.index('<h2 id="sample">') :]
    html = html[: html.index("<h2", 1)] if "<h2" in html[1:] else html
    assert html.count('<mark class="op-placeholder" title="') == sum(
        s["operator"] == "placeholder" for s in marked
    )
    assert html.count('<mark class="withheld missed" title="missed: ') == len(missed)


def test_scrubbed_records_hold_almost_none_of_the_gold_values(scrubbed):
    tmp, _report = scrubbed
    records = {r["meta"]["synth_id"]: r for b in read_records(tmp / "ingest.parquet") for r in b}
    kept = {
        r["meta"]["synth_id"]: r for b in read_records(tmp / "out" / "records.parquet") for r in b
    }
    total = left = 0
    for g in read_jsonl(tmp / "raw" / "default" / "_gold" / "pii_spans.jsonl"):
        value = records[g["synth_id"]][g["field"]][g["start"] : g["end"]]
        if g["entity_type"] == "AGE" or len(value) < 5 or g["synth_id"] not in kept:
            continue
        total += 1
        left += value in kept[g["synth_id"]][g["field"]]
    assert total > 500 and left / total <= 0.01


def test_ledger_stores_type_field_offsets_and_hash(scrubbed):
    tmp, _ = scrubbed
    line = next(read_jsonl(tmp / "out" / "ledger.jsonl"))
    e = line["entities"][0]
    assert set(e) == {
        "field",
        "start",
        "end",
        "entity_type",
        "score",
        "recognizer",
        "operator",
        "hash",
    }
    assert re.fullmatch(r"[0-9a-f]{16}", e["hash"])
    # the hash is of the raw value normalised (provena.ledger_key), keyed as the metrics say
    key, salt = secret_key(load_tiny().scrub_pii)
    raw = {r["id"]: r for b in read_records(tmp / "ingest.parquet") for r in b}[line["id"]]
    value = raw[e["field"]][e["start"] : e["end"]]
    assert e["hash"] == ledger_hash(key, value, e["entity_type"])
    assert e["hash"] == ledger_hash(key, f" {value.upper()}. ", e["entity_type"])
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    assert metrics["ledger_key"] == ("salt" if salt else "surrogate_seed")
    assert metrics["ledger_key_check"] == key_check(key)
    html = (tmp / "out" / "report.html").read_text()
    assert "Residual rate" in html and "Quality against gold spans" in html


def test_the_default_datasets_meta_holds_labels_only(scrubbed):
    """Its only free-text meta values are ICD-10 chapter names, an audit outcome label: kept,
    and counted; nothing in meta is scrubbed (tests/unit/test_meta_scrub.py: what is)."""
    _tmp, report = scrubbed
    assert report["meta"]["free_text"] == {}
    assert set(report["meta"]["free_text_kept"]) == {"icd10_chapter"}
    assert not any(
        f.startswith("meta.") for per in report["entities_by_type_and_field"].values() for f in per
    )


def test_meta_fields_declared_pii_are_dropped_or_hashed():
    from provena.scrub_pii import PiiStats, _scrub_meta

    cfg = ScrubPiiConfig(meta={"drop": ["email"], "hash": ["customer"]})
    st = PiiStats()
    out = _scrub_meta(
        {"email": "a@b.com", "customer": "Ann Lee", "gender": "female"}, cfg, b"k", st
    )
    assert (
        set(out) == {"customer", "gender"}
        and out["customer"] != "Ann Lee"
        and len(out["customer"]) == 16
    )
    assert (st.meta_dropped, st.meta_hashed) == (1, 1)


def test_tldextract_runs_offline(monkeypatch):
    import socket

    def refuse(*a, **k):
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    offline_tldextract()
    import tldextract

    assert tldextract.extract("mail.example.co.uk").suffix == "co.uk"


def test_scrub_cli_on_one_file(tmp_path, monkeypatch):
    from provena.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"id": 1, "body": "Call Maria Lopez at (415) 555-0134."}) + "\n"
    )
    assert main(["scrub", "in.jsonl", "out.jsonl", "--fields", "body"]) == 0
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert row["id"] == 1 and "Maria" not in row["body"] and "555-0134" not in row["body"]
    assert row["body"].startswith("Call ") and row["body"].endswith(".")
    assert main(["scrub", "in.jsonl", "out.jsonl", "--fields", "text"]) == 2


@pytest.mark.parametrize(
    ("phone", "code"),
    [("+1 528 811 4421", "+1 "), ("1-871-897-3732", "1-"), ("+44 20 7946 0958", "+44 ")],
)
def test_phone_surrogate_keeps_the_country_code(phone, code):
    fake = Surrogates(b"k")("PHONE_NUMBER", phone)
    assert fake != phone and fake.startswith(code)
    assert re.sub(r"\d", "0", fake) == re.sub(r"\d", "0", phone)  # same format


def test_allow_list_matches_whole_values_in_any_case(detector):
    text = "Please call Maria Lopez today."
    (plain,) = detector.detect([text])
    assert "Maria Lopez" in {text[d.start : d.end] for d in plain}
    (allowed,) = PiiDetector(profile="strict", allow_list=["maria lopez"]).detect(
        [text]
    )  # other case, same value
    assert "Maria Lopez" not in {text[d.start : d.end] for d in allowed}


def test_gold_set_gives_each_batch_its_spans_in_file_order_packed_out_of_the_gc(tmp_path):
    import gc

    from provena.pii.scoring import GoldSpan

    path = tmp_path / "gold.jsonl"
    rows = [
        {"synth_id": "a", "field": "input", "start": 0, "end": 3, "entity_type": "PERSON"},
        {"synth_id": "b", "field": "output", "start": 5, "end": 9, "entity_type": "EMAIL_ADDRESS"},
        {"synth_id": "a", "field": "output", "start": 2, "end": 4, "entity_type": "PERSON"},
        {"synth_id": "a", "field": "input", "start": 7, "end": 11, "entity_type": "PHONE_NUMBER"},
        {"id": "c", "field": "messages[0]", "start": 1, "end": 2, "entity_type": "PERSON"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gold = scrub_pii.load_gold([path, tmp_path / "absent.jsonl"])
    assert gold is not None and len(gold) == 4  # message spans are never scored, so not kept
    assert gold.for_batch(["a", "z"]) == {
        ("a", "input"): [GoldSpan(0, 3, "PERSON"), GoldSpan(7, 11, "PHONE_NUMBER")],
        ("a", "output"): [GoldSpan(2, 4, "PERSON")],
    }
    assert gold.for_batch(["b"]) == {("b", "output"): [GoldSpan(5, 9, "EMAIL_ADDRESS")]}
    # nothing a forked worker's garbage collection would write to (and so copy)
    assert not gc.is_tracked(gold._spans)
    assert scrub_pii.load_gold([tmp_path / "absent.jsonl"]) is None
