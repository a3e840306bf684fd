"""`provena drift`: new raw data through ingest and scrub_pii, compared with the training split.

One small reference for the module: the tiny default dataset through the stage code (ingest,
scrub_pii), written as a train split with augmented children and canaries added, as split
writes them.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from provena import drift, scrub_pii
from provena.cli import main
from provena.config import CanaryConfig
from provena.io import RecordWriter, read_records
from provena.split.canaries import make_canaries
from provena.synth import generate, with_total, write_dataset
from tests.conftest import load_tiny, tiny_ingested, write_tiny_params

CANARIES = CanaryConfig(count=2, repeats=3)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """(folder, argv prefix): a tiny params.yaml, the reference split and its PII ledger."""
    tmp = tmp_path_factory.mktemp("drift")
    params = load_tiny()
    scrubbed, ledger = tmp / "scrub_pii.parquet", tmp / "scrub_pii.jsonl"
    scrub_pii.run(
        tiny_ingested(tmp / "ref"),
        params.scrub_pii,
        out=scrubbed,
        ledger=ledger,
        quarantine=tmp / "scrub_pii.quarantine.jsonl",
        metrics=None,
        report_json=None,
        report_html=None,
    )
    originals = [r for batch in read_records(scrubbed) for r in batch]
    # children as augment writes them: a counterfactual of a parent, with the parent's id
    children = [
        {**r, "id": f"child{i:011d}", "parent_id": r["id"], "op": "counterfactual:gender=female"}
        for i, r in enumerate(originals[:5])
    ]
    canaries = [rec for c in make_canaries(CANARIES) for rec in c.records]
    with RecordWriter(tmp / "train.parquet") as w:
        w.write([*originals, *children, *canaries])
    write_tiny_params(tmp / "params.yaml")
    argv = [
        "--params",
        str(tmp / "params.yaml"),
        "--reference",
        str(tmp / "train.parquet"),
        "--reference-ledger",
        str(ledger),
    ]
    return tmp, argv, len(originals)


def _run(project, data: Path, name: str) -> tuple[int, dict]:
    tmp, argv, _ = project
    out = tmp / f"{name}.json"
    rc = main(["drift", str(data), *argv, "--out", str(out)])
    return rc, json.loads(out.read_text()) if out.is_file() else {}


def test_the_reference_leaves_out_augmented_children_and_canaries(project):
    tmp, _, n_originals = project
    ref = drift.load_reference(tmp / "train.parquet", "train.parquet")
    assert len(ref.records) == n_originals
    assert (ref.children, ref.canaries) == (5, CANARIES.count * CANARIES.repeats)
    assert all(r["parent_id"] is None and r["op"] != "canary" for r in ref.records)
    assert "canary" not in Counter(r["meta"].get("family") for r in ref.records)


def test_same_distribution_data_has_no_drift(project, tmp_path):
    cfg = load_tiny().synth.model_copy(update={"seed": 4242})
    write_dataset(generate(with_total(cfg, 120)), tmp_path / "raw" / "default")
    rc, report = _run(project, tmp_path / "raw", "same")
    assert report["drifted"] == [], {k: f["statistic"] for k, f in report["features"].items()}
    assert rc == 0
    assert report["reference"]["children_left_out"] == 5
    assert report["reference"]["canaries_left_out"] == CANARIES.count * CANARIES.repeats
    assert set(report["features"]) == set(drift.FEATURES)
    html = (project[0] / "same.html").read_text()
    assert 'id="drift-verdict">pass<' in html and '<h2 id="vocabulary">' in html


TOPICS = [
    ("photosynthesis", "plants turn sunlight, water and carbon dioxide into sugar and oxygen"),
    ("a rainbow", "sunlight is refracted and reflected inside raindrops, splitting its colours"),
    ("the stock market", "investors buy and sell shares of companies through exchanges"),
    ("a volcano", "molten rock rises through the crust and erupts as lava and ash"),
    ("the internet", "computers exchange packets of data over connected networks"),
    ("gravity", "every mass attracts every other mass, which keeps planets in orbit"),
    ("democracy", "citizens choose their representatives in free and regular elections"),
    ("a vaccine", "a harmless piece of a germ trains the immune system to recognise it"),
    ("inflation", "prices rise across an economy, so money buys less than before"),
    ("the water cycle", "water evaporates, condenses into clouds and falls again as rain"),
]
ASKS = [
    "Explain {t} to a curious ten-year-old.",
    "What is {t}? Give a short and clear answer.",
    "Write a paragraph for a school encyclopedia about {t}.",
    "Describe {t} in a few sentences, with one everyday example.",
]


@pytest.fixture(scope="module")
def shifted(project, tmp_path_factory):
    """(exit status, report) of a small general-knowledge QA set against the reference."""
    rows = [
        {
            "instruction": ask.format(t=topic),
            "input": "",
            "output": f"In short, {topic} is how {what}. Scientists and teachers often "
            f"describe it with simple pictures, and you can notice it in daily life.",
        }
        for topic, what in TOPICS
        for ask in ASKS
    ]
    data = tmp_path_factory.mktemp("qa") / "qa.json"
    data.write_text(json.dumps(rows))
    return _run(project, data, "shifted")


def test_a_general_knowledge_qa_set_drifts_and_names_the_features(project, shifted):
    rc, report = shifted
    assert rc == 1 and report["drift"]
    assert {"family", "pii", "vocabulary"} <= set(report["drifted"])
    assert report["features"]["family"]["shares"][0]["category"] == "(missing)"
    assert report["features"]["pii"]["new"] < report["features"]["pii"]["reference"]
    html = (project[0] / "shifted.html").read_text()
    assert 'id="drift-verdict">fail<' in html and "Drift in " in html


def _bad_input(tmp: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp / "nowhere"
    if kind == "unknown-columns":  # no shape ingest knows
        path = tmp / "odd.csv"
        path.write_text("foo,bar\n1,2\n")
        return path
    path = tmp / "two.json"  # fewer records than drift.min_records
    path.write_text(json.dumps([{"instruction": "Say hi.", "output": "Hi there, friend."}] * 2))
    return path


@pytest.mark.parametrize(
    "kind, named",
    [("missing", "nowhere"), ("unknown-columns", "odd.csv"), ("too-few-records", "two.json")],
)
def test_bad_input_exits_2_naming_the_file(project, tmp_path, caplog, kind, named):
    data = _bad_input(tmp_path, kind)
    with caplog.at_level(logging.ERROR):
        rc, report = _run(project, data, "bad")
    assert rc == 2 and report == {}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and named in errors[0] and "\n" not in errors[0]


def test_a_missing_reference_exits_2_naming_it(project, tmp_path, caplog):
    _, argv, _ = project
    (tmp_path / "a.json").write_text("[]")
    bad = [*argv[:2], "--reference", str(tmp_path / "gone.parquet"), *argv[4:]]
    with caplog.at_level(logging.ERROR):
        assert main(["drift", str(tmp_path / "a.json"), *bad]) == 2
    assert "gone.parquet" in caplog.text


def test_categorical_test_uses_an_effect_size_not_only_the_p_value():
    big_same = drift.categorical_test(
        Counter(a=50_000, b=50_000), Counter(a=51_000, b=49_000), 0.2, 0.001
    )
    assert big_same["p_value"] < 0.001 and not big_same["drift"]  # significant, but tiny
    moved = drift.categorical_test(Counter(a=500, b=500), Counter(a=100, b=900), 0.2, 0.001)
    assert moved["drift"] and moved["shares"][0]["category"] in {"a", "b"}


def test_the_page_escapes_what_the_data_brings_and_keeps_the_feature_order(project, shifted):
    report = json.loads((project[0] / "shifted.json").read_text())  # keys sorted, as on disk
    report["new"]["inputs"] = "<script>alert(1)</script>"
    report["features"]["vocabulary"]["top_new_words"] = ["<b>bold</b>"]
    html = drift.render_html(report)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    rows = [html.index(f'<td><a href="#{name}">') for name in drift.FEATURES]
    assert rows == sorted(rows)
