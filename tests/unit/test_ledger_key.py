"""The ledger's value normalisation (provena.ledger_key): which typed forms find a value."""

import pytest

from provena.ledger_key import (
    TrainingText,
    candidate_strings,
    ledger_hash,
    lookup_hashes,
    matches,
    normalise,
)

KEY = b"k"


@pytest.mark.parametrize(
    ("value", "entity_type", "form"),
    [
        ("Thomas Lopez", "PERSON", "lopez thomas"),
        ("LOPEZ, THOMAS", "PERSON", "lopez thomas"),
        ("  thomas\tLÓPEZ ", "PERSON", "lopez thomas"),
        ("O'Brien-Smith, Ann", "PERSON", "ann brien o smith"),
        ("(555) 123-4567", "PHONE_NUMBER", "5551234567"),
        ("555.123.4567", "PHONE_NUMBER", "5551234567"),
        ("MRN 12345", "MEDICAL_RECORD_NUMBER", "mrn 12345"),
        ("12-Nov-1993", "DATE_TIME", "12 nov 1993"),
        ("Ann.Lee@Example.com", "EMAIL_ADDRESS", "ann lee example com"),
        ("12 Old Mill Lane", "STREET_ADDRESS", "12 old mill lane"),
        ("--", "PERSON", "--"),
    ],
)
def test_normalise(value, entity_type, form):
    assert normalise(value, entity_type) == form


def test_a_typed_value_matches_an_entry_only_in_the_form_of_its_type():
    person = ledger_hash(KEY, "Thomas Lopez", "PERSON")
    place = ledger_hash(KEY, "Lopez Thomas", "LOCATION")  # word order kept: not a name
    assert matches(lookup_hashes(KEY, "LOPEZ, THOMAS"), person, "PERSON")
    assert matches(lookup_hashes(KEY, "lopez thomas"), place, "LOCATION")
    assert not matches(lookup_hashes(KEY, "Thomas Lopez"), place, "LOCATION")
    assert not matches(lookup_hashes(KEY, "Thomas Lopes"), person, "PERSON")
    assert not matches(lookup_hashes(b"other key", "Thomas Lopez"), person, "PERSON")


def test_candidate_strings_are_detected_spans_and_word_windows_stripped_of_punctuation():
    got = candidate_strings("Hi, (Ann Lee) called: 555 0172.", ["Ann Lee"], max_words=2)
    assert {"Ann Lee", "Lee", "called", "555 0172", "Hi", "Hi, (Ann"} <= got
    assert "Hi, (Ann Lee)" not in got  # three words: over max_words
    assert candidate_strings("a b x", [], max_words=1) == set()  # single characters left out


@pytest.mark.parametrize(
    ("value", "found"),
    [("ann lee", True), ("ANN LEE", True), ("Lee", True), ("nn le", False), ("lee2", False)],
)
def test_training_text_finds_a_value_between_word_boundaries_only(value, found):
    text = TrainingText(["Call Ann Lee, lee2x at home.", "nothing here"])
    assert text.contains(value) is found
