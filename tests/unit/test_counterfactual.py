"""Counterfactual rewrites: golden before/after tables for the gender swap, properties for the
entity swap and noise, and the sex-specific ICD-10 prefixes against the dataset's code table."""

from __future__ import annotations

import json
import re

import pytest

from provena.counterfactual import (
    SEX_SPECIFIC_ICD10,
    Counterfactual,
    icd10_sex,
    sex_specific,
)
from provena.lexicon.gendered import NEUTRAL_NAMES
from provena.synth.icd10 import ICD10


@pytest.fixture(scope="module")
def cf() -> Counterfactual:
    return Counterfactual(seed=0)


def _female_only() -> frozenset[str]:
    from faker.providers.person.en_US import Provider

    return frozenset(Provider.first_names_female) - frozenset(Provider.first_names_male)


def _male_only() -> frozenset[str]:
    from faker.providers.person.en_US import Provider

    return frozenset(Provider.first_names_male) - frozenset(Provider.first_names_female)


# --- gender swap: golden text --------------------------------------------------------------

BINARY = [
    # pronouns resolved by part of speech
    ("I gave her the book.", "male", "I gave him the book."),
    ("Her book is red.", "male", "His book is red."),
    ("The book is his.", "female", "The book is hers."),
    ("His book is red.", "female", "Her book is red."),
    ("The book is hers.", "male", "The book is his."),
    ("I told her that his car was hers.", "male", "I told him that her car was his."),
    # ALL CAPS, and the people around the person mirrored with them
    (
        "HE REPORTS CHEST PAIN. HIS WIFE DROVE HIM.",
        "female",
        "SHE REPORTS CHEST PAIN. HER HUSBAND DROVE HER.",
    ),
    (
        "He says his brother and his father came.",
        "female",
        "She says her sister and her mother came.",
    ),
    ("Mrs. Lee called; her son is with her.", "male", "Mr. Lee called; his daughter is with him."),
    (
        "Thank you for seeing Ms. Bennett, a 63-year-old woman. She has had back pain.",
        "male",
        "Thank you for seeing Mr. Bennett, a 63-year-old man. He has had back pain.",
    ),
    (
        "She thanked the gentleman and his girlfriend.",
        "male",
        "He thanked the lady and her boyfriend.",
    ),
    ("Her grandson, nephew and uncle", "male", "His granddaughter, niece and aunt"),
    ("an uncle visited", "female", "an aunt visited"),
    ("Yes, sir.", "female", "Yes, ma'am."),
    ("Dear Sir,", "female", "Dear Madam,"),
    ("Dear Madam,", "male", "Dear Sir,"),
    ("He's here; the wife's car.", "female", "She's here; the husband's car."),
    # male/female and the JSON output; word boundaries ('female' never becomes 'fefemale')
    ("The patient is a 63-year-old female.", "male", "The patient is a 63-year-old male."),
    ("The patient is a 40-year-old male.", "female", "The patient is a 40-year-old female."),
    ("MALE AND FEMALE", "female", "FEMALE AND MALE"),
    (
        '{"age": 31, "sex": "male", "icd10": ["J20.9"]}',
        "female",
        '{"age": 31, "sex": "female", "icd10": ["J20.9"]}',
    ),
    (
        '{"age": 63, "sex": "female", "icd10": ["K59.00"]}',
        "male",
        '{"age": 63, "sex": "male", "icd10": ["K59.00"]}',
    ),
    # age/sex shorthand of clinical notes, not a temperature
    ("S: 51M here for follow-up. T 99 F.", "female", "S: 51F here for follow-up. T 99 F."),
    ("HPI: 80yo M presenting with cough.", "female", "HPI: 80yo F presenting with cough."),
    ("HPI: 31 Y/O F, T 101.3 F", "male", "HPI: 31 Y/O M, T 101.3 F"),
    # names that stay: surnames, companies, places, placeholders, common words
    ("Mr. Scott is here.", "female", "Ms. Scott is here."),
    ("Attending: Dr. Scott.", "female", "Attending: Dr. Scott."),
    ("Russell and Sons shipped it.", "female", "Russell and Sons shipped it."),
    ("Flights to San Francisco.", "female", "Flights to San Francisco."),
    ("Contact <PERSON> at <EMAIL>.", "female", "Contact <PERSON> at <EMAIL>."),
    ("Amazing grace, and I will mark it.", "male", "Amazing grace, and I will mark it."),
    ("Dr. Amy King", "male", None),  # King is a surname here (checked below)
    # nothing gendered: unchanged
    (
        "Nothing gendered here: order <ID> shipped.",
        "male",
        "Nothing gendered here: order <ID> shipped.",
    ),
    ("Human manifests manners in Manchester.", "female", "Human manifests manners in Manchester."),
    ("The femur and the malleolus are intact.", "male", "The femur and the malleolus are intact."),
    (
        'Return JSON: {"age": int, "sex": "female"|"male", "icd10": [str]}.',
        "male",
        'Return JSON: {"age": int, "sex": "female"|"male", "icd10": [str]}.',
    ),
    ('sex ("female" or "male")', "female", 'sex ("female" or "male")'),
]

NONBINARY = [
    ("She reports cough and denies fever.", "They report cough and deny fever."),
    ("He is tired. She was tired.", "They are tired. They were tired."),
    ("He has a cough and is worried.", "They have a cough and are worried."),
    ("He's been sick and she doesn't smoke.", "They've been sick and they don't smoke."),
    ("She isn't here. He wasn't either.", "They aren't here. They weren't either."),
    ("Does she smoke? Is he ok?", "Do they smoke? Are they ok?"),
    ("She also reports nausea.", "They also report nausea."),
    ("She reports that her son is worried.", "They report that their child is worried."),
    (
        "HE REPORTS ONSET A WEEK AGO. HIS WIFE DROVE HIM.",
        "THEY REPORT ONSET A WEEK AGO. THEIR SPOUSE DROVE THEM.",
    ),
    ("I told her that his car was hers.", "I told them that their car was theirs."),
    ("He did it himself; she did it herself.", "They did it themself; they did it themself."),
    (
        "Thank you for seeing Mr. Vaughan, a 31 year old man.",
        "Thank you for seeing Mx. Vaughan, a 31 year old person.",
    ),
    ("MS. BENNETT IS A 63 Y/O WOMAN.", "MX. BENNETT IS A 63 Y/O PERSON."),
    (
        "The 40-year-old male patient has an uncle.",
        "The 40-year-old nonbinary patient has a relative.",
    ),
    ("The patient is a 63-year-old female.", "The patient is a 63-year-old person."),
    ("Her husband and her daughter", "Their spouse and their child"),
    # the schema knows female and male only: the JSON value stays
    ('{"age": 31, "sex": "male", "icd10": []}', '{"age": 31, "sex": "male", "icd10": []}'),
    ("Nothing gendered here.", "Nothing gendered here."),
]


@pytest.mark.parametrize(("text", "target", "expected"), [c for c in BINARY if c[2]])
def test_gender_swap_binary(cf, text, target, expected):
    assert cf.gender_swap(text, target, key="k") == expected


@pytest.mark.parametrize(("text", "expected"), NONBINARY)
def test_gender_swap_nonbinary(cf, text, expected):
    assert cf.gender_swap(text, "nonbinary", key="k") == expected


def test_unchanged_text_is_the_same_object_value(cf):
    text = "Please reset the password for order <ID>."
    for target in ("female", "male", "nonbinary"):
        assert cf.gender_swap(text, target, key="k") == text


# --- gender swap: names ---------------------------------------------------------------------


def test_first_name_becomes_one_of_the_target_gender(cf):
    out = cf.gender_swap("Dear Jasmin,\n\nThanks.", "male", key="r1")
    name = re.match(r"Dear (\w+),", out).group(1)
    assert name != "Jasmin" and name in _male_only()
    out = cf.gender_swap("Hi Darius,", "female", key="r1")
    assert re.match(r"Hi (\w+),", out).group(1) in _female_only()


def test_name_is_consistent_within_a_record_and_surname_kept(cf):
    text = "Cheers,\nJasmin Hunter\njasmin777@inboxly.com"
    out = cf.gender_swap(text, "male", key="r7")
    name = out.split("\n")[1].split()[0]
    assert name in _male_only()
    assert out == f"Cheers,\n{name} Hunter\n{name.lower()}777@inboxly.com"
    # another field of the same record (same key) gets the same name
    assert cf.gender_swap("Dear Jasmin,", "male", key="r7") == f"Dear {name},"


def test_names_are_deterministic_by_key(cf):
    text = "Dear Jasmin,"
    assert cf.gender_swap(text, "male", "a") == Counterfactual(seed=0).gender_swap(
        text, "male", "a"
    )
    outs = {cf.gender_swap(text, "male", key=str(k)) for k in range(20)}
    assert len(outs) > 5  # the key picks the name


def test_all_caps_name_keeps_case(cf):
    out = cf.gender_swap("ATTENDING: DR. BRENT WALTER", "female", key="k")
    m = re.fullmatch(r"ATTENDING: DR\. ([A-Z]+) WALTER", out)
    assert m and m.group(1).capitalize() in _female_only()


def test_nonbinary_names_are_neutral(cf):
    out = cf.gender_swap("Dear Jasmin,\nRegards,\nBrent", "nonbinary", key="k")
    a, b = re.fullmatch(r"Dear (\w+),\nRegards,\n(\w+)", out).groups()
    assert a in NEUTRAL_NAMES and b in NEUTRAL_NAMES


def test_wordlike_names_need_a_name_context(cf):
    assert cf.gender_swap("Dear Grace,", "male", key="k") != "Dear Grace,"
    assert cf.gender_swap("There is a grace period.", "male", key="k") == "There is a grace period."
    assert cf.gender_swap("Thanks,\nHunter", "female", key="k") != "Thanks,\nHunter"


def test_gendered_surname_is_kept(cf):
    out = cf.gender_swap("Dr. Amy King", "male", key="k")
    assert out.startswith("Dr. ") and out.endswith(" King") and "Amy" not in out


def test_placeholders_untouched(cf):
    text = "<PERSON> said he would call <PERSON> about his order <ID>."
    out = cf.gender_swap(text, "female", key="k")
    assert out == "<PERSON> said she would call <PERSON> about her order <ID>."


# --- gender swap: batch and errors ---------------------------------------------------------


def test_many_equals_one_by_one(cf):
    texts = [t for t, _, e in BINARY if e] + [t for t, _ in NONBINARY]
    targets = [g for _, g, e in BINARY if e] + ["nonbinary"] * len(NONBINARY)
    keys = [f"k{i}" for i in range(len(texts))]
    assert cf.gender_swap_many(texts, targets, keys) == [
        cf.gender_swap(t, g, k) for t, g, k in zip(texts, targets, keys, strict=True)
    ]


def test_bad_arguments(cf):
    with pytest.raises(
        ValueError, match="unknown gender target 'woman': use one of female, male, nonbinary"
    ):
        cf.gender_swap("he", "woman", key="k")
    with pytest.raises(ValueError, match=r"texts, targets and keys differ in length \(2, 1, 2\)"):
        cf.gender_swap_many(["a", "b"], ["male"], ["k", "l"])


def test_nlp_pipeline(cf):
    assert "tagger" in cf.nlp.pipe_names and "ner" in cf.nlp.pipe_names
    assert "parser" not in cf.nlp.pipe_names


# --- sex-specific diagnoses ----------------------------------------------------------------


@pytest.mark.parametrize("code", ICD10, ids=lambda c: c.code)
def test_sex_specific_agrees_with_the_code_table(code):
    assert icd10_sex(code.code) == code.sex
    assert sex_specific([code.code]) == (code.sex is not None)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        (["J20.9", "I10"], False),
        ([], False),
        (["O80"], True),  # pregnancy chapter
        (["I10", "N40.0"], True),
        (["Z3A.20"], True),
        (["Z34.90"], True),
        (["R97.20"], True),
        (["C50.911"], True),
        (["C50.921"], True),  # male breast
        (["N39.0"], False),  # UTI: either sex
        (["D50.9"], False),
    ],
)
def test_sex_specific(codes, expected):
    assert sex_specific(codes) is expected


def test_prefix_sexes():
    assert icd10_sex("c50.921") == "male" and icd10_sex("C56.1") == "female"
    assert icd10_sex("N95.1") == "female" and icd10_sex("C61") == "male"
    assert all(p == p.upper() and "." not in p for p in SEX_SPECIFIC_ICD10)


# --- entity swap ----------------------------------------------------------------------------


def test_entity_swap_types_and_consistency(cf):
    from provena.counterfactual import _places

    text = "John Smith flew from Chicago to France for Foster Group. John Smith wrote again."
    out = cf.entity_swap(text, key="k")
    m = re.fullmatch(
        r"(\w+) (\w+) flew from (.+) to (.+) for (\w+) Group\. (\w+) (\w+) wrote again\.", out
    )
    assert m, out
    first, last, city, country, org, first2, last2 = m.groups()
    assert (first, last) == (first2, last2) != ("John", "Smith")
    assert first in _male_only()  # a person's first name keeps its gender
    countries, _, cities = _places()
    assert city in cities and city != "Chicago"
    assert country in countries and country != "France"
    assert org != "Foster"
    assert cf.entity_swap(text, key="k") == out  # deterministic


def test_entity_swap_keeps_placeholders_numbers_and_case(cf):
    text = "<PERSON> lives in Chicago and works for Walters Inc. since 2019, order 4412."
    out = cf.entity_swap(text, key="k")
    assert out.startswith("<PERSON> lives in ") and "Chicago" not in out
    assert re.findall(r"\d+", out) == ["2019", "4412"]
    caps = cf.entity_swap("PATIENT NAME: PRISCILLA REESE\nHOME ADDRESS: 12 MAIN ST", key="k")
    m = re.fullmatch(r"PATIENT NAME: ([A-Z]+) ([A-Z]+)\nHOME ADDRESS: 12 MAIN ST", caps)
    assert m, caps
    assert m.group(1).capitalize() in _female_only() and m.group(2) != "REESE"


def test_entity_swap_without_entities(cf):
    text = "My order <ID> never arrived, please refund $58.90."
    assert cf.entity_swap(text, key="k") == text


# --- noise ----------------------------------------------------------------------------------

LONG = " ".join(
    [
        "The customer reported that the package arrived damaged and requested a replacement.",
        "Our support team confirmed the shipment details and scheduled another delivery.",
        "Please contact <PERSON> at help@example.com or visit https://example.com/orders today.",
        "Patient presents with persistent cough, fever and fatigue for about three weeks.",
    ]
    * 30
)


def test_noise_zero_rates_and_json_unchanged(cf):
    assert cf.noise(LONG, key="k", typo_rate=0.0, case_rate=0.0) == LONG
    js = '{"age": 31, "sex": "male", "icd10": ["J20.9"]}'
    assert cf.noise(js, key="k", typo_rate=1.0, case_rate=1.0) == js


def test_noise_is_deterministic(cf):
    a = cf.noise(LONG, key="k", typo_rate=0.1, case_rate=0.2)
    assert a == cf.noise(LONG, key="k", typo_rate=0.1, case_rate=0.2) != LONG
    assert a != cf.noise(LONG, key="other", typo_rate=0.1, case_rate=0.2)


def test_noise_leaves_protected_tokens(cf):
    out = cf.noise(LONG, key="k", typo_rate=1.0, case_rate=1.0)
    assert out.count("<PERSON>") == LONG.count("<PERSON>")
    assert out.count("help@example.com") == LONG.count("help@example.com")
    assert out.count("https://example.com/orders") == LONG.count("https://example.com/orders")
    short = "the cat sat on a mat 12345"
    assert cf.noise(short, key="k", typo_rate=1.0, case_rate=0.0) == short


def test_noise_typo_rate_is_roughly_kept(cf):
    words = LONG.split()
    eligible = [w for w in words if re.search(r"[A-Za-z]{4,}", w) and not re.search(r"[\d@<>/]", w)]
    out = cf.noise(LONG, key="rate", typo_rate=0.1, case_rate=0.0).split()
    assert len(out) == len(words)
    changed = sum(a != b for a, b in zip(words, out, strict=True))
    assert 0.07 * len(eligible) <= changed <= 0.13 * len(eligible)


def test_noise_typos_are_small(cf):
    from difflib import SequenceMatcher

    out = cf.noise(LONG, key="k", typo_rate=0.5, case_rate=0.0)
    for a, b in zip(LONG.split(), out.split(), strict=True):
        if a != b:
            assert abs(len(a) - len(b)) <= 1 and SequenceMatcher(None, a, b).ratio() >= 0.6


def test_noise_sentence_casing(cf):
    text = "First Sentence Here. Second Sentence Here! Third One?"
    out = cf.noise(text, key="k", typo_rate=0.0, case_rate=1.0)
    for s in re.split(r"(?<=[.!?])\s+", out):
        assert s == s.lower() or s == s[0] + s[1:].lower()


def test_noise_bad_rate(cf):
    with pytest.raises(ValueError, match=re.escape("typo_rate must be between 0 and 1, got 1.5")):
        cf.noise("text", key="k", typo_rate=1.5, case_rate=0.0)


def test_noise_json_detection_is_strict(cf):
    text = "{not json} but words anyway"
    assert cf.noise(text, key="k", typo_rate=1.0, case_rate=0.0) != text
    assert json.loads(cf.noise('["a list"]', key="k", typo_rate=1.0, case_rate=1.0)) == ["a list"]
