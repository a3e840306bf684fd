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
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import english_zipf, mostly_lower, mostly_upper, name_words
from provena.lexicon.clinical import KINSHIP_WORDS
from provena.pii.recognizers import _Base

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


# recognizers whose match is personal by construction: a cue word introduced the value
CUE_RECOGNIZERS = frozenset({"NameCueRecognizer", "SameValueInRecord"})
# a private person's title; 'Dr.', 'Sir', 'Lord' head public names in general text too
_PRIVATE_TITLE = re.compile(r"(?i)\b(?:mr|mrs|ms|mx|miss)\.?\s*$")
# what makes a sentence personal: speaking of oneself, greeting or signing, family, contact
_KIN = "|".join(sorted(map(re.escape, KINSHIP_WORDS), key=len)[::-1])
_PERSONAL = re.compile(
    r"(?i)(?:^\s*(?:dear|hi|hello|hey)\b|\b(?:regards|sincerely|cheers|thanks|best),?\s*$|"
    r"\b(?:my|our|your)\s+(?:(?:late|dear|older|younger|little|big|great|"
    r"step|ex|grand)[- ]?)*(?:" + _KIN + r")\b|\b(?:" + _KIN + r")\s+(?:is\s+)?(?:called|named)\b|"
    r"\b(?:my|your|his|her|their)\s+(?:full\s+|last\s+|first\s+|maiden\s+)?name\b|"
    r"\bname\s+(?:is|on|of)\b|\b(?:contact|e-?mail|phone|call|text|reach)\s+(?:me|him|her|us)\b)",
    re.M,
)
_CONTACT_TYPES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN"}
)
# public knowledge in general text: places, organisations, nationalities, ordinary dates
PUBLIC_TYPES = frozenset({"LOCATION", "ORGANIZATION", "NRP", "DATE_TIME", "URL"})
# a name that English text does not know (every word rarer than this) is a private person's
UNKNOWN_NAME_ZIPF = 2.0
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


_LIST_ITEM = re.compile(r"\d{1,3}[.)]\s")
_DATE_LIKE = re.compile(
    r"(?i)^\d{1,2}(?:st|nd|rd|th)?\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
)
_STREET_WORD = re.compile(
    r"(?i)\b(?:street|st|avenue|ave|road|rd|lane|ln|drive|dr|boulevard|blvd|way|court|ct|"
    r"place|pl|terrace|circle|parkway|highway|hwy|square|hill|apt|apartment|suite|unit|box|"
    r"floor|rue|calle|via|straße|strasse|weg|laan|straat|gatan|vej|katu|ulica|utca)\b"
)
_ADDRESS_PARTICLES = frozenset(
    "de la le du des del della di da do dos das van von der den am im an ul al rue via apt".split()  # noqa: SIM905
)
_RESERVED_EMAIL = re.compile(
    r"(?i)@(?:[\w-]+\.)*(?:example\.(?:com|org|net)|[\w-]+\.(?:example|test|invalid|localhost))$"
)


def _not_an_identifier(text: str, r: RecognizerResult) -> bool:
    """Shapes that general text is full of and no identifier has: numbered list items and
    dates read as addresses, year ranges, calendars and IDs inside links read as phone
    numbers, addresses at the reserved example domains."""
    value = text[r.start : r.end]
    if r.entity_type == "STREET_ADDRESS":
        years = re.findall(r"\b\d{3,4}\b", value)
        first_digit = re.search(r"\d", value)
        core = value[first_digit.start() :] if first_digit else value  # from the house number on
        words = re.findall(r"[^\W\d_]{2,}", core)
        lower_words = [w for w in words if w.islower() and w.lower() not in _ADDRESS_PARTICLES]
        return bool(
            # in text of mixed case, street and place names are capitalized: not 'rise in a
            # warm, draft-free place for 1-2' or '2 sets of 10 push-ups, 10'
            (
                not mostly_lower(text)
                and not mostly_upper(text)
                and len(lower_words) >= 2
                and len(lower_words) * 2 >= len(words)
            )
            or _LIST_ITEM.match(value)
            or _DATE_LIKE.match(value)
            or re.match(r"(?:uss|usns|usnv|uscgc)\s", value)  # the military prefix is upper case
            or (
                not _STREET_WORD.search(value)
                and (
                    re.search(r"[\"()]|\b(?:BCE|BC|CE|AD)\b", value)
                    or (years and all(1000 <= int(y) <= 2099 for y in years))
                )
            )
        )
    if r.entity_type == "PHONE_NUMBER":
        before = text[max(0, r.start - 1) : r.start]
        groups = re.findall(r"\d+", value)
        return bool(
            (before and (before.isalnum() or before in "/.:=_#"))
            or re.fullmatch(r"\(?(?:1[5-9]|20)\d\d\s*[-–]\s*(?:1[5-9]|20)\d\d\)?", value)
            or (len(groups) >= 3 and all(len(g) <= 2 for g in groups))
        )
    if r.entity_type == "EMAIL_ADDRESS":
        return _RESERVED_EMAIL.search(value) is not None
    return False


def _name_shaped(value: str) -> bool:
    """Some word is a listed first or last name, and none is written like code
    ('KinematicBody', 'ChatGPT')."""
    words = re.findall(r"[^\W\d_][\w'’-]*", value)
    if not words or any(re.search(r"[a-z][A-Z]", w) for w in words):
        return False
    names = name_words()
    return any(w.strip("'’").removesuffix("'s").capitalize() in names for w in words)


def personal_context_filter(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep names only in a personal context, and public types not at all (unless a cue
    introduced them, as for a date of birth); everything else passes."""
    results = [r for r in results if not _not_an_identifier(text, r)]
    contact = [r for r in results if r.entity_type in _CONTACT_TYPES]
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    out = []
    for r in results:
        name = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
        if name in CUE_RECOGNIZERS or (
            name == "TitledNameRecognizer" and _PRIVATE_TITLE.search(text[: r.start])
        ):
            if not re.search(r"[a-z][A-Z]", text[r.start : r.end]):  # not 'SophieSnazz'
                out.append(r)
            continue
        if r.entity_type in PUBLIC_TYPES and name != "BirthDateRecognizer":
            continue
        if r.entity_type not in ("PERSON", "DATE_TIME"):
            out.append(r)
            continue
        if r.entity_type == "PERSON" and not _name_shaped(text[r.start : r.end]):
            continue
        if any(c.start <= r.start and r.end <= c.end for c in contact):
            continue  # part of an address or e-mail address, which is removed whole
        a, b = _around(sentences, r.start, r.end)
        if _on_own_line(text, r):  # a signature or an address label: the lines around count
            a = text.rfind("\n", 0, max(0, text.rfind("\n", 0, r.start))) + 1
            nxt = text.find("\n", r.end + 1)
            b = len(text) if nxt < 0 else nxt
        if _PERSONAL.search(text[a:b]) or any(c.start < b and c.end > a for c in contact):
            out.append(r)
            continue
        words = [w for w in re.findall(r"[^\W\d_]+", text[r.start : r.end]) if len(w) > 1]
        if (
            r.entity_type == "PERSON"
            and words
            and all(english_zipf(w.lower()) < UNKNOWN_NAME_ZIPF for w in words)
        ):
            out.append(r)  # no public figure English text knows: 'Fiammetta Zetticci'
    return out


def _on_own_line(text: str, r: RecognizerResult) -> bool:
    start = text.rfind("\n", 0, r.start) + 1
    end = text.find("\n", r.end)
    line = text[start : len(text) if end < 0 else end]
    return line.strip(" \t,.;:-–—>*•") == text[r.start : r.end]


def _around(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The sentence holding [start, end), with the one before it."""
    for k, (a, b) in enumerate(sentences):
        if a <= start < b:
            return (sentences[k - 1][0] if k else a), max(b, end)
    return start, end
