"""augment's entity swaps. With ``entities: ner`` they run NER once per chunk, and only on the
texts a swap can change: the children are the same as when every text went through NER on its
own (the code before). With ``entities: surrogates`` (the default) they change only what
scrub_pii put in, where its surrogates file says, with no NER."""

from __future__ import annotations

import json

import pytest

from provena import audit_data, augment
from provena import counterfactual as cfm
from provena.config import AugmentConfig
from provena.io import RecordWriter
from provena.lexicon import title_view
from provena.synth import generate
from tests.conftest import load_tiny
from tests.factory import record
from tests.unit.test_augment import ACFG, _records

NER_ONLY = ["tok2vec", "tagger", "attribute_ruler", "lemmatizer"]


def _one_by_one(self, texts, keys):
    """Entity swap as it was: every text through NER, one at a time, nothing left out."""
    out = []
    for text, key in zip(texts, keys, strict=True):
        view = title_view(text) if cfm._mostly_caps(text) else text
        doc = next(iter(self.nlp.pipe([view], disable=NER_ONLY)))
        out.append(self._swap_entities(text, key, doc))
    return out


@pytest.fixture(scope="module")
def synth_texts():
    """Inputs and outputs of the synthetic generator: clinical notes (some ALL-CAPS), their
    JSON extractions, support tickets and replies, with names, places and companies."""
    cfg = load_tiny().synth.model_copy(update={"n_clinical": 60, "n_support": 60})
    ds = generate(cfg)
    texts = [d.fields[f] for d in ds.drafts for f in ("input", "output")]
    return [*texts, "", "all lower case, no name here.", "Hi <PERSON>, see <URL> at 10AM."]


def test_batched_entity_swap_equals_one_text_at_a_time(synth_texts):
    cf = cfm.Counterfactual(seed=0)
    keys = [f"k{i % 7}" for i in range(len(synth_texts))]
    expected = _one_by_one(cf, synth_texts, keys)
    assert cf.entity_swap_many(synth_texts, keys) == expected
    assert sum(a != b for a, b in zip(synth_texts, expected, strict=True)) > 20  # swaps happen


def test_ner_reads_only_texts_a_swap_can_change(synth_texts, monkeypatch):
    cf = cfm.Counterfactual(seed=0)
    read: list[str] = []
    pipe = type(cf.nlp).pipe

    def spy(nlp, docs, **kw):
        for doc in pipe(nlp, docs, **kw):
            read.append(doc.text)
            yield doc

    monkeypatch.setattr(type(cf.nlp), "pipe", spy)
    cf.entity_swap_many(synth_texts, ["k"] * len(synth_texts))
    # JSON extractions (lower-case keys, codes with digits), lower-case and protected-only
    # texts are never read; each distinct text at most once
    assert len(read) == len(set(read))
    jsons = [t for t in synth_texts if cfm._is_json(t)]
    assert jsons and not set(jsons) & set(read)
    for skipped in ("", "all lower case, no name here.", "Hi <PERSON>, see <URL> at 10AM."):
        assert skipped not in read
    assert cfm._may_swap("Hi <PERSON>, from Boston.", cf.nlp.make_doc("Hi <PERSON>, from Boston."))
    assert not cfm._letter_to_swap("see <PERSON> at jane.doe@example.com")
    caps = "PATIENT SEEN IN CLINIC TODAY."
    assert cfm._letter_to_swap(caps) and cfm._may_swap(caps, cf.nlp.make_doc(caps))


def _run(tmp, inp, name, cfg):
    augment.run(
        inp, tmp / "before.json", cfg, ACFG, out=tmp / f"{name}.parquet", ledger=tmp / f"{name}.l"
    )
    return (tmp / f"{name}.parquet").read_bytes(), (tmp / f"{name}.l").read_bytes()


def test_augment_makes_the_same_children_as_one_text_at_a_time(tmp_path, monkeypatch):
    """The whole stage on records with names, places and ALL-CAPS notes: the same parquet
    (ids, texts, order) and ledger as with the one-at-a-time NER."""
    rows = _records(300)
    for i, r in enumerate(rows[:40]):  # a share of ALL-CAPS and JSON texts among them
        caps = r["input"].upper() if i % 2 else r["input"]
        out = json.dumps({"age": 40 + i, "sex": "male", "icd10": ["I10"]}) if i % 3 else r["output"]
        rows[i] = record(**{**r, "input": caps, "output": out})
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(rows)
    audit_data.run(inp, ACFG, when="before", out_json=tmp_path / "before.json")
    cfg = AugmentConfig(entity_swap_rate=0.2, noise_rate=0.05, max_new_share=3.0, entities="ner")
    new = _run(tmp_path, inp, "new", cfg)
    monkeypatch.setattr(cfm.Counterfactual, "entity_swap_many", _one_by_one)
    old = _run(tmp_path, inp, "old", cfg)
    assert new == old
    ops = [json.loads(line)["rule"] for line in new[1].decode().splitlines()]
    assert "entity_swap" in ops and any(op.startswith("counterfactual:age_band") for op in ops)


def test_swap_spans_changes_people_places_and_orgs_at_the_spans_only():
    cf = cfm.Counterfactual(seed=0)
    text = "Dear Maria Lopez, your order from Acme Holdings ships to Springfield. Mozart wrote it."
    spans = [(5, 16, "person"), (34, 47, "org"), (57, 68, "place")]
    out = cf.swap_spans(text, "k", spans)
    assert out.endswith(". Mozart wrote it.")  # no span there: a public name stays
    for a, b, _ in spans:
        assert text[a:b] not in out
    assert cf.swap_spans(text, "k", spans) == out  # keyed: the same swap every run
    assert cf.swap_spans(text, "other", spans) != out
    assert cf.swap_spans(text, "k", [(0, 4, "date"), (5, 16, "")]) == text  # other kinds stay
    caps = "PATIENT MARIA LOPEZ SEEN IN SPRINGFIELD."
    got = cf.swap_spans(caps, "k", [(8, 19, "person"), (28, 39, "place")])
    assert got.isupper() and "MARIA" not in got and "SPRINGFIELD" not in got


def _surrogates_file(path, rows):
    from provena.placed import PlacedWriter

    with PlacedWriter(path) as w:
        w.write(rows)


def test_augment_swaps_only_the_surrogates_scrub_pii_put_in(tmp_path):
    """entity_swap children come only from records with surrogates, and change those spans
    alone: a public name outside them stays as it is."""
    rows = _records(300)
    for i, r in enumerate(rows):
        name = "Maria Lopez" if i % 2 else "Mozart"  # even rows: a public name, no surrogate
        rows[i] = record(**{**r, "input": f"{name} wrote: {r['input']}"})
    inp = tmp_path / "in.parquet"
    with RecordWriter(inp) as w:
        w.write(rows)
    sur = tmp_path / "surrogates.parquet"
    _surrogates_file(
        sur,
        [(r["id"], "input", 0, 11, "PERSON", "surrogate") for i, r in enumerate(rows) if i % 2],
    )
    audit_data.run(inp, ACFG, when="before", out_json=tmp_path / "before.json")
    cfg = AugmentConfig(
        counterfactual=False, entity_swap_rate=0.2, noise_rate=0.0, max_new_share=3.0
    )
    augment.run(
        inp,
        tmp_path / "before.json",
        cfg,
        ACFG,
        out=tmp_path / "out.jsonl",
        ledger=tmp_path / "l.jsonl",
        metrics=tmp_path / "m.json",
        surrogates=sur,
    )
    parents = {r["id"]: (i, r) for i, r in enumerate(rows)}
    kids = [r for r in map(json.loads, (tmp_path / "out.jsonl").open()) if r.get("parent_id")]
    assert len(kids) == round(0.2 * len(rows))  # the rate, drawn from records with surrogates
    for kid in kids:
        i, parent = parents[kid["parent_id"]]
        assert i % 2 and kid["op"] == "entity_swap"
        assert not kid["input"].startswith("Maria Lopez wrote: ")
        rest = parent["input"][11:]
        assert kid["input"].endswith(rest)
    assert json.loads((tmp_path / "m.json").read_text())["skipped_unchanged_by_op"] == {}


def test_a_missing_surrogates_file_is_named(tmp_path):
    from provena.errors import UserError
    from provena.placed import read_placed

    with pytest.raises(UserError, match=r"nope\.parquet: no such file"):
        read_placed(tmp_path / "nope.parquet", fields=["input"], types=["PERSON"])
