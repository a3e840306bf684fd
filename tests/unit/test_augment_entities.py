"""augment's entity swaps run NER once per chunk, and only on the texts a swap can change: the
children are the same as when every text went through NER on its own (the code before)."""

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
    cfg = AugmentConfig(entity_swap_rate=0.2, noise_rate=0.05, max_new_share=3.0)
    new = _run(tmp_path, inp, "new", cfg)
    monkeypatch.setattr(cfm.Counterfactual, "entity_swap_many", _one_by_one)
    old = _run(tmp_path, inp, "old", cfg)
    assert new == old
    ops = [json.loads(line)["rule"] for line in new[1].decode().splitlines()]
    assert "entity_swap" in ops and any(op.startswith("counterfactual:age_band") for op in ops)
