"""Pieces of the ``general`` profile: identifiers of private persons in general text.

What large pretraining pipelines remove from web text is contact details, secrets and ID
numbers, not the names of people, places and organisations that encyclopedic text is made of
(a model trained on 'Mozart was born in Salzburg' with both names replaced learns wrong
facts). So this profile keeps public knowledge and removes:

- :class:`SecretRecognizer`: credentials: API keys and tokens in their published formats,
  private-key blocks, passwords and secrets after a label, credentials inside a URL.
- :class:`BirthDateRecognizer`: dates of birth ('DOB: 4/12/1987', 'born on March 3, 1990').
- :func:`personal_context_filter`: names count only in a personal context: after a cue
  ('my name is', 'Dear', 'Mr.'), in a sentence that speaks of oneself, one's family or one's
  contact details, in a message (greeting, signature), or when English text does not know the
  name at all ('Fiammetta Zetticci', not 'Mozart' or 'Marie Curie'); places, organisations,
  nationalities and dates stay, but a date of birth goes.
- Reference text (:func:`encyclopedic`: citation markers, life spans, pronunciation glosses)
  names public people: there a name's rarity and a 'born' date say nothing private, and an
  address is a public place's. Numbers of steps, tables, roads, measures and dates are no
  house numbers (:func:`_not_a_house_number`).
"""

from __future__ import annotations

import functools
import itertools
import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import (
    english_zipf,
    first_names,
    mostly_lower,
    mostly_upper,
    name_words,
    place_names,
)
from provena.lexicon.clinical import KINSHIP_WORDS
from provena.pii.recognizers import STREET_PARTICLES, _Base, _is_num, _is_suffix

_SECRET_FORMATS = re.compile(
    "|".join(
        (
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{50,}\b",
            r"\bglpat-[A-Za-z0-9_-]{20,}\b",  # GitLab
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b",  # Slack
            r"\bAIza[0-9A-Za-z_-]{35}\b",  # Google API key
            r"\b(?:sk|pk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b",  # Stripe
            r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b",  # OpenAI, Anthropic
            r"\bhf_[A-Za-z0-9]{30,}\b",  # Hugging Face
            r"\bnpm_[A-Za-z0-9]{36}\b",
            r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b",  # SendGrid
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----",
        )
    )
)
_SECRET_LABEL = re.compile(
    r"(?i)\b(?:password|passwd|pwd|passcode|pass\s*phrase|passphrase|pin(?:\s*code)?|"
    r"secret(?:[_ -]?key)?|api[_ -]?key|access[_ -]?key|access[_ -]?token|auth[_ -]?token|"
    r"bearer|token|client[_ -]?secret|private[_ -]?key)\b['\"]?\s*(?:is|was|=|:|:=|=>)\s*"
    r"(?:['\"`](?P<quoted>[^'\"`\s]{4,})['\"`]|(?P<bare>[^\s'\"`,;]{4,}))"
)
_URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<pw>[^\s@/]+)@", re.I)


def _placeholder(value: str) -> bool:
    """'<token>', '${API_KEY}', 'YOUR_BOT_TOKEN', 'xxxx': a slot for a secret, not one."""
    return (
        re.fullmatch(
            r"(?i)<[^>]+>|\$\{?\w+\}?|%\w+%|\{\{\s*\w+\s*\}\}|(?:your|my)[_-]?\w*|"
            r"[*x•._-]+|\w*(?:example|placeholder|changeme|redacted)\w*",
            value,
        )
        is not None
    )


def _secret_like(value: str) -> bool:
    """Not an ordinary word or a placeholder: a digit or symbol, mixed case, or rare."""
    if set(value) <= set("*xX•.-_"):
        return False  # '********', 'xxxx': already hidden
    if _placeholder(value):
        return False
    if any(c.isdigit() for c in value) or not value.isalnum():
        return True
    if value != value.lower() and value != value.upper() and value != value.capitalize():
        return True
    return english_zipf(value.lower()) < 2.0 and len(value) >= 6


class SecretRecognizer(_Base):
    """API keys, tokens, private keys and passwords."""

    ENTITIES = ("SECRET",)
    SCORE = 0.8

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = [self.found("SECRET", m.start(), m.end()) for m in _SECRET_FORMATS.finditer(text)]
        for m in _SECRET_LABEL.finditer(text):
            group = "quoted" if m.group("quoted") else "bare"
            value = m.group(group)
            if _secret_like(value.rstrip(".")) or (m.group("quoted") and not _placeholder(value)):
                end = m.end(group) - (len(value) - len(value.rstrip(".")))
                out.append(self.found("SECRET", m.start(group), end, 0.7))
        for m in _URL_CREDENTIALS.finditer(text):
            out.append(self.found("SECRET", m.start("pw"), m.end("pw"), 0.7))
        return out


_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_A_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}|"
    rf"{_MON}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    rf"{_MON},?\s+\d{{4}})"
)


class BirthDateRecognizer(_Base):
    """A full date right after 'born', 'date of birth', 'DOB' or 'birthday'."""

    ENTITIES = ("DATE_TIME",)
    SCORE = 0.75
    _PATTERN = re.compile(
        r"(?i)\b(?:d\.?o\.?b\.?|date\s+of\s+birth|birth\s*date|birthday|born(?:\s+on)?)"
        rf"\s*(?:is|was|:|-)?\s*(?:on\s+)?({_A_DATE})"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        return [self.found("DATE_TIME", m.start(1), m.end(1)) for m in self._PATTERN.finditer(text)]


_ADDRESS_WORD = r"[^\W\d_][\w'’.-]*"
# where something is: 'lives on', 'is at', 'the address of X is', 'send it to'
_PLACE_CUE = re.compile(
    r"(?i)(?:\b(?:lives?|lived|living|resides?|resided|residing|located|situated|is|are|was|"
    r"were)\s+(?:on|at)|\baddress\b[^.!?\n]{0,60}\b(?:is|to)|\b(?:return|send|ship|deliver|"
    r"mail|post|move|forward)(?:s|ed|ing)?\s+(?:it\s+|them\s+|this\s+)?to)\s+"
    r"(?:the\s+\w+\s+side\s+of\s+)?"
)
_CUED_ADDRESS = re.compile(
    rf"{_ADDRESS_WORD}(?:[ \t]+(?:and[ \t]+)?{_ADDRESS_WORD}){{0,4}}[ \t]+\d{{1,5}}[A-Za-z]?"
    r"(?=[ \t]*(?:[,.;!?\n]|$)|[ \t]+(?:in|street|st)\b)"
)
_CORNER = re.compile(
    r"(?i)\bthe[ \t]+corner[ \t]+of[ \t]+([^\n,;!?]{2,50}?)[ \t]+(?:and|&)[ \t]+"
    r"([^\n,;!?]{2,40}?)(?=[ \t]*(?:[,;!?\n]|\.(?:\s|$)|$))"
)
_HOUSE_NUMBER = re.compile(r"(?<![\w.])\d{1,5}[A-Za-z]?\.?(?![\w])(?!\s*(?:st|nd|rd|th)\b)")


class CuedAddressRecognizer(_Base):
    """Street addresses that the street-word recognizer cannot tell from ordinary words, found
    by what introduces them: a name and a house number after 'lives on', 'is at', 'the
    address of ... is', 'send it to' ('lives on Joaquin Suarez 2906', 'is on Pod Floriánem
    1677'), and a street corner with a house number ('the corner of Dalbraut 99 and Frederikke
    Coves'). The street's words are capitalized, none a common English word or a page,
    chapter or route ('is on Page 12', 'lives on Route 66' stay)."""

    ENTITIES = ("STREET_ADDRESS",)
    SCORE = 0.6

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        if not mostly_lower(text) and not mostly_upper(text):
            for cue in _PLACE_CUE.finditer(text):
                m = _CUED_ADDRESS.match(text, cue.end())
                if m and _street_name_words(m.group(0)):
                    out.append(self.found("STREET_ADDRESS", m.start(), m.end()))
        for m in _CORNER.finditer(text):
            if _HOUSE_NUMBER.search(m.group(1)) or _HOUSE_NUMBER.search(m.group(2)):
                out.append(self.found("STREET_ADDRESS", m.start(), m.end()))
        return out


def _street_name_words(value: str) -> bool:
    """The words before a house number name a street: capitalized (or particles, 'and'), and
    none a common English word unless it is a street word ('Rua', 'Pod' but not 'Page')."""
    words = [w for w in _words(value) if w.lower() != "and"]
    named = [w for w in words if w.lower() not in _ADDRESS_PARTICLES]
    return bool(named) and all(
        w[:1].isupper()
        and not _STEP_BEFORE.search(w)
        and not _ROAD_NUMBER.match(f"{w} 1")
        and (
            english_zipf(w.lower()) < 4.0
            or _bare(w) in name_words()
            or _STREET_WORD.fullmatch(w) is not None
        )
        for w in named
    )


# recognizers whose match is personal by construction: a cue word introduced the value
CUE_RECOGNIZERS = frozenset(
    {
        "NameCueRecognizer",
        "SameValueInRecord",
        "SignOffRule",
        "RecordHeadingRule",
        "ContactSentenceRule",
        "SpeakerRule",
    }
)
# a private person's title; 'Dr.', 'Sir', 'Lord' head public names in general text too
_PRIVATE_TITLE = re.compile(r"(?i)\b(?:mr|mrs|ms|mx|miss)\.?\s*$")
_CONTACT_TYPES = frozenset(
    {
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "STREET_ADDRESS",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "ID",
        "MEDICAL_RECORD_NUMBER",
        "US_DRIVER_LICENSE",
        "SECRET",
    }
)
# public knowledge in general text: places, organisations, nationalities, ordinary dates
PUBLIC_TYPES = frozenset({"LOCATION", "ORGANIZATION", "NRP", "DATE_TIME", "URL"})
# a sentence ends at '.', '!' or '?', not after a title or an initial ('Dr. Ann Lee', 'J. Doe')
_TITLES = "Mr Mrs Ms Dr St Jr Sr Prof Rev Gen Col Capt Lt Sgt".split()  # noqa: SIM905
_NO_STOP = "|".join(
    [rf"(?<=\b{v})\." for t in _TITLES for v in sorted({t, t.lower(), t.upper()})]
    + [r"(?<=\b[A-Z])\."]
)
_SENTENCE = re.compile(rf"(?:[^.!?\n]|{_NO_STOP})+(?:[.!?]+[\"'”’)]*|\n|$)")


_LIST_ITEM = re.compile(r"\d{1,3}[.)]\s")
# Marks of encyclopedic (reference) text, which names public people, places and dates:
# citation markers ('[12]', '[a]', '[edit]', '[citation needed]'), a life span or birth date
# in parentheses after a name ('(5 August 1911 – 4 October 2002)', '(born 1916)'), and a
# pronunciation or a gloss in another script ('(/ˈnaɪki/ (listen); Ancient Greek: Νίκη)').
# Messages, forms and stories about private people have none of these.
_CITATION = re.compile(r"(?i)\[(?:\d{1,3}|[a-z]|edit|citation needed|note \d{1,3})\]")
_LIFE_SPAN = re.compile(
    r"\((?:[^()]{0,80}?[;,]\s*)?(?:born|b\.|n[ée]e?)\s[^()]{0,40}?\d{3,4}[^()]{0,80}\)"
    r"|\([^()]{0,40}?\b\d{3,4}\s*(?:\[\w+\])?\s*[-–—]\s*[^()]{0,40}?\b\d{3,4}\s*\)"
)
_GLOSS = re.compile(
    r"(?<=[A-Za-zÀ-ɏ])[\s\xa0]*\((?=[^()]*(?:/[^/\s()]*[ˈˌːəɪʊɛɔæʃʒθðŋ]|\blisten\b|"
    r"[\u0370-\u03ff\u1f00-\u1fff]{2}|[\u0400-\u04ff]{2}|[\u0590-\u05ff]{2}|[\u0600-\u06ff]{2}|"
    r"[\u0900-\u0dff]{2}|[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]{2}))"
)


def encyclopedic(text: str) -> bool:
    """Reference text: citation markers, a life span or a pronunciation gloss."""
    return bool(_CITATION.search(text) or _LIFE_SPAN.search(text) or _GLOSS.search(text))


_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{8}|[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")
_DATE_LIKE = re.compile(
    r"(?i)^\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
)
_STREET_WORD = re.compile(
    r"(?i)\b(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|"
    r"place|pl|terrace|circle|parkway|highway|hwy|square|hill|apt|apartment|suite|unit|box|"
    r"floor|rue|calle|carrer|paseo|plaza|camino|rua|rúa|avenida|av|travessa|praça|via|viale|"
    r"piazza|corso|chemin|quai|allée|allee|platz|gasse|straße|strasse|weg|laan|straat|plein|"
    r"gatan|gata|gate|vej|vei|gade|katu|tie|ulica|utca|útja|náměstí|odos|odós|οδός)\b"
)
_ADDRESS_PARTICLES = STREET_PARTICLES | {
    # and what general text adds: more Romance and Slavic particles, and street words that
    # stand lower-case inside an address ("ul. Długa", "rue", "apt")
    "al",
    "apt",
    "degli",
    "dei",
    "na",
    "nad",
    "pod",
    "rue",
    "ul",
    "via",
}
_RESERVED_EMAIL = re.compile(
    r"(?i)@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|[\w-]+\.(?:example|test|invalid|localhost))$"
)


def _not_an_identifier(text: str, r: RecognizerResult) -> bool:
    """Shapes that general text is full of and no identifier has: numbered list items and
    dates read as addresses, year ranges, calendars and IDs inside links read as phone
    numbers, addresses at the reserved example domains."""
    value = text[r.start : r.end]
    if r.entity_type == "STREET_ADDRESS":
        if _recognizer(r) == "CuedAddressRecognizer":
            return False  # a cue introduced it: 'lives on Pod Floriánem 1677'
        numbers = re.findall(r"\d+", value)
        years = [n for n in numbers if len(n) in (3, 4)]
        first_digit = re.search(r"\d", value)
        core = value[first_digit.start() :] if first_digit else value  # from the house number on
        if _not_a_house_number(text, r, value, core):
            return True
        # the words from the house number on, or all where the number ends the value
        words = re.findall(r"[^\W\d_]{2,}", core) or re.findall(r"[^\W\d_]{2,}", value)
        # a lower-case street word counts as an ordinary word unless it is the street word
        # of a name: '33 avenue de Provence', 'Provence street', not '1 square foot'
        lower_words = [
            w
            for w in words
            if w.islower()
            and w.lower() not in _ADDRESS_PARTICLES
            and not (_STREET_WORD.fullmatch(w) and _names_street(value, w))
        ]
        return bool(
            # in text of mixed case, street and place names are capitalized: not 'rise in a
            # warm, draft-free place for 1-2' or '2 sets of 10 push-ups, 10'
            (
                not mostly_lower(text)
                and not mostly_upper(text)
                and len(lower_words) >= 2
                and len(lower_words) * 2 >= len(words)
            )
            or (_LIST_ITEM.match(value) and not text[_line_start(text, r.start) : r.start].strip())
            or _HEX_COLOUR.match(value)  # an address never starts with '#'; a colour does
            # the number is the next list item's: 'a building.\n3. Roofing'
            or (re.search(r"\n[ \t]*\d{1,2}$", value) and re.match(r"[.)]\s", text[r.end :]))
            or _DATE_LIKE.match(value)
            # a ship ('USS Arizona Memorial') is an address only with its fleet post office
            or (
                re.match(r"(?i)(?:uss|usns|usnv|uscgc)\s", value)
                and not re.search(r"(?i)\b(?:fpo|apo|dpo)\b", value)
            )
            or (
                not _STREET_WORD.search(value)
                and (
                    # on the street's line: a block's place line may say '(Greek)'
                    re.search(r"[\"()]|\b(?:BCE|BC|CE|AD)\b", value.split("\n", 1)[0])
                    # every number a year: 'In May 1857', not '50541 Mlýnská 1540'
                    or (
                        years
                        and len(years) == len(numbers)
                        and all(1000 <= int(y) <= 2099 for y in years)
                    )
                )
            )
        )
    if r.entity_type == "PHONE_NUMBER":
        before = text[max(0, r.start - 1) : r.start]
        groups = re.findall(r"\d+", value)
        if _PHONE_CUE.search(text[max(0, r.start - 40) : r.start]) or _PHONE_LABEL_AFTER.match(
            text[r.end : r.end + 12]
        ):
            return False  # labelled or called: 'Mobile: 06.11.22.33.44', 'call me on ...'
        return bool(
            (before and (before.isalnum() or before in "/.:=_#"))
            or re.fullmatch(r"\(?(?:1[5-9]|20)\d\d\s*[-–]\s*(?:1[5-9]|20)\d\d\)?", value)
            or (len(groups) >= 3 and all(len(g) <= 2 for g in groups))
            # a numbered list's item: '2. 2012 - 6.28 billion', a figure with decimals
            or (
                _LIST_ITEM.match(value)
                and not text[text.rfind("\n", 0, r.start) + 1 : r.start].strip()
            )
            or (re.search(r"\s[-–—]\s", value) and re.search(r"\d\.\d+$", value))
        )
    if r.entity_type == "EMAIL_ADDRESS":
        return _RESERVED_EMAIL.search(value) is not None
    return False


def _calendar_word(word: str) -> bool:
    """A month or a weekday ('Monday: 30-minute walk'), not 'Marta' or 'Jana'."""
    return (
        re.fullmatch(
            rf"(?i){_MON}|(?:mon|tue|tues|wed|wednes|thu|thur|thurs|fri|sat|satur|sun)(?:day)?\.?",
            word,
        )
        is not None
    )


def _names_street(value: str, word: str) -> bool:
    """``word``, a street word, stands right after a house number or a capitalized name, and
    a capitalized name follows or precedes it: '33 avenue de Provence', 'Provence street'."""
    w = re.escape(word)
    particles = r"(?:(?:" + "|".join(sorted(_ADDRESS_PARTICLES)) + r")\s+)*"
    cap = r"[A-ZÀ-ÖØ-Þ][\w'’-]+"
    return bool(
        re.search(rf"(?:^|\s)\d[\w/-]*\s+{w}\s+{particles}{cap}", value)
        or re.search(rf"{cap}\s+{w}\b", value)
    )


def _recognizer(r: RecognizerResult) -> str:
    return (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _with_span(r: RecognizerResult, start: int, end: int) -> RecognizerResult:
    return RecognizerResult(
        r.entity_type, start, end, r.score, r.analysis_explanation, r.recognition_metadata
    )


# the label of a contact detail's line in a record: what ends an address block
_CONTACT_LABEL = re.compile(
    r"(?i)^(?:phone|tel|telephone|mobile|cell|fax|desk|office|e-?mail|website|web|url|"
    r"address|personal info)\b"
)
# a line of an address block that ends it: a postal code last ('Norway 0150', 'SW1A 1AA')
_POSTAL_LINE = re.compile(
    r"(?:^|\s)(?:\d{4,6}(?:-\d{3,4})?|\d{3}\s\d{2}|\d{2}-\d{3}|[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|"
    r"[A-Z]\d[A-Z]\s?\d[A-Z]\d)$"
)
_LINE_MARKS = " \t>*•|?-,"


def _fit_address(text: str, r: RecognizerResult) -> RecognizerResult:
    """An address span fitted to the address: without the words of the sentence around it
    that the street-word recognizer took in ('lives on Via dei Fiorentini 17', '137 Avenue
    Teboulbi St. the first three months': in text of mixed case the lower-case words, in
    text of one case the common English ones), and grown over the lines of its block down
    to the postal code ('Ústí nad Labem' / 'Czech Republic 40001')."""
    start, end = r.start, r.end
    cased = not mostly_lower(text) and not mostly_upper(text)
    toks = list(re.finditer(r"\S+", text[start:end]))
    if toks:
        first_num = next((k for k, t in enumerate(toks) if t.group(0)[:1].isdigit()), None)

        def plain(tok: str) -> bool:  # an ordinary word, no part of a street
            w = tok.strip(",.;:()\"'")
            return (
                w.isalpha()
                and w.lower() not in _ADDRESS_PARTICLES
                and not _STREET_WORD.fullmatch(w)
                and (w[:1].islower() if cased else english_zipf(w.lower()) >= 4.0)
            )

        if first_num:  # words before the house number: cut after the last ordinary word
            cut = max((k + 1 for k in range(first_num) if plain(toks[k].group(0))), default=0)
            # what is left names a street: 'Via dei Fiorentini 17', not 'Lean 4'
            if 0 < cut < first_num and any(_is_suffix(t.group(0)) for t in toks[cut:first_num]):
                start += toks[cut].start()
        if first_num == 0:  # ordinary words after the street: 'St. the first three months'
            tail = len(toks)
            while tail > 1 and plain(toks[tail - 1].group(0)):
                tail -= 1
            kept = [t.group(0) for t in toks[1:tail]]
            if (
                len(toks) - tail >= 2
                and "\n" not in text[r.start + toks[tail - 1].end() : end]
                and any(_is_suffix(w) for w in kept)
                # a name goes with the street word: '412 Monterey Ave', not '1 square foot'
                and any(
                    w[:1].isupper() if cased else not (plain(w) or _is_suffix(w) or _is_num(w))
                    for w in kept
                )
            ):
                end = r.start + toks[tail - 1].end()
    line_end = text.find("\n", end)
    if line_end >= 0 and not text[end:line_end].strip(" .,"):
        pos, grown = line_end, end
        for _ in range(4):  # the place lines below the street, down to the postal code
            nxt = text.find("\n", pos + 1)
            nxt = len(text) if nxt < 0 else nxt
            line = text[pos + 1 : nxt].strip(_LINE_MARKS)
            words = line.split()
            if (
                not line
                or len(words) > 6
                or _CONTACT_LABEL.match(line)
                or re.search(r"[@:]|https?\b|www\.", line)
                or re.search(r"[.!?]\s", line)
            ):
                break
            if _POSTAL_LINE.search(line) or line in place_names():
                grown = pos + 1 + len(text[pos + 1 : nxt].rstrip(" \t.,"))
            elif any(c.isdigit() for c in line):
                break
            pos = nxt
            if pos >= len(text):
                break
        end = max(end, grown)
    if (start, end) == (r.start, r.end):
        return r
    return _with_span(r, start, end)


# a phone number's label or call: 'Phone:', 'Desk: ', 'call me on', 'answering at'
_PHONE_CUE = re.compile(
    r"(?i)(?:\b(?:phone|tel|telephone|mobile|cell|fax|desk|office|whatsapp)\s*(?:no\.?|number|#)?"
    r"\s*[:=]\s*|\b(?:call|ring|text|reach|phone|answering)(?:\s+\w+){0,2}\s+(?:on|at)\s+)$"
)
_PHONE_LABEL_AFTER = re.compile(r"(?i)[ \t]+(?:office|fax|mobile|cell|home|work|desk)\b")
_ROAD_NUMBER = re.compile(
    r"(?i)\b(?:highway|hwy|route|rte|interstate|motorway|autobahn|autoroute|freeway|"
    r"expressway|road|state\s+road|county\s+road|us|sr|i)[\s-]+\d{1,4}[a-z]?\b"
)
# a quantity: the number of a measure, a duration or a count, not a house number
_MEASURE = re.compile(
    r"(?i)\b\d[\d.,]*\s*(?:%|percent|miles?|mi|km|kilomet(?:er|re)s?|met(?:er|re)s?|m|cm|mm|"
    r"ft|feet|foot|inch(?:es)?|in|yards?|kg|kilograms?|g|grams?|lbs?|pounds?|tons?|tonnes?|"
    r"litres?|liters?|l|ml|gallons?|years?|months?|weeks?|days?|hours?|minutes?|seconds?|"
    r"times|people|persons|players|members|million|billion|thousand|hundred|degrees?|°)(?!\w)"
)
_FUNCTION_WORD = "as|in|of|to|by|for|with|on|at|from|was|were|is|are|and|or|the|a|an|than|when"
_STEP_BEFORE = re.compile(
    r"(?i)\b(?:step|stage|phase|part|chapter|section|no|number|rule|level|day|week|round|act|"
    r"scene|verse|item|tip|option|method|figure|fig|table|page|vol|volume|book|episode|season|"
    r"quarter|row|block|plot|grave|lot|section|sector|gate|platform|seat)\.?\s*#?\s*$"
)
_MONTH_YEAR_END = re.compile(rf"(?i)\b{_MON}\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?\d{{4}}\W*$")


def _not_a_house_number(text: str, r: RecognizerResult, value: str, core: str) -> bool:
    """The numbers of an address candidate are no house number: a citation marker or a table
    cell ('[160] In May 1988', '1<tab>China<tab>1,439,323,776'), a date's year ('In May
    1857'), a road number ('Montana Highway 314'), a step or list number ('Step 3: Place the
    sticks'), a year or measure followed by ordinary words ('1918 as SS West Gate'); or the
    text is referenced (cited) text, whose addresses are those of public places."""
    if re.search(r"[\[\]\t]", value) or _CITATION.search(text):
        return True
    if _MONTH_YEAR_END.search(value):
        return True
    if not re.search(r"\d", _MEASURE.sub(" ", _ROAD_NUMBER.sub(" ", value))):
        return True  # every number is a road's or a quantity's ('11 miles south of ...')
    if core == value and re.match(rf"\d[\w/-]*\s+(?i:{_FUNCTION_WORD})\b", core):
        return True  # '1918 as SS West Gate': a year, a count
    at = r.start + (len(value) - len(core))  # where the first number starts
    if core and (_STEP_BEFORE.search(text[max(0, at - 20) : at]) or re.match(r"\d\w*\s*:", core)):
        return True
    cased = not mostly_lower(text) and not mostly_upper(text)
    after = re.match(r"\d[\w/-]*\.?\s+([^\W\d_][\w'’-]*)", core)
    if (
        cased
        and after
        and core == value  # the value starts with its number: '1918 as SS West Gate'
        and after.group(1).islower()
        and after.group(1) not in _ADDRESS_PARTICLES
        and not _STREET_WORD.fullmatch(after.group(1))
        and (
            not _STREET_WORD.search(core) or re.search(r"\b[A-Z]", core[after.end(1) :]) is not None
        )
    ):
        return True  # a house number is followed by the street's name: not '9 m', '1918 as'
    if not _STREET_WORD.search(value):
        # number, name, number ('4923 Parmova 109'): the names are no English words, months
        # or acronyms ('2945, RFC 5054'), and nothing but spaces stands between the parts
        between = re.search(r"\d[^\W_]*([^\d]+?)\d", value)
        if between:
            words = [w for w in _words(between.group(1)) if w.lower() not in _ADDRESS_PARTICLES]
            if re.search(r"[,;:]", between.group(1)) or any(
                english_zipf(w.lower()) >= 3.5
                or re.fullmatch(rf"(?i){_MON}", w)
                or (w.isupper() and len(w) > 1 and cased)
                for w in words
            ):
                return True
    return False


def _name_shaped(value: str) -> bool:
    """Some word is a listed first or last name, and none is written like code
    ('KinematicBody', 'ChatGPT')."""
    words = _words(value)
    if not words or any(_code_like(w) for w in words):
        return False
    names = name_words()
    return any(_bare(w) in names for w in words)


# surname prefixes written with a capital inside the word: 'McDowell', 'LeBlanc', "D'Angelo"
_NAME_PREFIX = re.compile(r"^(?:Mc|Mac|Le|La|De|Di|Da|Du|Van|O['’]|D['’])(?=[A-Z][a-z]+$)")


def _code_like(word: str) -> bool:
    """A word written like code ('KinematicBody', 'ChatGPT'), not like a name ('McCray')."""
    return re.search(r"[a-z][A-Z]", _NAME_PREFIX.sub("", word)) is not None


def _words(value: str) -> list[str]:
    return re.findall(r"[^\W\d_][\w'’-]*", value)


def _bare(word: str) -> str:
    """'O'Neil's' -> "O'Neil": the word as a name list writes it."""
    w = word.strip("'’-")
    for s in ("'s", "’s"):
        w = w.removesuffix(s)
    return w[:1].upper() + w[1:].lower() if w.isupper() or w.islower() else w


# --------------------------------------------------------------- what makes a name private
#
# A name in general text is a private person's where the text is about that person as an
# individual: a record, form, signature or address block that holds them, a message to
# them, a conversation they take part in, their family, their account. Encyclopedic text
# about public people has none of these: it names people in the third person, among works,
# places and years. A name that English text does not know at all is private too. What the
# writer says of themselves ('I', 'you') is no sign on its own: answers and stories are full
# of both.

# people one knows as an individual: family, household, work, care, tenancy
_PEOPLE_ONE_KNOWS = (
    "kid kids baby wife husband boss manager supervisor colleague colleagues coworker "
    "coworkers co-worker roommate flatmate housemate classmate classmates landlord landlady "
    "tenant tenants employee employees client clients customer customers teammate teammates"
)
_RELATION_WORDS = sorted(KINSHIP_WORDS | set(_PEOPLE_ONE_KNOWS.split()), key=len, reverse=True)
_REL = "|".join(map(re.escape, _RELATION_WORDS))
# speaking of oneself or one's family, greeting or signing, a name asked for or given
_PERSONAL = re.compile(
    r"(?i)(?:^\s*(?:dear|hi|hello|hey)\b|\b(?:regards|sincerely|cheers|thanks|best),?\s*$|"
    r"\b(?:my|our|your)\s+(?:(?:late|dear|older|younger|little|big|great|step|ex|grand|best|"
    r"new|old)[- ]?)*(?:" + _REL + r")\b|"
    r"\b(?:my|our|your)\s+(?:\d+\s+|co-?)?(?:founders?|team|staff|members|employees|partners|"
    r"owners|directors|guests|tenants|neighbou?rs)\b|"
    r"\b(?:my|your|his|her|their)\s+(?:full\s+|last\s+|first\s+|maiden\s+|middle\s+)?name\b|"
    r"\bname\s+(?:on|in)\s+(?:my|your|this|the(?=\s+(?-i:[a-z])))\b|"
    r"\b(?:contact|e-?mail|phone|call|text|reach)\s+(?:me|him|her|us)\b)",
    re.M,
)
_SELF = re.compile(
    r"(?i)\b(?:i|i'm|i’m|i've|i’ve|i'd|i’d|me|my|we|we're|we’re|our|us|please)\b|"
    r"^\s*(?:follow\s+up|contact|call|email|send|ask|tell|remind)\b"
)
# an account, a payment or a legal document of one person, said by that person or to them
_RECORD = re.compile(
    r"(?i)\b(?:accounts?|billing|billed|invoices?|payments?|refunds?|beneficiar(?:y|ies)|"
    r"guardian|appointments?|statements?|loans?|mortgage|booking|reservations?|policy|claims?|"
    r"subscriptions?|contracts?|lease|signature|passport|login|username|follow(?:ing)?[- ]up|"
    r"(?:the|my|his|her|their)\s+will)\b"
)
# a question to someone about a third person: 'have you heard Ann speak?', 'is Bo there?'
_ASKED_ABOUT = re.compile(
    r"(?i)\b(?:have|did|do|will|would|can|could|should)\s+you\s+(?:ever\s+|already\s+|just\s+)?"
    r"(?:met|meet|heard|hear|seen|call(?:ed)?|ask(?:ed)?|tell|told|(?:talk(?:ed)?|spoken?|speak|"
    r"write|written|wrote)\s+to|e-?mail(?:ed)?|text(?:ed)?|contact(?:ed)?|remember|invite[ds]?)\s+$"
)
# someone addressed by name: 'Ann, can you ...?', 'Remember me, Ann?', "Don't go, Ann!";
# not a name an appositive describes ('Charles de Gaulle, a famous French president, once
# asked - "How can you govern ...?"')
_VOCATIVE_AFTER = re.compile(
    r"^\s*,(?!\s*(?:a|an|the|who|which|whose)\s[^,.!?\n]{1,60},)[^.!?\n]*(?:\?|!|\byou\b|\byour\b)",
    re.I,
)
_VOCATIVE_BEFORE = re.compile(r"(?:,|\bme)\s*$", re.I)
# two people in one exchange: 'said Ann to Bo', 'Ann shouted at Bo'
_SPEECH_VERB = r"(?:said|says|asked|told|shouted|yelled|screamed|whispered|replied|cried)"
_EXCHANGE_AFTER = re.compile(rf"(?i)^\s*(?:{_SPEECH_VERB}\s+(?:to|at)|(?:to|at)\b)\s*$")
_NAMED_BEFORE = re.compile(r"(?i)\b(?:named|called)\s+(?:him|her|them|me)\s+$")
# a form or record field that holds a person: 'Name: X', 'Billing address: X'
_FIELD_BEFORE = re.compile(
    r"(?i)(?:^|\n|\?)[ \t>*•-]*(?:(?:full|first|last|sur|maiden|middle|user|display|account|"
    r"holder'?s?|customer|client|patient|employee|contact|applicant|tenant|student|owner)?\s*"
    r"name|billing\s+address|shipping\s+address|bill\s+to|ship\s+to|attn|attention|"
    r"signed|signature|account\s+holder|card\s*holder|beneficiary|guardian|contact|"
    r"customer|client|patient|employee|applicant|tenant|user)\s*[:=]?\s*(?:\??\s*)$"
)
_SPEAKER_LINE = re.compile(
    r"(?m)^[ \t>*•-]*([^\W\d_][\w'’.-]*(?:[ \t][^\W\d_][\w'’.-]*){0,2})[ \t]*:[ \t]*\S"
)
_NOT_A_SPEAKER = re.compile(
    r"(?i)(?:note|step|q|a|question|answer|example|tip|title|name|type|description|input|"
    r"output|response|user|assistant|system|bot|date|phone|address|e-?mail|fax|mobile|desk)"
)
# a name that English text does not know (every word rarer than this) is a private person's
UNKNOWN_NAME_ZIPF = 2.0
# a name heading a contact card may hold rarer words than English names ('Ilse Brandvold')
HEADING_NAME_ZIPF = 3.5


def _sentence_of(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    for a, b in sentences:
        if a <= start < b:
            return a, max(b, end)
    return start, end


def _line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    return a, len(text) if b < 0 else b


def _on_own_line(text: str, r: RecognizerResult) -> bool:
    a, b = _line_bounds(text, r.start, r.end)
    return text[a:b].strip(" \t,.;:-–—>*•?|") == text[r.start : r.end]


def _block_around(text: str, start: int, end: int, lines: int = 5) -> tuple[int, int]:
    """Up to ``lines`` non-empty lines either side: a signature, a label, an address block."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    at = next((k for k, (a, b) in enumerate(spans) if a <= start < b), None)
    if at is None:
        return start, end
    return spans[max(0, at - lines)][0], spans[min(len(spans) - 1, at + lines)][1]


def _speakers(text: str) -> list[tuple[int, int]]:
    """The names of the lines that open with a speaker's name and a colon, where at least two
    do ('Ann: Who are you?' / 'Bo: Her son.'): a conversation, whose people are private."""
    spans = [
        m.span(1) for m in _SPEAKER_LINE.finditer(text) if not _NOT_A_SPEAKER.fullmatch(m.group(1))
    ]
    return spans if len(spans) >= 2 else []


def _transcript(text: str) -> frozenset[int]:
    return frozenset(a for a, _ in _speakers(text))


def speaker_names(text: str) -> list[tuple[int, int]]:
    """The speakers of a conversation (:func:`_speakers`) whose name is a listed name or a
    word English does not know ('Ubul: What a wife.' / 'Nicole: Remember me?'), not a
    label ('Pros:', 'Ingredients:')."""
    names, first = name_words(), first_names()
    spans = _speakers(text)
    said = [
        len(text[b : text.find("\n", b) if "\n" in text[b:] else len(text)].split()) - 1
        for _, b in spans
    ]
    if sum(n >= 3 for n in said) * 2 < len(said):
        return []  # a list of labels and values ('Beer: alcoholic'), not a conversation
    return [
        (a, b)
        for a, b in spans
        if _name_like(text[a:b])
        and (
            _bare(_words(text[a:b])[0]) in first
            or english_zipf(_words(text[a:b])[0].lower()) < UNKNOWN_NAME_ZIPF
        )
        and re.fullmatch(r"[^\W\d_]+(?:[ '’.-]+[^\W\d_]+)*\.?", text[a:b])
        and not any(_calendar_word(w) for w in _words(text[a:b]))
        and all(
            (_bare(w) in names and english_zipf(w.lower()) < 5.0)
            or english_zipf(w.lower()) < UNKNOWN_NAME_ZIPF
            for w in _words(text[a:b])
        )
    ]


def _personal_name_words(
    words: list[str], *, first: frozenset[str], rare: float = UNKNOWN_NAME_ZIPF
) -> bool:
    """Words that make a person's name: the first a listed first name or a word English does
    not know, each a listed name, an initial or rarer than ``rare``, none a place's whole
    name."""
    names = name_words()
    return (
        bool(words)
        and not any(_code_like(w) or re.search(r"[\d_]", w) for w in words)
        and not any(_calendar_word(w) for w in words)
        and (_bare(words[0]) in first or english_zipf(words[0].lower()) < UNKNOWN_NAME_ZIPF)
        and all(
            (_bare(w) in names and english_zipf(w.lower()) < 5.0)
            or english_zipf(w.lower()) < rare
            or re.fullmatch(r"[^\W\d_]\.?", w) is not None
            for w in words
        )
        and " ".join(words) not in place_names()
    )


@functools.lru_cache(maxsize=1)
def _folded_places() -> frozenset[str]:
    return frozenset(p.casefold() for p in place_names())


def record_heading_names(text: str, contact: list[RecognizerResult]) -> list[tuple[int, int]]:
    """A line that is a person's name alone ('Dana K Horáková', '>Ingrid Solberg', 'tom
    baker'), heading a record (the text's first line, or after a blank line) or just above a
    contact detail, in a block of lines that holds a phone number, an e-mail or a street
    address: a contact card, a letterhead, an address label. A short label of a name, its
    town and its country ('Erik Lund' / 'Bergen' / 'Norway') is one too."""
    lines = [m.span() for m in re.finditer(r"[^\n]*\S[^\n]*", text)]
    if not contact and 2 <= len(lines) <= 5:
        rows = [text[a:b].strip(_LINE_MARKS) for a, b in lines]
        if rows[-1].casefold() in _folded_places() and all(len(r.split()) <= 5 for r in rows):
            contact = [RecognizerResult("LOCATION", *lines[-1], 1.0)]  # the label's place
    if not contact:
        return []
    first = first_names()
    out = []
    for k, (a, b) in enumerate(lines):
        raw = text[a:b]
        value = raw.strip(_LINE_MARKS)
        if not value:
            continue
        start = a + raw.index(value)
        end = start + len(value)
        words = value.split()
        if not 2 <= len(words) <= 4 or any(c.start < end and start < c.end for c in contact):
            continue
        heads = k == 0 or text[lines[k - 1][1] : a].count("\n") >= 2
        above = k + 1 < len(lines) and any(
            c.start < lines[k + 1][1] and lines[k + 1][0] < c.end for c in contact
        )
        if not (heads or above):
            continue
        block_a, block_b = _block_around(text, start, end)
        if not any(c.start < block_b and block_a < c.end for c in contact):
            continue
        if all(re.fullmatch(r"[^\W\d_][\w'’-]*\.?", w) for w in words) and (
            _personal_name_words(words, first=first, rare=HEADING_NAME_ZIPF)
        ):
            out.append((start, end))
    return out


_ADDRESSING_TYPES = frozenset({"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS"})


def contact_sentence_names(
    text: str, contact: list[RecognizerResult], sentences: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """In text of mixed case, the capitalized names in a sentence that gives a phone number,
    an e-mail or a street address ('Paul lives on 12 Elm Road.', 'Tom had given
    Ann his address: ...'): whose contact detail it is."""
    if mostly_lower(text) or mostly_upper(text):
        return []
    first = first_names()
    addressing = [c for c in contact if c.entity_type in _ADDRESSING_TYPES]
    out = []
    for a, b in sentences:
        if not any(c.start < b and a < c.end for c in addressing):
            continue
        for m in re.finditer(
            r"[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’-]*(?:[ \t]+[A-ZÀ-ÖØ-ÞĀ-Ž][\w'’.-]*){0,2}", text[a:b]
        ):
            start, end = a + m.start(), a + m.end()
            if any(c.start < end and start < c.end for c in contact):
                continue
            if _personal_name_words(m.group(0).split(), first=first):
                out.append((start, end))
    return out


_LIST_WORD = r"[^\W\d_][\w'’-]*"
_NAME_LIST = re.compile(
    rf"(?<![\w,] )({_LIST_WORD})((?:[ \t]*,[ \t]*(?:and[ \t]+)?{_LIST_WORD}|[ \t]+(?:and|&)"
    rf"[ \t]+{_LIST_WORD}){{2,}})"
)


def given_name_lists(text: str) -> list[tuple[int, int]]:
    """The items of lists of three or more given names ('They had 3: Ann, Bo and Cy'): a
    family, a class or a team, private people, where public figures are listed by full name.
    Most items must be listed first names and none a common English word."""
    first = first_names()
    out = []
    for m in _NAME_LIST.finditer(text):
        items = [
            (w.start() + m.start(), w.end() + m.start())
            for w in re.finditer(_LIST_WORD, m.group(0))
            if w.group(0).lower() not in ("and",)
        ]
        words = [text[a:b] for a, b in items]
        listed = sum(_bare(w) in first for w in words)
        nxt = re.match(r"[ \t]+([^\W\d_][\w'’-]*)", text[m.end() :])
        if nxt and (
            nxt.group(1)[:1].isupper()
            if not mostly_upper(text) and not mostly_lower(text)
            else (_bare(nxt.group(1)) in name_words() or english_zipf(nxt.group(1).lower()) < 3.0)
        ):
            continue  # the last item runs on into a surname: full names ('Gallo, Morgan and
            # Frank Ruscetti'), as public figures are listed
        if (
            len(items) >= 3
            and listed * 3 >= len(items) * 2
            and all(english_zipf(w.lower()) < 5.0 for w in words)
            and (mostly_lower(text) or all(w[:1].isupper() for w in words))
        ):
            out.extend(items)
    return out


def _unknown_name(value: str) -> bool:
    """No word of the name is one English text knows ('Fiammetta Zetticci', not 'Mozart'),
    and it is no city's ('Basel's historic city center')."""
    words = [w for w in _words(value) if len(w.strip(".")) > 1]
    bare = re.sub(r"(?:['’][sS]|(?<=[sS])['’])$", "", " ".join(words))
    return (
        bool(words)
        and all(english_zipf(w.lower()) < UNKNOWN_NAME_ZIPF for w in words)
        and bare not in place_names()
    )


def private_name_reason(text: str, r: RecognizerResult, ctx: dict) -> str | None:
    """Why the name at ``r`` is a private person's, or None where nothing says so."""
    value = text[r.start : r.end]
    before = text[max(0, r.start - 60) : r.start]
    after = text[r.end : r.end + 60]
    if _PRIVATE_TITLE.search(before):
        return "title"
    if _introduced(before, after):
        return "introduced"
    if ctx["contact_near"](r):
        return "contact"
    if _FIELD_BEFORE.search(before):
        return "field"
    if r.start in ctx["speakers"]:
        return "speaker"
    if any(a <= r.start < b for a, b in ctx["signed"]):
        return "sign-off"
    a, b = _sentence_of(ctx["sentences"], r.start, r.end)
    sentence = text[a:b]
    if _PERSONAL.search(sentence):
        return "personal"
    if _RECORD.search(sentence) and _SELF.search(sentence):
        return "record"
    if _ASKED_ABOUT.search(text[a : r.start]) or _NAMED_BEFORE.search(before):
        return "asked"
    clause_start = not text[a : r.start].strip(" \t\"'“>*-")
    if (clause_start and _VOCATIVE_AFTER.match(after)) or (
        _VOCATIVE_BEFORE.search(before) and re.match(r"\s*[?!]", after)
    ):
        return "vocative"
    if any(s <= r.start < e for s, e in ctx["exchanges"]):
        return "exchange"
    if any(s <= r.start < e for s, e in ctx["given_names"]):
        return "given-names"
    if _unknown_name(value) and not ctx["encyclopedic"] and not _name_as_term(text, r):
        return "unknown"
    return None


def _name_as_term(text: str, r: RecognizerResult) -> bool:
    """A name used as a term of general knowledge, not to speak of a person: after 'the' and
    before an ordinary word ('the Edman degradation', 'the Gallo group'), or with an epithet
    ('Harlon the Hunter'). One word, a surname, in writing that does not speak of oneself
    ('the Petersson novel, I suppose' is a person's)."""
    if " " in text[r.start : r.end].strip() or _SELF.search(text):
        return False
    before = text[max(0, r.start - 5) : r.start]
    after = re.match(r"\s+(the\s+)?([^\W\d_][\w'’-]*)", text[r.end : r.end + 40])
    if not after:
        return False
    word = after.group(2)
    cased = not mostly_lower(text) and not mostly_upper(text)
    common = len(word) >= 3 and english_zipf(word.lower()) >= 3.0
    if after.group(1):  # an epithet: capitalized in cased text
        return common and (not cased or (after.group(1).islower() and word[:1].isupper()))
    return (
        re.search(r"(?i)\bthe\s+$", before) is not None and common and (word.islower() or not cased)
    )


def _cued_name(text: str, r: RecognizerResult) -> bool:
    """A name right after a field label or an introduction ('Name: Ann Lee',
    'my name is ...'): capitalized words (or all in one case), no digit or code, none a
    common English word unless a listed name; what :func:`_name_like` asks is looser here."""
    before = text[max(0, r.start - 60) : r.start]
    after = text[r.end : r.end + 60]
    if not (_FIELD_BEFORE.search(before) or _introduced(before, after)):
        return False
    words = _words(text[r.start : r.end])
    names = name_words()
    cased = not mostly_lower(text) and not mostly_upper(text)
    return (
        0 < len(words) <= 4
        and not re.search(r"\d", text[r.start : r.end])
        and not any(_code_like(w) for w in words)
        and " ".join(words) not in place_names()
        and all(
            (not cased or w[:1].isupper())
            and (_bare(w) in names or english_zipf(w.lower()) < 4.0 or len(w.rstrip(".")) == 1)
            for w in words
        )
    )


def _name_like(value: str) -> bool:
    """Looser than :func:`_name_shaped`, for places that call for a name (a signature, a
    'Name:' field): no word written like code or holding a digit, each a listed name or
    rare in English ('Shintarou Hamaguchi')."""
    words = _words(value)
    names = name_words()
    return (
        bool(words)
        and not re.search(r"\d", value)
        and not any(_code_like(w) for w in words)
        and all(
            _bare(w) in names or english_zipf(w.lower()) < 3.0 or len(w.rstrip(".")) == 1
            for w in words
        )
    )


_GIVEN_NAME_RULE = "GivenNameListRule"
_SIGN_OFF_RULE = "SignOffRule"
# a message's closing line, blank lines, then the writer's name alone on the last line
_SIGN_OFF = re.compile(
    r"(?im)^[ \t]*(?:thank you|thanks|many thanks|thanks again|best regards|kind regards|"
    r"warm regards|regards|sincerely|yours sincerely|yours truly|yours|cheers|best wishes|"
    r"best|warmly|love)[ \t]*[,!.]?[ \t]*\n(?:[ \t]*\n){1,2}[ \t]*"
    r"([^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,2})[ \t]*\.?\s*\Z"
)


def sign_off_names(text: str) -> list[tuple[int, int]]:
    """The name that signs a message after a closing line and a blank line ('Thank
    you,\n\nKevin'): what the name cue misses when a blank line stands between."""
    m = _SIGN_OFF.search(text)
    if m is None or not _name_like(m.group(1)) or english_zipf(m.group(1).lower()) >= 5.0:
        return []
    return [m.span(1)]


_RECOGNIZER_NAME = RecognizerResult.RECOGNIZER_NAME_KEY


def _cue_name(text: str, value: str, start: int) -> bool:
    """What follows a cue ('this is', 'hey') is a name: capitalized in text of mixed case
    ('This is Ann', not 'This is exemplified', 'Hey ho buddy')."""
    first = _words(value)[:1]
    if not first:
        return False
    word = first[0]
    if not mostly_lower(text) and not mostly_upper(text):
        return word[:1].isupper()
    # one case: after 'my name is' the recognizer's test stands (a listed name or a rare
    # word); after a greeting or 'this is', a listed name or a word English does not know
    if not _WEAK_CUE.search(text[max(0, start - 12) : start]):
        return True
    return _bare(word) in name_words() or english_zipf(word.lower()) < UNKNOWN_NAME_ZIPF


# a name given for oneself or asked for: 'my name is', 'call me', "What's your name? Ann"
_INTRO_BEFORE = re.compile(
    r"(?i)(?:\b(?:my|his|her|their|your)\s+(?:(?:full|first|last|given|family|middle|maiden|sur)"
    r"\s*)?name(?:\s+is|\s+was|['’]s)|\b(?:calls?|called)\s+(?:me|him|her)|"
    r"\bwhat(?:['’]s|\s+is|\s+was)\s+(?:your|his|her|their)\s+(?:(?:full|first|last|given|"
    r"family|middle|maiden|sur)\s*)?name\s*\?)[ \t]*:?[ \t]*$"
)
# 'I'm Ann Lee, ...': a name after 'I am' that ends its clause
_SELF_INTRO_BEFORE = re.compile(r"(?i)(?:^|[.!?\n]\s*|\b(?:hi|hello|hey),?\s+)i(?:\s+am|['’]m)\s+$")
_RELATION_BEFORE = re.compile(
    rf"(?i)\b(?:my|our|your|his|her|their)\s+(?:(?:late|dear|older|younger|little|big|step|"
    rf"ex|grand|best|new|old)[- ]?)*(?:{_REL})\s*,?\s*$"
)


def _introduced(before: str, after: str) -> bool:
    """The name is given for oneself or another: 'my name is Ann', 'calls me Bo', "What's your
    name? Ann Lee", "I'm Ann Lee, from ..." (not "I'm Mozart's biggest fan")."""
    return bool(
        _INTRO_BEFORE.search(before)
        or (_SELF_INTRO_BEFORE.search(before) and re.match(r"\s*(?:[,.!;\n]|$)", after))
    )


_WEAK_CUE = re.compile(r"(?i)\b(?:this is|hi|hello|hey|i am|i'm|i’m)[ \t]*\n?[ \t]*$")


_BORN_BEFORE = re.compile(r"(?i)\bborn(?:\s+on)?\s*(?:is|was|:|-)?\s*(?:on\s+)?$")


def _public_birth_date(text: str, r: RecognizerResult, ctx: dict) -> bool:
    """A date after 'born' in reference text, or in a sentence that speaks of a third person
    with nothing personal around it ('Scarlett Johansson was born November 22, 1984.'), is
    public knowledge; one after 'DOB', 'date of birth' or 'birthday', or about oneself, one's
    family or one's contact details, is not."""
    if not _BORN_BEFORE.search(text[max(0, r.start - 20) : r.start]):
        return False  # a label: 'DOB: 4/12/1987', 'birthday is'
    if ctx["encyclopedic"]:
        return True
    a, b = _sentence_of(ctx["sentences"], r.start, r.end)
    sentence = text[a:b]
    return not (
        _SELF.search(sentence)
        or _PERSONAL.search(sentence)
        or _RECORD.search(sentence)
        or re.search(r"(?i)\byou(?:r|'re|’re)?\b", sentence)
        or ctx["contact_near"](r)
        or _FIELD_BEFORE.search(text[max(0, r.start - 60) : r.start])
    )


def personal_context_filter(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep names only where the text is about a private person (:func:`private_name_reason`),
    and public types not at all (unless a cue introduced them, as for a date of birth);
    everything else passes."""
    results = [_fitted(text, r) for r in results]
    results = [r for r in results if not _not_an_identifier(text, r)]
    contact = [r for r in results if r.entity_type in _CONTACT_TYPES]
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    added = [
        *((a, b, "RecordHeadingRule") for a, b in record_heading_names(text, contact)),
        *(
            (a, b, "ContactSentenceRule")
            for a, b in contact_sentence_names(text, contact, sentences)
        ),
        *((a, b, "SpeakerRule") for a, b in (speaker_names(text) if ":" in text else [])),
    ]
    for a, b, rule in added:  # a name the record's shape vouches for, over any weaker find
        if any(
            r.start < b and a < r.end and r.entity_type not in ("PERSON", "LOCATION")
            for r in results
        ):
            continue
        results = [
            r
            for r in results
            if not (r.start < b and a < r.end and r.entity_type in ("PERSON", "LOCATION"))
        ]
        results.append(RecognizerResult("PERSON", a, b, 0.6, None, {_RECOGNIZER_NAME: rule}))

    def contact_near(r: RecognizerResult) -> bool:
        if _on_own_line(text, r):
            a, b = _block_around(text, r.start, r.end)
        else:
            a, b = _sentence_of(sentences, r.start, r.end)
        return any(c.start < b and c.end > a for c in contact)

    given = given_name_lists(text) if "," in text else []
    covered = {(r.start, r.end) for r in results if r.entity_type in ("PERSON", "LOCATION")}
    for a, b in given:  # list items no recognizer found
        if (a, b) not in covered and not any(r.start < b and a < r.end for r in results):
            results.append(
                RecognizerResult("PERSON", a, b, 0.5, None, {_RECOGNIZER_NAME: _GIVEN_NAME_RULE})
            )
    signed = sign_off_names(text) if "\n" in text else []
    for a, b in signed:
        if not any(r.start < b and a < r.end for r in results):
            results.append(
                RecognizerResult("PERSON", a, b, 0.6, None, {_RECOGNIZER_NAME: _SIGN_OFF_RULE})
            )
    people = sorted(
        (r for r in results if r.entity_type == "PERSON" or (r.start, r.end) in set(given)),
        key=lambda r: r.start,
    )
    exchanges = [
        (p.start, q.end)
        for p, q in itertools.pairwise(people)
        if _EXCHANGE_AFTER.match(text[p.end : q.start])
        and (
            re.match(rf"(?i)\s*{_SPEECH_VERB}", text[p.end : q.start])
            or re.search(rf"(?i){_SPEECH_VERB}\s*$", text[max(0, p.start - 20) : p.start])
        )
    ]
    ctx = {
        "sentences": sentences,
        "speakers": _transcript(text) if ":" in text else frozenset(),
        "contact_near": contact_near,
        "exchanges": exchanges,
        "given_names": given,
        "encyclopedic": encyclopedic(text),
        "signed": signed,
    }
    out = []
    for r in results:
        name = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
        value = text[r.start : r.end]
        if name == "NameCueRecognizer" and not _cue_name(text, value, r.start):
            continue
        if name in CUE_RECOGNIZERS:
            if not any(_code_like(w) for w in _words(value)):  # not 'AnnaLuxe'
                out.append(r)
            continue
        if name == "BirthDateRecognizer" and _public_birth_date(text, r, ctx):
            continue
        if (r.start, r.end) in given and r.entity_type == "LOCATION":  # 'Teresa', 'Anna'
            r = RecognizerResult("PERSON", r.start, r.end, r.score, None, r.recognition_metadata)
        if r.entity_type == "LOCATION" and _named_relative(text, r):  # 'my kid Florence'
            r = RecognizerResult("PERSON", r.start, r.end, r.score, None, r.recognition_metadata)
        if r.entity_type in PUBLIC_TYPES and name != "BirthDateRecognizer":
            continue
        if r.entity_type != "PERSON":
            out.append(r)
            continue
        if any(c.isdigit() for c in value):
            continue  # a person's name holds no digit: a title or product ('Mario Kart 8')
        if _SHIP.match(value):
            continue  # a ship's name ('laid down as SS War Agate')
        if _in_template_slot(text, r):
            continue  # a template's slot: 'Dear [Recipient's Name],'
        if any(c.start <= r.start and r.end <= c.end for c in contact):
            continue  # part of an address or e-mail address, which is removed whole
        shaped = _name_shaped(value)
        if not shaped and not _name_like(value) and not _cued_name(text, r):
            continue
        reason = private_name_reason(text, r, ctx)
        if reason is not None and (shaped or reason != "unknown"):
            if r.recognition_metadata is not None:
                r.recognition_metadata["private_because"] = reason
            out.append(r)
    return out


_SLOT = re.compile(r"\[[^\[\]\n]{0,40}\b(?:name|names)\b[^\[\]\n]{0,20}\]", re.I)


def _in_template_slot(text: str, r: RecognizerResult) -> bool:
    """The detection lies inside a bracketed slot that asks for a name ('[Your Name]')."""
    return any(
        m.start() <= r.start and r.end <= m.end()
        for m in _SLOT.finditer(text, max(0, r.start - 45), min(len(text), r.end + 25))
    )


# a ship's prefix; not 'MS', which may be a title written in capitals ('MS SMITH')
_SHIP = re.compile(r"(?:SS|USS|HMS|HMAS|HMCS|RMS|MV|USNS|USCGC)\s+[A-Z]")


def _fitted(text: str, r: RecognizerResult) -> RecognizerResult:
    """A name found across a line break ('Ann Lee\n\nAudio-books') cut to its first
    line; an address fitted to the address (:func:`_fit_address`)."""
    if r.entity_type == "STREET_ADDRESS":
        return _fit_address(text, r)
    value = text[r.start : r.end]
    if r.entity_type == "PERSON" and "\n" in value.strip():
        lead = len(value) - len(value.lstrip())
        line = value.lstrip().split("\n", 1)[0].rstrip(_LINE_MARKS)
        return _with_span(r, r.start + lead, r.start + lead + len(line))
    if r.entity_type == "PERSON" and (mostly_lower(text) or mostly_upper(text)):
        # in text of one case, a given name ('my name is ann vandermeer') runs on over the
        # words after it that are names too: listed, or rare in English
        before = text[max(0, r.start - 60) : r.start]
        if _introduced(before, text[r.end : r.end + 60]) or _FIELD_BEFORE.search(before):
            end, names = r.end, name_words()
            while len(_words(text[r.start : end])) < 4:
                m = re.match(r"[ \t]([^\W\d_][\w'’-]*)", text[end:])
                if not m or not (
                    _bare(m.group(1)) in names or english_zipf(m.group(1).lower()) < 3.0
                ):
                    break
                end += m.end()
            if end > r.end:
                return _with_span(r, r.start, end)
    return r


def _named_relative(text: str, r: RecognizerResult) -> bool:
    """A place's name that is a person's here: after a relative ('my kid Florence') or a cue
    that gives a name ('everyone calls me Borna')."""
    words = _words(text[r.start : r.end])
    before = text[max(0, r.start - 60) : r.start]
    after = text[r.end : r.end + 60]
    first = first_names()
    return (
        bool(words)
        and all(_bare(w) in first or english_zipf(w.lower()) < UNKNOWN_NAME_ZIPF for w in words)
        and (_RELATION_BEFORE.search(before) is not None or _introduced(before, after))
    )


def public_names_in_record(texts: list[str], found: list[list]) -> list[list]:
    """Per field of one record, its detections less the names that a reference passage of
    the same record (:func:`encyclopedic`) holds and leaves alone: a name public there is
    public in the record's question too ('Given a reference text about Michał Rozenfeld,
    ...' above his biography). ``found`` holds detections with ``start``, ``end`` and
    ``entity_type``."""
    refs = [k for k, t in enumerate(texts) if encyclopedic(t)]
    if not refs:
        return found
    out = []
    for k, (text, dets) in enumerate(zip(texts, found, strict=True)):
        keep = []
        for d in dets:
            if d.entity_type == "PERSON" and k not in refs:
                name = re.sub(r"(?:['’][sS]|(?<=[sS])['’])$", "", text[d.start : d.end].strip())
                if len(name) >= 3 and any(_left_alone(texts[j], found[j], name) for j in refs):
                    continue
            keep.append(d)
        out.append(keep)
    return out


def _left_alone(text: str, dets: list, name: str) -> bool:
    """``name`` stands in ``text`` as a whole word, and no detection covers it anywhere."""
    spans = [m.span() for m in re.finditer(rf"(?<![^\W_]){re.escape(name)}(?![^\W_])", text)]
    return bool(spans) and not any(d.start < b and a < d.end for a, b in spans for d in dets)
