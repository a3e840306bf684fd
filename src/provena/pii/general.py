"""Pieces of the ``general`` profile: identifiers of private persons in general text.

What large pretraining pipelines remove from web text is contact details, secrets and ID
numbers, not the names of people, places and organisations that encyclopedic text is made of
(a model trained on 'Mozart was born in Salzburg' with both names replaced learns wrong
facts). So this profile keeps public knowledge and removes:

- :class:`SecretRecognizer`: credentials: API keys and tokens in their published formats,
  private-key blocks, passwords and secrets after a label, credentials inside a URL.
- :class:`BirthDateRecognizer`: dates of birth ('DOB: 4/12/1987', 'born on March 3, 1990').
- :func:`personal_context_filter`: names and dates count only in a personal context: after
  a cue ('my name is', 'Dear', 'Mr.'), in a sentence that speaks of oneself, one's family or
  one's contact details, or in a message (greeting, signature); a name that English text
  knows well ('Mozart', 'Marie Curie') counts only after a cue.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import english_zipf
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


def _secret_like(value: str) -> bool:
    """Not an ordinary word or a placeholder: a digit or symbol, mixed case, or rare."""
    if set(value) <= set("*xX•.-_"):
        return False  # '********', 'xxxx': already hidden
    if re.fullmatch(r"(?i)<[^>]+>|\$\{?\w+\}?|%\w+%|\{\{\s*\w+\s*\}\}|your[_-]?\w+", value):
        return False  # a placeholder or variable
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
            if m.group("quoted") or _secret_like(value.rstrip(".")):
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
CUE_RECOGNIZERS = frozenset(
    {"NameCueRecognizer", "TitledNameRecognizer", "BirthDateRecognizer", "SameValueInRecord"}
)
# what makes a sentence personal: speaking of oneself or to someone, family, contact
_PERSONAL = re.compile(
    r"(?i)\b(?:i|i'm|i’m|i've|i’ve|i'd|me|my|mine|myself|we|our|us|your|yours|dear|hi|hello|"
    r"hey|thanks|thank|regards|sincerely|cheers|call|contact|email|e-mail|phone|address|"
    r"lives?|living|moved|his|her|their|(?:"
    + "|".join(sorted(map(re.escape, KINSHIP_WORDS - {"friend", "friends"}), key=len)[::-1])
    + r"))\b"
)
_CONTACT_TYPES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "US_SSN"}
)
# a word of a public name: English text knows it well ('Mozart', 'Curie', 'Federer')
KNOWN_NAME_ZIPF = 2.5
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


def personal_context_filter(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep names and dates only in a personal context; everything else passes."""
    contact = [r for r in results if r.entity_type in _CONTACT_TYPES]
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]
    out = []
    for r in results:
        if r.entity_type not in ("PERSON", "DATE_TIME"):
            out.append(r)
            continue
        name = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
        if name in CUE_RECOGNIZERS:
            out.append(r)
            continue
        if r.entity_type == "DATE_TIME":
            continue  # dates of birth come from their own recognizer; other dates stay
        value = text[r.start : r.end]
        words = re.findall(r"[^\W\d_]+", value)
        if words and all(english_zipf(w.lower()) >= KNOWN_NAME_ZIPF for w in words[-1:]):
            continue  # 'Mozart', 'Marie Curie': a name English text knows is public
        a, b = _around(sentences, r.start, r.end)
        if _PERSONAL.search(text[a:b]) or any(c.start < b + 80 and c.end > a - 80 for c in contact):
            out.append(r)
    return out


def _around(sentences: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    """The sentence holding [start, end), with the one before it."""
    for k, (a, b) in enumerate(sentences):
        if a <= start < b:
            return (sentences[k - 1][0] if k else a), max(b, end)
    return start, end
