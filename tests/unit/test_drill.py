"""The drill-down of the clean and PII reports (templates/drill.html.j2, drill.js): the word
diff of duplicate pairs, each rule's and each entity type's record ids, bounded samples, the
filter's attributes, no raw PII value on the page, and each page that has a drill-down (clean,
PII, the two audit pages) under the size budget docs/reports.md states, on the default data's
shape."""

from __future__ import annotations

import collections
import json
import re

import pytest
from markupsafe import escape

from provena import clean, reports, scrub_pii
from provena.audit_data import drill
from provena.audit_data.report import render_html as render_audit
from provena.clean.report import render_html as render_clean
from provena.clean.report import word_diff
from provena.config import AuditDataConfig, CleanConfig, ScrubPiiConfig
from provena.io import read_jsonl
from provena.scrub_pii.report import CONTEXT_WORDS, TYPE_SNIPPETS
from provena.scrub_pii.report import render_html as render_pii
from tests.conftest import ROOT, load_tiny, tiny_ingested
from tests.factory import record, write_records

#: the size budget of one page on the default data (the docs state it)
BUDGET = 1_000_000


def _diff_html(a: str, b: str) -> str:
    ops, _ = word_diff(a, b)
    return reports.render_macro("drill.html.j2", "diff", ops)


# ------------------------------------------------------------------------------ word diff


def test_word_diff_marks_exactly_the_changed_words():
    ops, ratio = word_diff("the quick brown fox jumps", "the quick red fox jumps high")
    assert [t for op, t in ops if op == "delete"] == ["brown"]
    assert [t for op, t in ops if op == "insert"] == ["red", "high"]
    # the text shown is the second one, the words only in the first struck out among it
    assert "".join(t for op, t in ops if op != "delete").split() == [
        "the",
        "quick",
        "red",
        "fox",
        "jumps",
        "high",
    ]
    assert _diff_html("the quick brown fox jumps", "the quick red fox jumps high") == (
        "the quick <del>brown</del> <ins>red</ins> fox jumps <ins>high</ins>"
    )
    assert ratio == round(2 * 4 / (5 + 6), 4)


def test_word_diff_ignores_whitespace_and_finds_nothing_in_equal_texts():
    ops, ratio = word_diff("a  b\nc", "a b c")
    assert [op for op, _ in ops] == ["equal"] and ratio == 1.0
    ops, ratio = word_diff("", "")
    assert ops == [] and ratio == 1.0


def test_word_diff_escapes_the_text():
    out = _diff_html("say hi", "say <script>alert(1)</script>")
    assert "<script>" not in out
    assert "<ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins>" in out


# ---------------------------------------------------------------------------- clean report


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    """The tiny dataset cleaned with small report bounds: 2 samples per rule, 4 ids per rule,
    fields cut at 120 characters."""
    tmp = tmp_path_factory.mktemp("drill_clean")
    inp = tiny_ingested(tmp)
    cfg = load_tiny().clean.model_copy(
        update={"report_examples": 2, "report_ids": 4, "report_text_chars": 120}
    )
    report = clean.run(
        inp,
        cfg,
        out=tmp / "clean.parquet",
        ledger=tmp / "ledger.jsonl",
        quarantine=tmp / "quarantine.jsonl",
        report_json=tmp / "report.json",
        report_html=tmp / "report.html",
    )
    return tmp, cfg, report, (tmp / "report.html").read_text()


def test_each_rule_lists_its_dropped_ids_in_input_order_bounded(cleaned):
    tmp, cfg, report, page = cleaned
    by_rule = collections.defaultdict(list)
    for line in read_jsonl(tmp / "ledger.jsonl"):
        by_rule[line["rule"]].append((line["row"], line["id"]))
    assert set(report["dropped_ids"]) == set(by_rule) and len(by_rule) >= 5
    for rule, rows in by_rule.items():
        ids = [i for _, i in sorted(rows)]
        assert report["dropped_ids"][rule] == {"count": len(ids), "ids": ids[: cfg.report_ids]}
        section = re.search(
            rf'<section class="drill-item" id="rule-{rule}" data-filter="{rule}">(.*?)</section>',
            page,
            re.S,
        )
        assert section, rule
        assert " ".join(ids[: cfg.report_ids]) in section.group(1)
        assert (
            f"{cfg.report_ids} listed, of {len(ids)} records" in section.group(1)
            or len(ids) <= cfg.report_ids
        )


def test_the_sample_of_dropped_records_is_bounded_and_cut(cleaned):
    tmp, cfg, report, page = cleaned
    quarantined = {(q["rule"], q["row"]): q for q in read_jsonl(tmp / "quarantine.jsonl")}
    assert report["filter_examples"]
    for rule, examples in report["filter_examples"].items():
        first = sorted(row for r, row in quarantined if r == rule)[: cfg.report_examples]
        assert [e["row"] for e in examples] == first
        for e in examples:
            rec = quarantined[(rule, e["row"])]["record"]
            assert e["reason"] == quarantined[(rule, e["row"])]["reason"]
            for f in e["fields"]:
                whole = rec[f["field"]] or ""
                assert f["text"] == whole[: cfg.report_text_chars]
                assert f["chars_left_out"] == len(whole) - len(f["text"])
                if f["text"]:
                    assert str(escape(f["text"])) in page
    assert any(
        f["chars_left_out"]
        for es in report["filter_examples"].values()
        for e in es
        for f in e["fields"]
    )


def test_duplicate_pairs_are_word_diffs_with_ids_and_similarity(cleaned):
    _, cfg, report, page = cleaned
    clusters = report["largest_clusters"]
    assert clusters and len(clusters) <= cfg.report_clusters
    near = [d for c in clusters for d in c["dropped"] if d["rule"] == "near_duplicate"]
    assert near, "the tiny dataset has near duplicates among the largest clusters"
    for c in clusters:
        assert c["kept"]["id"] in c["ids"] and len(c["ids"]) == c["size"]
        for d in c["dropped"]:
            assert d["id"] in c["ids"]
    assert "<del>" in page and "<ins>" in page and "estimated Jaccard" in page
    assert "of words in common" in page


def test_the_clean_page_has_a_filter_over_every_rule_with_drops(cleaned):
    _, _, report, page = cleaned
    assert 'class="drill-filter" data-scope="drill"' in page and '<div id="drill">' in page
    options = re.findall(r'<option value="([^"]*)">', page)
    assert options == ["", *[r for r in report["rules"] if r in report["dropped_ids"]]]
    assert 'document.querySelectorAll(".drill-filter")' in page  # the script, inline
    assert "<script src" not in page and "<link" not in page


# ------------------------------------------------------------------------------ PII report

NAMES, PHONE = ("Maria Lopez", "Daniel Okafor", "Ingrid Halvorsen"), "(415) 555-0187"


@pytest.fixture(scope="module")
def scrubbed(tmp_path_factory):
    """Three records with one planted name each (and one phone), scrubbed with 1 example and
    2 ids per entity type. The names stand where the detector finds them: a missed value
    stays in the data, and the sample shows the data as it is."""
    tmp = tmp_path_factory.mktemp("drill_pii")
    texts = [f"Hi, I am {NAMES[0]}, call me at {PHONE} about my order."] + [
        f"Hi, I am {name}, I would like a refund for my order." for name in NAMES[1:]
    ]
    recs = [
        record(source="t.jsonl", instruction="Reply to the customer.", input=t, output="Ok.")
        for t in texts
    ]
    write_records(tmp / "in.parquet", recs)
    cfg = ScrubPiiConfig(report_examples_per_type=1, report_ids_per_type=2)
    report = scrub_pii.run(
        tmp / "in.parquet",
        cfg,
        out=tmp / "out.parquet",
        ledger=tmp / "ledger.jsonl",
        quarantine=tmp / "quarantine.jsonl",
        metrics=None,
        report_json=tmp / "report.json",
        report_html=tmp / "report.html",
    )
    return tmp, recs, report, (tmp / "report.html").read_text()


def test_each_entity_type_lists_its_record_ids_and_a_bounded_sample(scrubbed):
    _, recs, report, page = scrubbed
    types = report["by_entity_type"]["types"]
    person = types["PERSON"]
    ids = sorted(r["id"] for r in recs)
    assert person["records"] == 3 and person["ids"] == ids[:2]
    assert len(person["examples"]) == 1
    (ex,) = person["examples"]
    assert ex["id"] in ids and 1 <= len(ex["snippets"]) <= TYPE_SNIPPETS
    marks = [s for sn in ex["snippets"] for s in sn["context"] if "operator" in s]
    assert any(s["entity_type"] == "PERSON" and s["operator"] == "surrogate" for s in marks)
    assert types["PHONE_NUMBER"]["records"] == 1
    section = re.search(
        r'<section class="drill-item" id="type-PERSON" data-filter="PERSON">(.*?)</section>',
        page,
        re.S,
    )
    assert section and " ".join(ids[:2]) in section.group(1)
    assert "2 listed, of 3 records" in section.group(1)
    assert '<span class="tag">PERSON · surrogate</span></mark>' in section.group(1)


def test_the_pii_page_filters_by_entity_type_and_never_shows_the_planted_values(scrubbed):
    _, _, report, page = scrubbed
    options = re.findall(r'<option value="([^"]*)">', page)
    assert options == ["", *sorted(report["by_entity_type"]["types"])]
    assert re.search(r'<section class="drill-item" data-filter="[^"]*PERSON[^"]*">', page)
    values = [PHONE, "555-0187", *NAMES, *(w for n in NAMES for w in n.split())]
    for value in values:
        assert value not in page and str(escape(value)) not in page, value
        assert value not in json.dumps(report), value


# ------------------------------------------------------------------------- the size budget


def _words(n: int, tag: str) -> list[str]:
    return [f"{tag}{i:05d}" for i in range(n)]


def _clean_at_the_bounds() -> dict:
    """The committed default run's clean report (its counts) with every drill-down part at
    the default bounds: every id listed, every sample field full, every duplicate pair
    differing in every other word (the most marks)."""
    r = json.loads((ROOT / "reports/clean_report.json").read_text())
    cfg = CleanConfig()
    n_chars = cfg.report_text_chars
    words = _words(n_chars // 7, "w")
    kept = " ".join(words)[:n_chars]
    other = " ".join(w if i % 2 else w.upper() for i, w in enumerate(words))[:n_chars]
    size = max(int(k) for k in r["cluster_sizes"])
    by_rule = r["books"]["quarantined_by_rule"]
    filtered = [rule for rule in by_rule if not rule.endswith("_duplicate")]
    rec = {"id": "0" * 16, "source": "data/raw/default/clinical_extraction.jsonl", "row": 1}
    r["params"] = {
        k: getattr(cfg, k)
        for k in ("report_clusters", "report_examples", "report_ids", "report_text_chars")
    }
    r["dropped_ids"] = {
        rule: {"count": n, "ids": [f"{i:016x}" for i in range(min(n, cfg.report_ids))]}
        for rule, n in by_rule.items()
    }
    field = {"text": "x" * n_chars, "chars_left_out": 99}
    r["filter_examples"] = {
        rule: [{**rec, "reason": "r" * 80, "fields": [{"field": f, **field} for f in "abc"]}]
        * cfg.report_examples
        for rule in filtered
    }
    r["largest_clusters"] = [
        {
            "size": size,
            "ids": [rec["id"]] * size,
            "kept": {**rec, "text": kept, "chars_left_out": 0},
            "dropped": [
                {
                    **rec,
                    "text": other,
                    "chars_left_out": 0,
                    "rule": "near_duplicate",
                    "similarity": 0.71,
                }
            ]
            * min(size - 1, cfg.report_examples),
        }
        for _ in range(cfg.report_clusters)
    ]
    return r


def _pii_at_the_bounds() -> dict:
    """The committed default run's PII report (its counts, sample and near-threshold
    detections) with the drill-down by entity type at the default bounds: the most ids, the
    most records, each with the most snippets, each snippet every other word a replacement."""
    r = json.loads((ROOT / "audits/pii_report.json").read_text())
    cfg = ScrubPiiConfig()
    mark = {
        "entity_type": "MEDICAL_RECORD_NUMBER",
        "operator": "placeholder",
        "recognizer": "ClinicalMedicalRecordNumberRecognizer",
        "score": 0.85,
        "text": "<MEDICAL_RECORD_NUMBER>",
    }
    context = [mark if i % 2 else {"text": " wordword "} for i in range(4 * CONTEXT_WORDS + 1)]
    example = {
        "id": "0" * 16,
        "source": "data/raw/default/clinical_extraction.jsonl",
        "profile": "clinical",
        "replacements": 40,
        "snippets": [{"field": "messages[1] (user)", "context": context}] * TYPE_SNIPPETS,
    }
    r["by_entity_type"] = {
        "examples_per_type": cfg.report_examples_per_type,
        "ids_per_type": cfg.report_ids_per_type,
        "types": {
            t: {
                "records": sum(per.values()),
                "ids": [
                    f"{i:016x}" for i in range(min(sum(per.values()), cfg.report_ids_per_type))
                ],
                "examples": [example] * cfg.report_examples_per_type,
            }
            for t, per in r["entities_by_type_and_field"].items()
        },
    }
    return r


def _audit_at_the_bounds(when: str) -> dict:
    """The committed default run's audit (its findings) with the records behind every failing
    or inconclusive finding at the default bounds: every id listed, every sample record full
    in each field, half of them augmented children on the after audit."""
    r = json.loads((ROOT / f"audits/audit_{when}.json").read_text())
    cfg = AuditDataConfig()
    r["drill"] = {k: getattr(cfg, k) for k in drill.BOUNDS}
    field = {"text": "x" * cfg.report_text_chars, "chars_left_out": 99}
    split = "synthetic" in r
    for f in r["findings"]:
        t = drill.target(r, f["check"]) if f["verdict"] in drill.DRILLED else None
        if t is None:
            continue
        count = 2 * cfg.report_ids
        f |= {
            "attribute": t["attribute"],
            "group": t["group"],
            "record_count": count,
            "record_ids": [f"{i:016x}" for i in range(cfg.report_ids)],
            "sample": [
                {
                    "id": f"{i:016x}",
                    "augmented": split and i % 2 == 1,
                    "parent_id": f"{i + 1:016x}" if split and i % 2 == 1 else None,
                    "op": "counterfactual" if split and i % 2 == 1 else None,
                    "fields": [{"field": n, **field} for n in drill.SAMPLE_FIELDS],
                }
                for i in range(cfg.report_examples)
            ],
        }
        if split:
            f |= {"original": count // 2, "augmented": count - count // 2}
    return r


def _render(page: str) -> str:
    if page == "clean":
        return render_clean(_clean_at_the_bounds())
    if page == "pii":
        return render_pii(_pii_at_the_bounds())
    if page == "audit_before":
        return render_audit(_audit_at_the_bounds("before"))
    return render_audit(_audit_at_the_bounds("after"), _audit_at_the_bounds("before"))


@pytest.mark.parametrize("page", ["clean", "pii", "audit_before", "audit_after"])
def test_each_page_stays_under_the_budget_on_the_default_data(page):
    html_ = _render(page)
    assert 'class="drill-filter"' in html_
    if page.startswith("audit"):  # every finding at the bounds: the ids of each listed
        assert html_.count(f"{AuditDataConfig().report_ids} listed, of") >= 10
    assert len(html_.encode("utf-8")) < BUDGET
