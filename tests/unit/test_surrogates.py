"""Surrogates read naturally: dates in any common format come back as real dates in the same
format and case; relative dates are kept; words are never scrambled into letter soup."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from provena import scrub_pii
from provena.config import ScrubPiiConfig
from provena.lexicon import english_zipf
from provena.pii.engine import Detection
from provena.pii.operators import Anonymizer, Surrogates, _faker_lists
from tests.factory import record

KEY = b"test-key"
S = Surrogates(KEY)

# (value, strptime format the surrogate must parse back with)
DATES = [
    ("November 12, 1993", "%B %d, %Y"),
    ("NOVEMBER 12, 1993", "%B %d, %Y"),
    ("november 12, 1993", "%B %d, %Y"),
    ("Nov 12, 1993", "%b %d, %Y"),
    ("Nov 12 1993", "%b %d %Y"),
    ("NOV 15 2025", "%b %d %Y"),
    ("12-Nov-1993", "%d-%b-%Y"),
    ("20-NOV-1983", "%d-%b-%Y"),
    ("15-May-1943", "%d-%b-%Y"),
    ("May 07, 2025", "%B %d, %Y"),
    ("May 31 2002", "%b %d %Y"),
    ("12 November 1993", "%d %B %Y"),
    ("11/13/1993", "%m/%d/%Y"),
    ("11/13/93", "%m/%d/%y"),
    ("01/20/26", "%m/%d/%y"),
    ("13/11/1993", "%d/%m/%Y"),
    ("13.11.1993", "%d.%m.%Y"),
    ("2024-11-28", "%Y-%m-%d"),
    ("2024-11-28 14:05:00", "%Y-%m-%d %H:%M:%S"),
    ("March 2019", "%B %Y"),
    ("Tuesday, March 5, 2024", "%A, %B %d, %Y"),
    ("10:30 AM", "%I:%M %p"),
    ("9:05 pm", "%I:%M %p"),
    ("23:40", "%H:%M"),
    ("DOB: November 12, 1993", "DOB: %B %d, %Y"),
    ("DOB January 16, 1988", "DOB %B %d, %Y"),
    ("VISIT DATE: 06/27/24", "VISIT DATE: %m/%d/%y"),
    ("DATE OF BIRTH: 07/21/1979", "DATE OF BIRTH: %m/%d/%Y"),
    ("February 16, 2002   Date", "%B %d, %Y   Date"),
    ("1951-06-27   Date", "%Y-%m-%d   Date"),
    ("April 14, 2024\n\nS", "%B %d, %Y\n\nS"),
]


def _skeleton(text: str) -> str:
    return re.sub(r"\d", "0", re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", text)))


def _letters_case(text: str) -> str:
    letters = "".join(c for c in text if c.isalpha())
    return "upper" if letters.isupper() else "lower" if letters.islower() else "mixed"


@pytest.mark.parametrize(("value", "fmt"), DATES)
def test_a_date_comes_back_as_a_real_date_in_the_same_format(value, fmt):
    fake = S("DATE_TIME", value)
    parsed = dt.datetime.strptime(fake, fmt)  # a real date, same format
    assert fake != value
    assert S("DATE_TIME", value) == fake == Surrogates(KEY)("DATE_TIME", value)  # consistent
    assert _letters_case(fake) == _letters_case(value)
    if not re.search("%[BAI]", fmt):  # fixed-width formats: the same skeleton
        assert _skeleton(fake) == _skeleton(value)
    if "%Y" in fmt or "%y" in fmt:  # a plausible year: a shift of days, not centuries
        assert abs(parsed.year - dt.datetime.strptime(value, fmt).year) <= 2
    if "%A" in fmt:  # the weekday is the new date's
        assert fake.split(",")[0] == parsed.strftime("%A")


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("Nov. 12th, 1993", r"[A-Z][a-z]{2}\. \d\d?(st|nd|rd|th), (1993|1994|1992)"),
        ("NOV. 12TH, 1993", r"[A-Z]{3}\. \d\d?(ST|ND|RD|TH), (1993|1994|1992)"),
        ("Sept. 3, 2021", r"[A-Z][a-z]{2,3}\. \d\d?, 20(20|21|22)"),
        ("the 3rd of March, 2020", r"the \d\d?(st|nd|rd|th) of [A-Z][a-z]+, 20(19|20|21)"),
        ("10 AM", r"\d\d? [AP]M"),
        ("10:30 a.m.", r"\d\d?:\d\d [ap]\.m\."),
        (
            "in March",
            r"in (January|February|April|May|June|July|August|September|October|"
            r"November|December)",
        ),
        ("05 1963   Date", r"\d\d 196[234]   Date"),
        ("2024", r"202[35]"),
    ],
)
def test_partial_and_ordinal_dates_keep_their_shape(value, pattern):
    fake = S("DATE_TIME", value)
    assert fake != value and re.fullmatch(pattern, fake), fake


def test_the_same_date_in_two_formats_gets_the_same_fake_day():
    a = dt.datetime.strptime(S("DATE_TIME", "11/13/1993"), "%m/%d/%Y")
    b = dt.datetime.strptime(S("DATE_TIME", "Nov 13, 1993"), "%b %d, %Y")
    c = dt.datetime.strptime(S("DATE_TIME", "DOB: 1993-11-13"), "DOB: %Y-%m-%d")
    assert a == b == c


def test_dates_in_one_value_keep_their_interval():
    fake = S("DATE_TIME", "February 02, 2025  Discharged: Feb 10 2025")
    m = re.fullmatch(r"(\w+ \d\d, \d{4})  Discharged: (\w{3} \d\d \d{4})", fake)
    assert m, fake
    admitted = dt.datetime.strptime(m.group(1), "%B %d, %Y")
    discharged = dt.datetime.strptime(m.group(2), "%b %d %Y")
    assert (discharged - admitted).days == 8


@pytest.mark.parametrize(
    "value",
    [
        "Date",
        "last Tuesday",
        "LAST TUESDAY",
        "last Tuesday ago",
        "a week ago",
        "two weeks ago",
        "yesterday",
        "today",
        "Friday",
        "this morning",
        "41 YEAR OLD MAN PRESENTING WITH DECREASED APPETITE",  # an age: kept like AGE
    ],
)
def test_a_relative_or_vague_date_is_kept(value):
    assert S("DATE_TIME", value) == value


def test_a_name_inside_a_date_value_is_replaced_by_a_name():
    first, last, *_ = _faker_lists()
    fake = S("DATE_TIME", "March 21, 2024\n\nDear Dr. Kelly")
    m = re.fullmatch(r"\w+ \d\d, \d{4}\n\nDear Dr\. (\w+)", fake)
    assert m and m.group(1) != "Kelly" and m.group(1) in first + last, fake
    assert m.group(1) == S("PERSON", "Kelly")  # the same fake as the person elsewhere


# values detected in the default dataset that the old fallback scrambled into letter soup
REAL_VALUES = [
    ("DATE_TIME", "February 16, 2002   Date"),
    ("DATE_TIME", "DOB: April 14, 1938"),
    ("DATE_TIME", "VISIT DATE: 06/27/24"),
    ("DATE_TIME", "June 03, 2024  Discharged"),
    ("DATE_TIME", "DECEMBER 15, 2024\n\nDEAR DR"),
    ("DATE_TIME", "July 26, 1960, MR# MR804711), a 65"),
    ("DATE_TIME", "March 20, 2025\n\nS: 61yo M"),
    ("DATE_TIME", "June 12, 2024\nPhone"),
    ("DATE_TIME", "13 2026  Discharged: Jun 14 2026"),
    ("DATE_TIME", "1850 Washington Avenue\nKansas City, MO 64145"),
    ("DATE_TIME", "1977 Peachtree Lane\nMesa, AZ 85213"),
    ("DATE_TIME", "address to 2014 Franklin Blvd, Austin, TX 78797"),
    ("DATE_TIME", "Card ending 1834"),
    (
        "DATE_TIME",
        "14 2025  DISCHARGED: NOV 15 2025\nHOME ADDRESS:\n849 FAIRVIEW LN\nPORTLAND, OR 97241",
    ),
    (
        "DATE_TIME",
        "AUGUST 03, 2024  DISCHARGED: AUGUST 10, 2024\nHOME ADDRESS:\n3563 ELM WAY SUITE 15\n"
        "OMAHA, NE 68171",
    ),
    ("DATE_TIME", "58-YEAR-OLD MALE ADMITTED WITH DECREASED APPETITE"),
    ("ZIP_CODE", "62704"),
    ("MEDICAL_RECORD_NUMBER", "MR804711"),
    ("ID", "Patient Jones 1234"),
    ("EMAIL_ADDRESS", "john smith at work"),
    ("PERSON", "DIZZINESS ON STANDING"),
]


def _known_words() -> set[str]:
    first, last, cities, streets, companies = _faker_lists()
    words = {w.lower() for pool in (first, last, streets, companies) for w in pool}
    return words | {w.lower() for c in cities for w in c.split()}


@pytest.mark.parametrize(("entity", "value"), REAL_VALUES)
def test_no_surrogate_is_letter_soup(entity, value):
    fake = S(entity, value)
    assert fake != value
    known, original = _known_words(), {w.lower() for w in re.findall(r"[A-Za-z]+", value)}
    for word in re.findall(r"[A-Za-z]{3,}", fake):
        low = word.lower()
        assert low in original or low in known or english_zipf(low) >= 1.0, (word, fake)
    assert re.sub(r"\d", "0", fake).count("0") == re.sub(r"\d", "0", value).count("0")


@pytest.mark.parametrize(
    ("entity", "value", "pattern"),
    [
        ("MEDICAL_RECORD_NUMBER", "AB12345", r"[A-Z]{2}\d{5}"),  # ID letters stay letters
        ("ID", "ABC-12345", r"[A-Z]{3}-\d{5}"),
        ("ZIP_CODE", "62704", r"\d{5}"),
        ("ZIP_CODE", "62704-1234", r"\d{5}-\d{4}"),
        ("PHONE_NUMBER", "(555) 123-4567", r"\(\d{3}\) \d{3}-\d{4}"),
        ("ID", "Patient Jones 1234", r"Patient [A-Z][a-z]+ \d{4}"),  # a name stays a name
        ("ID", "Date", r"<ID>"),  # ordinary words only: nothing to fake
    ],
)
def test_the_shape_fallback_keeps_formats_and_words(entity, value, pattern):
    fake = S(entity, value)
    assert fake != value and re.fullmatch(pattern, fake), fake
    if entity == "ID" and "Jones" in value:
        assert "Jones" not in fake


def test_date_surrogates_differ_across_keys():
    value = "DOB: November 12, 1993"
    assert Surrogates(b"k1")("DATE_TIME", value) != Surrogates(b"k2")("DATE_TIME", value)


def test_a_kept_relative_date_does_not_trip_the_residual_scan():
    """The residual scan looks for the original value in the text left outside the replaced
    spans; a surrogate equal to its value sits inside its span, so the record is kept."""
    cfg = ScrubPiiConfig().model_copy(
        update={"operators": {"default": "placeholder", "DATE_TIME": "surrogate"}}
    )
    text = "Dizziness since last Tuesday; seen last Tuesday and on 03/14/2024."
    spans = [
        Detection(m.start(), m.end(), "DATE_TIME", 0.85, "test")
        for m in re.finditer(r"last Tuesday|03/14/2024", text)
    ]
    anonymizer = Anonymizer(cfg.operators, key=KEY, salt=None)
    scrubber = SimpleNamespace(  # a Scrubber whose detector finds `spans` in every text
        cfg=cfg,
        key=KEY,
        labels=frozenset(),
        profile_of=lambda source: cfg.profile,
        detect=lambda texts, profiles: [list(spans) for _ in texts],
        detect_with_near=lambda texts, profiles: (
            [list(spans) for _ in texts],
            [[] for _ in texts],
        ),
        spans=lambda dets: scrub_pii.merge_spans(dets, operator_for=anonymizer.operator_for),
        anonymizer=anonymizer,
    )
    rec = record(id="r1", source="test", instruction="", input=text, output="")
    result = scrub_pii.scrub_batch([rec], scrubber)
    assert result.detail.residual_records == 0 and len(result.kept) == 1
    out = result.kept[0]["input"]
    assert out.startswith("Dizziness since last Tuesday; seen last Tuesday and on ")
    assert "03/14/2024" not in out


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("LOCATION", "St. Joseph's Regional Hospital\n01/18/25\n\n"),
        ("ORGANIZATION", " Acme Corp\n"),
        ("LOCATION", "Denver"),
    ],
)
def test_a_span_keeps_the_space_around_it(entity, value):
    fake = S(entity, value)
    lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()) :]
    assert fake.startswith(lead) and fake.endswith(trail) and fake.strip() != value.strip()
    assert S(entity, value.strip()) == fake.strip()  # the same fake with or without the space


@pytest.mark.parametrize(
    ("bare", "possessive"),
    [("Gallo", "Gallo's"), ("Gallo", "Gallo’s"), ("GALLO", "GALLO'S"), ("Jones", "Jones'")],
)
def test_a_possessive_gets_the_surrogate_of_its_name(bare, possessive):
    suffix = possessive[len(bare) :]
    assert S.person(possessive) == S.person(bare) + suffix
    assert S.person(f"Ann {possessive}") == S.person(f"Ann {bare}") + suffix
