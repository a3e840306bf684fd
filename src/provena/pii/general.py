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

import itertools
import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import english_zipf, first_names, mostly_lower, mostly_upper, name_words
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
CUE_RECOGNIZERS = frozenset({"NameCueRecognizer", "SameValueInRecord", "SignOffRule"})
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
        if _not_a_house_number(text, r, value, core):
            return True
        # the words from the house number on, or all where the number ends the value
        words = re.findall(r"[^\W\d_]{2,}", core) or re.findall(r"[^\W\d_]{2,}", value)
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
    if not words or any(re.search(r"[a-z][A-Z]", w) for w in words):
        return False
    names = name_words()
    return any(_bare(w) in names for w in words)


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
    r"\bname\s+(?:on|in)\s+(?:the|my|your|this)\b|"
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
# someone addressed by name: 'Ann, can you ...?', 'Remember me, Ann?', "Don't go, Ann!"
_VOCATIVE_AFTER = re.compile(r"^\s*,[^.!?\n]*(?:\?|!|\byou\b|\byour\b)", re.I)
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


def _transcript(text: str) -> frozenset[int]:
    """Starts of the lines that open with a speaker's name and a colon, where at least two
    do ('Ann: Who are you?' / 'Bo: Her son.'): a conversation, whose people are private."""
    starts = [
        m.start(1) for m in _SPEAKER_LINE.finditer(text) if not _NOT_A_SPEAKER.fullmatch(m.group(1))
    ]
    return frozenset(starts) if len(starts) >= 2 else frozenset()


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
    """No word of the name is one English text knows ('Fiammetta Zetticci', not 'Mozart')."""
    words = [w for w in _words(value) if len(w.strip(".")) > 1]
    return bool(words) and all(english_zipf(w.lower()) < UNKNOWN_NAME_ZIPF for w in words)


def private_name_reason(text: str, r: RecognizerResult, ctx: dict) -> str | None:
    """Why the name at ``r`` is a private person's, or None where nothing says so."""
    value = text[r.start : r.end]
    before = text[max(0, r.start - 60) : r.start]
    after = text[r.end : r.end + 60]
    if _PRIVATE_TITLE.search(before):
        return "title"
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


def _name_like(value: str) -> bool:
    """Looser than :func:`_name_shaped`, for places that call for a name (a signature, a
    'Name:' field): no word written like code or holding a digit, each a listed name or
    rare in English ('Shintarou Hamaguchi')."""
    words = _words(value)
    names = name_words()
    return (
        bool(words)
        and not re.search(r"\d|[a-z][A-Z]", value)
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
    results = [r for r in results if not _not_an_identifier(text, r)]
    contact = [r for r in results if r.entity_type in _CONTACT_TYPES]
    sentences = [(m.start(), m.end()) for m in _SENTENCE.finditer(text)]

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
            if not re.search(r"[a-z][A-Z]", value):  # not 'SophieSnazz'
                out.append(r)
            continue
        if name == "BirthDateRecognizer" and _public_birth_date(text, r, ctx):
            continue
        if (r.start, r.end) in given and r.entity_type == "LOCATION":  # 'Teresa', 'Anna'
            r = RecognizerResult("PERSON", r.start, r.end, r.score, None, r.recognition_metadata)
        if r.entity_type in PUBLIC_TYPES and name != "BirthDateRecognizer":
            continue
        if r.entity_type != "PERSON":
            out.append(r)
            continue
        if any(c.start <= r.start and r.end <= c.end for c in contact):
            continue  # part of an address or e-mail address, which is removed whole
        shaped = _name_shaped(value)
        if not shaped and not _name_like(value):
            continue
        reason = private_name_reason(text, r, ctx)
        if reason is not None and (shaped or reason != "unknown"):
            if r.recognition_metadata is not None:
                r.recognition_metadata["private_because"] = reason
            out.append(r)
    return out


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
