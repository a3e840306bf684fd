"""clean's batch language ID gives py3langid's own answers; a batch check, the single ones'."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from provena.clean.filters import Filters
from provena.clean.langid import BatchLangid
from provena.config import CleanConfig
from tests import factory

TEXTS = [
    "Hello everyone, thank you for coming tonight to celebrate our anniversary.",
    "Bonjour à tous, merci d'être venus si nombreux ce soir pour fêter notre anniversaire.",
    "Guten Abend, vielen Dank, dass Sie heute gekommen sind, um mit uns zu feiern.",
    "Hola a todos, gracias por venir esta noche a celebrar nuestro aniversario con nosotros.",
    "Всем привет, спасибо, что пришли сегодня вечером отпраздновать нашу годовщину.",
    "大家好，感谢各位今晚光临，一起庆祝我们的周年纪念。",
    "مرحبا بالجميع، شكرا لحضوركم الليلة للاحتفال بذكرى تأسيسنا.",
    "PATIENT IS A 54 YEAR OLD MALE PRESENTING WITH CHEST PAIN RADIATING TO THE LEFT ARM.",
    "Dear <PERSON>, your order <ORDER_ID> shipped on <DATE_TIME> to <LOCATION>.",
    "",
    "a",
    "12345 67890 !!! ???",
    "Café crème, naïve façade, coöperate: ümlauts and emoji 🎉 in an English sentence.",
    "srpski jezik: Добар дан, како сте? Dobar dan, kako ste danas, prijatelju moj?",
]


SONG = "\n".join(
    [f"Verse {i}: walking down the road {i} at night alone again" for i in range(6)]
    + ["Chorus: oh the night is long and the road goes on forever"] * 6
)


@pytest.fixture(scope="module")
def filters() -> Filters:
    return Filters(CleanConfig())


@pytest.fixture(scope="module")
def batch(filters) -> BatchLangid:
    return filters._batch_langid


@pytest.mark.parametrize("lockstep_min", [0, 4, 10**9])  # all in lockstep, then a tail, none
def test_batch_probabilities_are_py3langids(batch, lockstep_min):
    ident = batch.ident
    texts = TEXTS + [" ".join(TEXTS[: i + 1]) for i in range(len(TEXTS))]  # lengths vary
    got = BatchLangid(ident, lockstep_min).scores([ident._encode(t) for t in texts])
    for text, row in zip(texts, got, strict=True):
        want = ident._decide(text)
        np.testing.assert_allclose(row, want, rtol=0, atol=1e-5, err_msg=repr(text))
        assert ident.nb_classes[int(row.argmax())] == ident.classify(text)[0], text


def test_batch_classify_matches_classify(batch):
    ident = batch.ident
    wanted = [ident.classify(t) for t in TEXTS]
    # the language found accepted: the batch answer stands, to float rounding
    kept = batch.classify(TEXTS, [{lang} for lang, _ in wanted])
    # nothing accepted: every text is classified again, exactly
    again = batch.classify(TEXTS, [set()] * len(TEXTS))
    assert again == [(lang, float(p)) for lang, p in wanted]
    # no language accepted, but every probability too low to act on: the batch answers stand
    unsure = batch.classify(TEXTS, [set()] * len(TEXTS), below=1.01)
    for (lang, p), got, low in zip(wanted, kept, unsure, strict=True):
        for got_lang, got_p in (got, low):
            assert got_lang == lang and got_p == pytest.approx(float(p), abs=1e-5)
    assert batch.classify([], []) == []


def test_check_many_gives_the_single_checks_answers(filters):
    rec = partial(factory.record, source="t.jsonl", input="")
    records = [
        rec(instruction="Tell me about the history of Paris.", output=TEXTS[1]),
        rec(instruction="Translate to German:", input=TEXTS[0], output=TEXTS[1]),
        rec(instruction="Translate to French:", input=TEXTS[0], output=TEXTS[1]),
        rec(instruction="Describe the patient.", output=TEXTS[7]),
        rec(instruction="Write to the customer.", output=TEXTS[8]),
        rec(instruction="Greet the guests.", output=TEXTS[0]),
        rec(instruction="Greet the guests.", output=""),
        rec(instruction="Greet the guests in Russian.", output=TEXTS[4]),
        rec(instruction="Greet the guests.", output=TEXTS[4]),
        rec(instruction="Sell it.", output="Buy now, buy now! " * 30),
        rec(instruction="Write a song.", output=SONG),
        rec(instruction="Write a story.", output=SONG),
        rec(instruction="List the readings.", output=" ".join(f"{i} mg/dL" for i in range(40))),
        rec(instruction="List the readings.", output=" ".join(f"{i} | 7.{i}" for i in range(40))),
    ]
    scrubbed = [False] * len(records)
    scrubbed[4] = True
    singles = [filters.check(r, scrubbed=s) for r, s in zip(records, scrubbed, strict=True)]
    rules = [r[0] if r else None for r in singles]
    assert rules.count("language") >= 3 and {"repetition", "characters", None} <= set(rules)
    assert [got for got, _ in filters.check_many(records, scrubbed)] == singles
    assert [text for _, text in filters.check_many(records, scrubbed)] == [
        filters.text(r) for r in records
    ]
