"""Recognizers that Presidio lacks and real data needs. Each is general: patterns, context
words and word lists from installed packages, never the values of one dataset.

- :class:`StreetAddressRecognizer`: house-number + street-name cores in many languages, with
  units, P.O. boxes and military addresses, grown over the following city/region/postal-code
  segments, across commas and line breaks.
- :class:`ContextIdRecognizer`: record numbers and other IDs introduced by context words
  (MRN, account, member ID, order, ...).
- :class:`TitledNameRecognizer`: names after titles ("Dr.", "Mrs.", "RN") and before
  credentials (", MD", ", RN"), in any case.
- :class:`AgeRecognizer`, :class:`PostalCodeRecognizer`.
- :class:`ProperNounRecognizer`: names and places spaCy misses, above all in ALL-CAPS text:
  capitalized words found in the name lists of Faker's locales or GeoNames' place names, and
  runs of capitalized words that are rare as English words (wordfreq).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from typing import ClassVar

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import (
    english_zipf,
    is_acronym_not_name,
    is_medical_term,
    mostly_lower,
    mostly_upper,
    name_words,
    place_names,
    title_view,
)

# --------------------------------------------------------------------------- shared pieces

_LETTER = r"[^\W\d_]"
# A word that starts with a capital (any script with case) or is written in capitals.
_CAPWORD = r"(?:[A-ZÀ-ÖØ-ÞĀ-ŽΑ-ΩА-ЯƏ][\w'’.-]*)"
_STREET_SUFFIXES = (
    # English
    "street|st|avenue|ave|av|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|"
    "terrace|ter|parkway|pkwy|highway|hwy|square|sq|alley|circle|cir|crescent|cres|close|row|"
    "trail|trl|path|pike|plaza|walk|hill|grove|gardens|green|mews|park|point|ridge|run|view|"
    "loop|crossing|bypass|expressway|freeway|turnpike|"
    # other languages, as whole words
    "rue|avenida|calle|carrer|rua|via|viale|piazza|strada|ulica|utca|út|tér|straße|strasse|"
    "str|weg|gasse|platz|allee|laan|straat|gracht|plein|gatan|vägen|veien|gata|gade|vej|"
    "katu|tie|kuja|polku|náměstí|ulice|cesta|sokak|caddesi|odos|quadra|travessa|largo|praça|"
    "u|ul|al|avda|av|bd|bvd|ctra|c/|pza|pl|gate|vei|väg|stræde|plads|torv|torg|rd"
)
_SUFFIX_RE = re.compile(rf"^(?:{_STREET_SUFFIXES})\.?$", re.I)
# Street names written as one word ending in a street word: Ringvej, Koskikatu, Hauptstraße.
_FUSED_SUFFIX_RE = re.compile(
    r"\w{3,}(?:vej|gade|gatan|vägen|veien|gata|katu|tie|kuja|straße|strasse|str\.|weg|gasse|"
    r"platz|allee|laan|straat|gracht|plein|utca|ulica|ulice|caddesi|sokak)$",
    re.I,
)
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"
_UNIT = (
    r"(?:apt|apartment|suite|ste|unit|flat|room|rm|floor|fl|bldg|building|dept|#)\.?\s*#?\s*"
    r"[A-Za-z]?\d[\w-]{0,5}"
)
_POBOX = (
    r"(?:p\.?\s?o\.?\s?box|postbox|postfach|apartado|caixa postal|boîte postale|b\.p\.)\s*\d{1,6}"
)
_MILITARY = (
    r"(?i:(?:USNS|USNV|USS|USCGC)\s+[A-Z][\w'-]+|(?:unit|psc|cmr)\s+\d{3,5}(?:,?\s*box\s+\d{3,5})?)"
)
_MILITARY_TAIL = r"(?:FPO|APO|DPO)\s+(?:AA|AE|AP)\s+\d{5}"
_POSTAL = (
    r"(?:\d{5}(?:-\d{4})?|\d{3}[ -]?\d{2}|\d{4,6}|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|"
    r"[A-Z]\d[A-Z]\s?\d[A-Z]\d|\d{2}-\d{3}|\d{5}-\d{3})"
)


def _is_cap(token: str) -> bool:
    return bool(token) and (token[0].isupper() or (token.isupper() and len(token) > 1))


def _result(entity: str, start: int, end: int, score: float, name: str) -> RecognizerResult:
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=None,
        recognition_metadata={},  # the analyzer adds this recognizer's name and id
    )


class _Base(EntityRecognizer):
    ENTITIES: tuple[str, ...] = ()
    SCORE = 0.6

    def __init__(self) -> None:
        super().__init__(
            supported_entities=list(self.ENTITIES),
            name=type(self).__name__,
            supported_language="en",
        )

    def load(self) -> None:
        pass

    def found(
        self, entity: str, start: int, end: int, score: float | None = None
    ) -> RecognizerResult:
        return _result(entity, start, end, self.SCORE if score is None else score, self.name)


# ---------------------------------------------------------------------------- addresses


_TOKEN = re.compile(r"[^\s,;:()\[\]{}<>\"“”]+")
_CORE_WALL = re.compile(r"[:;()\[\]{}]")
#: the particles of street and place names in European languages ("Rue de la Paix", "Via del
#: Corso", "Am Markt"): lower-case words inside a street name (the general profile's address
#: rules extend them)
STREET_PARTICLES = frozenset(
    [
        "de",
        "la",
        "le",
        "du",
        "des",
        "del",
        "della",
        "di",
        "da",
        "do",
        "dos",
        "das",
        "van",
        "von",
        "der",
        "den",
        "am",
        "im",
        "an",
    ]
)
_PARTICLES = STREET_PARTICLES | {
    "les",
    "sur",
    "y",
    "e",
    "u.",
    "ul.",
    "al.",
    "os.",
    "st.",
    "ste.",
    "and",
    "of",
    "the",
}
_NUM_RE = re.compile(_NUM + r"\.?$")
#: Zipf frequencies from which a word is one of the commonest of English ('down', 'car'),
#: and one of the very commonest ('them', 'your'), no street's name in lower case, in any case
_COMMON_ZIPF = 5.0
_COMMONEST_ZIPF = 6.0


def _is_num(tok: str) -> bool:
    return _NUM_RE.match(tok) is not None


def _is_suffix(tok: str) -> bool:
    return bool(_SUFFIX_RE.match(tok) or _FUSED_SUFFIX_RE.match(tok.rstrip(".")))


@functools.lru_cache(maxsize=50_000)
def _token_features(
    tok: str,
) -> tuple[bool, bool, bool, bool, bool, bool, bool, bool, float]:
    """What an address core asks of a word, computed once per distinct word: (house number,
    street word, capitalized, particle, starts lower-case, short alphabetic, longer than 2,
    a street word alone, not fused with a name as in 'Ringvej', the word's Zipf frequency in
    English)."""
    return (
        _is_num(tok),
        _is_suffix(tok),
        _is_cap(tok),
        tok.lower() in _PARTICLES,
        tok[:1].islower(),
        tok.isalpha() and len(tok) <= 5,
        len(tok) > 2,
        _SUFFIX_RE.match(tok) is not None,
        english_zipf(tok.lower()) if tok.isalpha() else 0.0,
    )


class StreetAddressRecognizer(_Base):
    """Street addresses in many countries' formats, including blocks over several lines.

    A *core* is a run of words on one line with a house number and a street name: a street
    word ('Street', 'rue', 'vej', fused as in 'Ringvej'), or a number-name-number pattern
    ('4923 Parmova 109'); P.O. boxes, units and military addresses are cores too. Each core
    grows over the following segments (after a comma or line break) while they look like
    units, place names or postal codes, so a whole address block becomes one span.
    """

    ENTITIES = ("STREET_ADDRESS",)
    SCORE = 0.65
    _SPECIAL = re.compile(
        rf"(?i)(?:\b{_POBOX}\b|(?<!\w){_UNIT}\b|{_MILITARY}|\b{_MILITARY_TAIL}\b)"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        cores = [
            (m.start(), m.end())
            for m in self._SPECIAL.finditer(text)
            if not re.fullmatch(r"#\s*\d{1,2}", m.group(0).strip())
        ]
        for line in re.finditer(r"[^\n]+", text):
            cores.extend(self._line_cores(line.group(0), line.start()))
        spans: list[list[int]] = []
        for start, end in sorted(cores):
            end = self._grow(text, end)
            if (
                spans
                and start <= spans[-1][1] + 3
                and not text[spans[-1][1] : start].strip(" ,\n\t")
            ) or (spans and start < spans[-1][1]):
                spans[-1][1] = max(spans[-1][1], end)
            else:
                spans.append([start, end])
        return [self.found("STREET_ADDRESS", s, e) for s, e in spans]

    @staticmethod
    def _line_cores(line: str, offset: int) -> list[tuple[int, int]]:
        if not any(c.isdigit() for c in line):
            return []  # no house number, no street address
        toks = list(_TOKEN.finditer(line))
        feats = [_token_features(t.group(0)) for t in toks]
        nums = [f[0] for f in feats]
        # a colon, a semicolon, a parenthesis or a bracket between two words: a core never
        # crosses it ('Trail: Spanning 486', 'inches (5 cm)'); a comma between two words of
        # the name only after the street word ('221b baker street, london'), never before it
        # ('balls, and place them 2'), and only after a street word that follows the house
        # number ('Green Day, Lamb of God, Maroon 5' is a list); next to the house number
        # always ('Calle de Alcalá, 45')
        walls = [False] + [
            _CORE_WALL.search(line, a.end(), b.start()) is not None
            for a, b in itertools.pairwise(toks)
        ]
        commas = [False] + [
            not (nums[k] or nums[k + 1]) and line.find(",", a.end(), b.start()) >= 0
            for k, (a, b) in enumerate(itertools.pairwise(toks))
        ]
        cores = []
        i = 0
        while i < len(toks):
            best = None
            numbered = False  # a house number among the core's words so far
            street = False  # a street word after it
            for j in range(i + 1, min(i + 8, len(toks)) + 1):
                k = j - 1
                if k > i and (walls[k] or (commas[k] and not street)):
                    break
                street = street or (numbered and feats[k][1])
                numbered = numbered or nums[k]
                # a core starts or ends with a house number
                if (nums[i] or nums[j - 1]) and StreetAddressRecognizer._plausible(feats[i:j]):
                    best = j
            if best is not None:
                cores.append((offset + toks[i].start(), offset + toks[best - 1].end()))
                i = best
            else:
                i += 1
        return cores

    @staticmethod
    def _plausible(ws: list[tuple[bool, ...]]) -> bool:
        """``ws``: the words' :func:`_token_features`."""
        if len(ws) < 2 or not (ws[0][0] or ws[-1][0]):
            return False
        names = [w for w in ws if not w[0]]
        if not names or len(ws) - len(names) > 3:
            return False
        if (names[0][3] and not names[0][1]) or (names[-1][3] and not names[-1][1]):
            return False
        if names[0][1]:
            # a street word first names the street with the next word ('Via Roma', 'rue de la
            # Paix', 'Calle Real'), not with one of the commonest English words ('place them
            # 2', 'drive down 5'): written in lower case, or one of the very commonest
            rest = [w for w in names[1:] if not w[3]]
            if (
                rest
                and not rest[0][1]
                and rest[0][8] >= (_COMMON_ZIPF if rest[0][4] else _COMMONEST_ZIPF)
            ):
                return False
        has_suffix = any(w[1] for w in names)
        lower_ok = all(w[2] or w[3] or w[1] or w[4] for w in names)
        # a street word before the house number goes with a name, which may be a street word
        # too ('Rue de la Paix 5', 'Park Lane 10'): 'Place 2 cups', 'Drive 5 miles' name none
        named = ws[0][0] or any(not (w[7] or w[3]) for w in names) or sum(w[7] for w in names) >= 2
        if has_suffix and lower_ok and named:
            return True
        # '4923 Parmova 109', '5366 Pivovarská 276': number, capitalized name(s), number
        return (
            ws[0][0]
            and ws[-1][0]
            and len(names) <= 3
            and names[0][2]
            and all(w[2] or w[3] or w[5] for w in names)
            and any(w[6] for w in names)
        )

    @staticmethod
    def _grow(text: str, end: int) -> int:
        """Extend over following segments that look like units, places or postal codes."""
        pos = end
        for _ in range(6):
            m = re.match(r"[ \t]*(?:,|\n|;)?[ \t\n>?*•|-]*", text[pos:])
            seg_start = pos + (m.end() if m else 0)
            seg = re.match(r"[^,\n;!?]*", text[seg_start:])
            segment = seg.group(0).rstrip(" .") if seg else ""
            if not segment or seg_start - pos > 6 or _CORE_WALL.search(segment):
                break  # a label's line ('Bedrooms: 2') or a gloss ('(2e)') ends the address
            words = segment.split()
            ok = (
                0 < len(words) <= 5 and all(StreetAddressRecognizer._place_word(w) for w in words)
            ) or re.fullmatch(rf"(?i)(?:{_UNIT}|{_MILITARY_TAIL}|{_POSTAL})", segment)
            if not ok:
                # a place line that ends with its postal code before the sentence goes on
                # ('St. Louis, MO 63177 before order ...', 'CA 95837. It was')
                tail = re.match(
                    rf"(?:\S+[ \t]+){{0,4}}?(?:{_POSTAL})(?![\w-])", segment, flags=re.I
                )
                if tail and all(
                    StreetAddressRecognizer._place_word(w) for w in tail.group(0).split()
                ):
                    pos = seg_start + len(tail.group(0).rstrip("."))
                break
            pos = seg_start + len(segment)
        return pos

    @staticmethod
    def _place_word(w: str) -> bool:
        """A word of a place line: capitalized, a postal code, a number, a unit, a particle."""
        return bool(
            _is_cap(w)
            or re.fullmatch(_POSTAL, w)
            or re.fullmatch(r"\d{1,6}", w)
            or re.fullmatch(rf"(?i){_UNIT}", w)
            or w.lower() in _PARTICLES
        )


# ----------------------------------------------------------------------------- IDs

_ID_CONTEXT = {
    "MEDICAL_RECORD_NUMBER": r"mrn|mr\s?#|med(?:ical)?\.?\s*rec(?:ord)?\.?(?:\s*(?:no|number|#))?\.?|"
    r"chart\s*(?:no|number|#)|patient\s*(?:id|no|number|#)|acct\s*#?|account\s*(?:no|number|#)?|"
    r"encounter\s*(?:id|no|#)|fin",
    "CREDIT_CARD": r"(?:credit|debit)?\s*card(?:\s*(?:no|number|num|#|ending(?:\s+in)?))?\.?",
    "ID": r"member\s*id|policy\s*(?:no|number|#)?|insurance\s*id|subscriber\s*id|order(?:\s*(?:no|number|#))?|"
    r"tracking(?:\s*(?:no|number|#))?|confirmation(?:\s*(?:no|number|code|#))?|reference(?:\s*(?:no|number|#))?|"
    r"ref\.?|case(?:\s*(?:no|number|#))?|ticket(?:\s*(?:no|number|#))?|invoice(?:\s*(?:no|number|#))?|"
    r"customer\s*(?:id|no|number|#)|employee\s*(?:id|no|number|#)|passport(?:\s*(?:no|number|#))?|"
    r"license\s*(?:no|number|#)|id\s*(?:no|number|#)?|badge\s*(?:no|number|#)?|student\s*id|"
    r"routing\s*(?:no|number)|account",
}
_ID_VALUE = r"#?[A-Za-z]{0,4}[-#]?\d[\dA-Za-z]{2,}(?:[- /][\dA-Za-z]{1,})*"


class ContextIdRecognizer(_Base):
    """IDs (at least 3 digits, letters and dashes allowed) right after a context word."""

    ENTITIES = ("MEDICAL_RECORD_NUMBER", "ID", "CREDIT_CARD")
    SCORE = 0.7

    def __init__(self) -> None:
        super().__init__()
        self._patterns = [
            (
                entity,
                re.compile(
                    rf"(?i)\b(?:{ctx})\s*(?:[:#=]|is|was)?\s*(?:#\s*)?(?-i:({_ID_VALUE}))\b"
                ),
            )
            for entity, ctx in _ID_CONTEXT.items()
        ]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for entity, pattern in self._patterns:
            for m in pattern.finditer(text):
                value = m.group(1)
                digits = sum(c.isdigit() for c in value)
                if entity == "CREDIT_CARD" and not (12 <= digits <= 19 or digits == 4):
                    continue
                if digits >= 3:
                    out.append(self.found(entity, m.start(1), m.end(1)))
        return out


# --------------------------------------------------------------------------- titled names

_NAME_WORD = r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]*"
_NAME_TOKEN = rf"(?:{_NAME_WORD}\.?|[A-Z]\.)"
# a name runs on after an initial ('J. Smith'), never after a word's full stop ('Kuefer. Who')
_NAME_RUN = rf"(?:(?:[A-Z]\.|{_NAME_WORD})[ \t]+){{0,2}}{_NAME_TOKEN}"
_TITLES = (
    r"Dr|Doctor|Mr|Mrs|Ms|Mx|Miss|Mister|Prof|Professor|Rev|Sr|Sra|Srta|Herr|Frau|Mme|Mlle|"
    r"Sir|Dame|Lord|Lady|Capt|Captain|Sgt|Lt|Col|Gen|Nurse|RN|NP|PA|Attending|Resident"
)
_CREDENTIALS = (
    r"MD|M\.D\.|DO|D\.O\.|RN|NP|PA-C|PA|LPN|CNA|DDS|DMD|PhD|Ph\.D\.|MSN|BSN|FNP|APRN|PharmD|DPM"
)


class TitledNameRecognizer(_Base):
    """Names after a title or before a credential, in mixed case or ALL CAPS."""

    ENTITIES = ("PERSON",)
    SCORE = 0.75
    _BEFORE = re.compile(rf"\b(?i:{_TITLES})\.?[ \t]+({_NAME_RUN})")
    _AFTER = re.compile(rf"({_NAME_RUN}),?[ \t]+(?:{_CREDENTIALS})\b")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for pattern in (self._BEFORE, self._AFTER):
            for m in pattern.finditer(text):
                start, end = m.span(1)
                value = text[start:end].rstrip(".")
                end = start + len(value)
                if value and english_zipf(value.split()[0].lower()) < 5.5:  # not "The", "And"
                    out.append(self.found("PERSON", start, end))
        return out


# -------------------------------------------------------------------------- ages, postcodes


class AgeRecognizer(_Base):
    ENTITIES = ("AGE",)
    SCORE = 0.6
    _PATTERNS: ClassVar[list[re.Pattern[str]]] = [
        re.compile(r"(?i)\b(\d{1,3})\s*[- ]?\s*(?:years?|yrs?)[- ]?(?:of\s+age|old)\b"),
        re.compile(r"(?i)\b(\d{1,3})\s*(?:y/o|yo|y\.o\.)\b"),
        re.compile(
            r"(?i)\b(?:aged?|age:|age of|turns?|turned|turning)\s*(\d{1,3})\b(?!\s*(?:%|percent|degrees|minutes))"
        ),
        re.compile(
            r"(?i)\b(?:he|she|they|i) (?:was|is|am|were) (\d{1,3})(?=\s*(?:[.,;!]|$|years))"
        ),
        re.compile(
            r"(?i)\b(?:I am|I'm|I’m|turned|turning)\s+(\d{1,3})\b(?!\s*(?:%|percent|kg|lb|cm|min|am|pm|:))"
        ),
        # clinical shorthand: '54F presenting with', 'a 42M admitted'
        re.compile(
            r"(?i)\b(\d{1,3})\s?(?:M|F|yo\s?[MF])\b(?=\s+(?:presenting|presents|here|admitted|with|"
            r"who|patient|pt|c/o|complaining|for|s/p|status)\b)"
        ),
    ]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        return [
            self.found("AGE", m.start(1), m.end(1))
            for p in self._PATTERNS
            for m in p.finditer(text)
            if 0 < int(m.group(1)) < 125
        ]


class PostalCodeRecognizer(_Base):
    ENTITIES = ("ZIP_CODE",)
    SCORE = 0.6
    _CONTEXT = re.compile(
        r"(?i)\b(?:zip|zip\s*code|postal\s*code|post\s*code|postcode|plz)\b\s*(?:is|:|#)?\s*"
        r"((?=[A-Z]{0,3}\d)[A-Z0-9]{3,6}(?:[ -][A-Z0-9]{2,4})?)\b"
    )
    _STATE = re.compile(r"\b[A-Z]{2}\s+(\d{5}(?:-\d{4})?)\b")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        return [
            self.found("ZIP_CODE", m.start(1), m.end(1))
            for p in (self._CONTEXT, self._STATE)
            for m in p.finditer(text)
        ]


_DECIMAL = re.compile(r"\d{1,3}\.\d+")


def decimal_number(value: str) -> bool:
    """A decimal number, which no phone number is: 'The number Pi is 3.14159265...'."""
    return _DECIMAL.fullmatch(value.strip()) is not None


class PhoneContextRecognizer(_Base):
    """Phone numbers that no region's numbering plan accepts, said to be phones by a word
    beside them ('office', 'fax', 'mobile', 'tel', 'registered')."""

    ENTITIES = ("PHONE_NUMBER",)
    SCORE = 0.55
    _NUMBER = re.compile(
        r"(?<![\w+])\+?\(?\d[\d ().\-]{5,18}\d(?:\s*(?:x|ext\.?)\s*\d{1,5})?(?![\w])"
    )
    _CONTEXT = re.compile(
        r"(?i)\b(?:phone|tel|telephone|mobile|mobil|cell|fax|office|desk|home|work|"
        r"whatsapp|registered|call|calls|dial|text|contact|contacted|reached|reach|number)\b"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for m in self._NUMBER.finditer(text):
            digits = sum(c.isdigit() for c in m.group(0))
            if not 7 <= digits <= 15 or decimal_number(m.group(0)):
                continue
            window = text[max(0, m.start() - 30) : m.start()] + " " + text[m.end() : m.end() + 15]
            if self._CONTEXT.search(window):
                out.append(self.found("PHONE_NUMBER", m.start(), m.end()))
        return out


class UsPhoneShapeRecognizer(_Base):
    """North-American phone numbers by their shape alone, valid area code or not:
    (415) 555-0134, 415.555.0134, +1 415 555 0134, 1-415-555-0134."""

    ENTITIES = ("PHONE_NUMBER",)
    SCORE = 0.5
    _SHAPE = re.compile(
        r"(?<![\w+])(?:\+1[ .-]?|1-)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-])"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        return [self.found("PHONE_NUMBER", m.start(), m.end()) for m in self._SHAPE.finditer(text)]


class NameCueRecognizer(_Base):
    """A name right after words that introduce one: 'my name is', 'last name:', 'call me'."""

    ENTITIES = ("PERSON",)
    SCORE = 0.6
    _CUE = re.compile(
        r"(?i)\b(?:my name is|my name's|name is|name:|last name\??|first name\??|surname:?|"
        r"full name:?|call me|this is|i am|i'm|i’m|signed,?|regards,|sincerely,|thanks,|cheers,|"
        r"best,|thank you,|thanks again,|thanks in advance,|warm wishes,|all the best,|yours,|"
        r"dear|hi|hello|hey|mr\.?|mrs\.?|ms\.?|miss|dr\.?)(?!\w)[ \t]*\n?[ \t]*"
        r"((?:[^\W\d_][\w'’-]*\.?)(?:[ \t]+[^\W\d_][\w'’-]*\.?){0,2})"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        names = name_words()
        for m in self._CUE.finditer(text):
            words = m.group(1).split()
            keep = []
            for w in words:
                bare = w.rstrip(".")
                title = bare[:1].upper() + bare[1:].lower()
                if (
                    (title in names and english_zipf(bare.lower()) < 5.0)
                    or english_zipf(bare.lower()) < 3.5
                    or (len(bare) == 1 and bare.isupper() and w.endswith("."))
                ):
                    keep.append(w)
                else:
                    break
            if keep:
                start = m.start(1)
                end = (
                    start + len(" ".join(keep))
                    if m.group(1).startswith(" ".join(keep))
                    else start + len(keep[0])
                )
                out.append(self.found("PERSON", start, end))
        return out


# ------------------------------------------------------------------------- proper nouns

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_SENT_START = re.compile(r"(?:^|[.!?:;>\n\"“(]\s*|\n\s*[-*•\d.)]*\s*)$")


class ProperNounRecognizer(_Base):
    """Capitalized words that are person or place names (word lists), or rare as English words.

    Works on a title-cased view of ALL-CAPS text, where spaCy's NER finds little. A word at the
    start of a sentence or line must be a listed name, or be followed by another capitalized
    word, to count; common English words never count on their own.
    """

    ENTITIES = ("PERSON", "LOCATION")
    SCORE = 0.5
    RARE_ZIPF = 3.0

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        caps_text = mostly_upper(text)
        view = title_view(text) if caps_text else text
        names, places = name_words(), place_names()
        if mostly_lower(text):
            return self._lowercase(text, names, places)
        out = []
        tokens = list(_WORD.finditer(view))
        i = 0
        while i < len(tokens):
            m = tokens[i]
            word = m.group(0)
            if not word[0].isupper() or any(c.isdigit() for c in word):
                i += 1
                continue
            # a run of capitalized words (allowing initials like 'J.' and particles like 'van')
            j = i + 1
            seps = (" ", "-", "’") if caps_text else (" ", ". ", "-", " '", "’")
            while (
                j < len(tokens)
                and j - i < (3 if caps_text else 6)
                and (
                    tokens[j].group(0)[0].isupper()
                    or tokens[j].group(0)
                    in ("van", "von", "de", "da", "der", "del", "la", "le", "bin", "al")
                )
                and (
                    view[tokens[j - 1].end() : tokens[j].start()] in seps
                    and (
                        view[tokens[j - 1].end() : tokens[j].start()] != ". "
                        or len(tokens[j - 1].group(0)) == 1
                    )
                )
            ):
                j += 1
            run = tokens[i:j]
            while len(run) > 1 and run[0].group(0) in (
                "The",
                "A",
                "An",
                "This",
                "Our",
                "My",
                "Your",
            ):
                run = run[1:]  # 'The Symcat Orchestra' -> 'Symcat Orchestra'
            # common words at the edges of a run are not part of a name: 'Call Maria Lopez'
            org = run[-1].group(0).rstrip(".") in _ORG_WORDS
            while (
                not org
                and len(run) > 1
                and run[0].group(0) not in names
                and english_zipf(run[0].group(0).lower()) >= 4.5
            ):
                run = run[1:]
            while (
                len(run) > 1
                and run[-1].group(0) not in names
                and english_zipf(run[-1].group(0).lower()) >= 4.5
                and run[-1].group(0) not in _ORG_WORDS
            ):
                run = run[:-1]
            words = [t.group(0) for t in run]
            start, end = run[0].start(), run[-1].end()
            at_start = bool(_SENT_START.search(view[max(0, start - 12) : start])) or (
                start <= 12 and not view[:start].strip()
            )
            line = _line_of(view, start, end)
            if is_acronym_not_name(" ".join(words)):
                entity = None
            elif caps_text:  # every word is capitalized here: only listed names and places count
                entity = self._classify_caps(words, names, places)
            else:
                entity = self._classify(words, names, places, at_start)
            if entity is None and line == " ".join(words) and " ".join(words) in places:
                entity = "LOCATION"  # a place on a line of its own (address blocks)
            if entity == "PERSON" and words[-1].rstrip(".") in _ORG_WORDS:
                entity = "ORGANIZATION"
            if entity:
                out.append(self.found(entity, start, end))
            i = j
        return out

    @staticmethod
    def _classify_caps(
        words: list[str], names: frozenset[str], places: frozenset[str]
    ) -> str | None:
        phrase = " ".join(words)
        if len(words) >= 2 and words[-1] in _ORG_WORDS:
            return "ORGANIZATION"
        if phrase in places and english_zipf(phrase.lower()) < 4.0:
            return "LOCATION"
        listed = [
            w
            for w in words
            if w in names
            and english_zipf(w.lower()) < 4.3
            and not is_medical_term(w)
            and w.lower()[:3] not in _CALENDAR
        ]
        return "PERSON" if listed and len(listed) * 2 >= len(words) else None

    def _lowercase(self, text: str, names: frozenset[str], places: frozenset[str]):
        """Text written all in lower case: only listed names and places that are rare words."""
        out = []
        for m in _WORD.finditer(text):
            w = m.group(0)
            title = w[:1].upper() + w[1:]
            zipf = english_zipf(w)
            if title in names and zipf < 4.2:
                out.append(self.found("PERSON", m.start(), m.end(), 0.45))
            elif title in places and zipf < 3.5:
                out.append(self.found("LOCATION", m.start(), m.end(), 0.45))
        return out

    def _classify(
        self, words: list[str], names: frozenset[str], places: frozenset[str], at_start: bool
    ) -> str | None:
        phrase = " ".join(words)
        if len(words) >= 2 and words[-1].rstrip(".") in _ORG_WORDS:
            return "ORGANIZATION"
        words = [w for w in words if not is_medical_term(w)] or words
        if all(is_medical_term(w) for w in words):
            return None
        if (
            phrase in places
            and english_zipf(phrase.lower()) < 4.5
            and (not at_start or english_zipf(phrase.lower()) < 4.0 or len(words) > 1)
        ):
            return "LOCATION"
        known = [w for w in words if w in names]
        rare = [w for w in words if english_zipf(w.lower()) < self.RARE_ZIPF]
        if len(words) >= 2 and (known or rare) and len(known) + len(rare) >= 1 and not at_start:
            return "PERSON"
        if (
            len(words) >= 2
            and len([w for w in words if w in names or english_zipf(w.lower()) < self.RARE_ZIPF])
            >= 2
        ):
            return "PERSON"
        if len(words) == 1 and not at_start and (words[0] in names or words[0] in places or rare):
            w = words[0]
            if english_zipf(w.lower()) >= 4.5:
                return None  # 'May', 'Will', 'Bill', 'Date' as common words
            return "LOCATION" if w in places and w not in names else "PERSON"
        if len(words) == 1 and at_start and rare and words[0] in names:
            return "PERSON"
        return None


_ORG_WORDS = {
    "Center",
    "Centre",
    "Health",
    "Healthcare",
    "Medical",
    "Pharmacy",
    "Inc",
    "Incorporated",
    "LLC",
    "Ltd",
    "Limited",
    "Corp",
    "Corporation",
    "Co",
    "Company",
    "Group",
    "Partners",
    "Holdings",
    "Technologies",
    "Systems",
    "Solutions",
    "Bank",
    "Agency",
    "Orchestra",
    "Foundation",
    "Institute",
    "University",
    "College",
    "Hospital",
    "Clinic",
    "Associates",
    "Consulting",
    "Services",
    "Markets",
    "Labs",
    "GmbH",
    "AG",
    "SA",
    "BV",
    "AB",
}


_CALENDAR = {
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
}


def _line_of(text: str, start: int, end: int) -> str:
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    return text[a : b if b >= 0 else len(text)].strip(" \t>?*•|-")


def all_recognizers() -> Iterable[EntityRecognizer]:
    return [
        StreetAddressRecognizer(),
        ContextIdRecognizer(),
        TitledNameRecognizer(),
        AgeRecognizer(),
        PostalCodeRecognizer(),
        UsPhoneShapeRecognizer(),
        PhoneContextRecognizer(),
        NameCueRecognizer(),
        ProperNounRecognizer(),
    ]
