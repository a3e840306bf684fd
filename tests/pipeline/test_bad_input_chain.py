"""Bad input through the whole curation chain (issue 9, point 1): every recoverable folder of
the bad-input table (tests/helpers/bad_input.py), beside the tiny default dataset, goes through
ingest -> scrub_pii -> clean -> validate -> audit_data -> augment -> split in one process, and
each stage's books must balance: records in = kept + quarantined.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from provena import ingest
from provena.io import read_jsonl, read_records
from tests.helpers.bad_input import (
    CASES,
    DUP,
    HEBREW,
    META_OUT,
    PARAMS,
    PERSIAN,
    RECOVERABLE,
    ZWJ_FAMILY,
    Case,
    write_case,
)

pytestmark = pytest.mark.pipeline  # about 80 s on two shared cores


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
    # every record in is kept under its id or quarantined under it: scrubbing changes the text
    # but keeps the id, and no stage makes a record up (ids as multisets: exact duplicates
    # share one)
    ids_in = Counter(r["id"] for r in _rows(chain.interim(prev)))
    ids_out = Counter(r["id"] for r in _rows(chain.interim(stage)))
    assert ids_out + Counter(q["id"] for q in quarantine) == ids_in


def test_chain_clean_quarantines_the_duplicate_copy_and_keeps_scripts_intact(chain):
    quarantine = chain.quarantine("clean")
    dup = [q for q in quarantine if q["record"]["source"] == "data/raw/duplicate-content/a.jsonl"]
    assert [(q["rule"], q["record"]["output"]) for q in dup] == [("exact_duplicate", DUP)]
    assert sum(r["output"] == DUP for r in _rows(chain.interim("clean"))) == 1
    kept = {r["output"] for r in _rows(chain.interim("clean"))}
    for text in (f"{PERSIAN} {ZWJ_FAMILY}", HEBREW):
        assert text in kept or any(q["record"]["output"] == text for q in quarantine)


def test_chain_validate_and_audits_see_every_kept_record(chain):
    kept = chain.metrics("clean")["records_kept"]
    verdict = json.loads((chain.tmp / "reports" / "validation_verdict.json").read_text())
    assert verdict["dataset"]["records"] == kept
    assert chain.metrics("audit_data_before")["records"] == kept
    augment = chain.metrics("augment")
    assert chain.metrics("audit_data_after")["records"] == augment["records_out"]


def test_chain_augment_counts_what_it_adds(chain):
    m = chain.metrics("augment")
    assert m["records_in"] == m["records_kept"] == chain.metrics("clean")["records_kept"]
    assert m["records_out"] == m["records_in"] + m["records_added"]
    added = [e for e in chain.ledger("augment") if e["action"] == "added"]
    assert len(added) == m["records_added"] == sum(m["added_by_op"].values())
    assert len(_rows(chain.interim("augment"))) == m["records_out"]


def test_chain_split_keeps_its_own_books(chain):
    from provena import split

    m = chain.metrics("split")
    assert m["records_in"] == chain.metrics("augment")["records_out"]
    assert m["records_in"] == m["records_kept"] + m["records_quarantined"]
    planted = m.get("canaries", {}).get("planted_records", 0)
    assert m["records_in"] == m["records_out"] - planted + m["records_dropped"]
    # dropped: only augmented records whose parent is in an evaluation split
    assert m["records_dropped"] == m["augmented"]["dropped_with_eval_parent"]
    assert m["quarantined_by_rule"] == (
        {"augmented_in_evaluation": m["records_dropped"]} if m["records_dropped"] else {}
    )
    written = {
        s: len(_rows(chain.tmp / "data" / "processed" / f"{s}.parquet")) for s in split.ALL_SPLITS
    }
    assert written == m["records"] and sum(written.values()) == m["records_out"]


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
