"""Quality filters for the clean stage: small named rules, each with its own drop reason.

:class:`Filters` compiles every rule once from ``clean.filters`` in params.yaml; its
:meth:`Filters.check` returns the first rule a record fails, as ``(rule, reason)``, or None.
Rules run cheapest first, so a record is judged by the most specific rule that applies. The
reason says what was measured against which threshold and in which field, never the text
itself (the text is in the quarantine entry).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, islice
from pathlib import Path

import ftfy.badness
import numpy as np

from provena.clean.asks import (
    Ask,
    LanguageAsk,
    about_assistant,
    about_markup,
    answer_kind,
    asks_for_verse,
    requested_language,
)
from provena.clean.langid import BatchLangid
from provena.config import CleanConfig, RepetitionRule
from provena.normalize import normalize_for_match
from provena.records import Record
from provena.tokens import load_tokenizer

#: Typed placeholders that scrub_pii writes (``<PERSON>``, ``<US_SSN>``).
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")
_CONTENT_RE = re.compile(r"[^\W_]")  # a letter or a digit
#: whole words (as str.split cuts them: \s is its whitespace) made of table rules, bullets and
#: dashes only (the look-behind after the first character lets the regex engine skip to the
#: next such character); and whole words without a letter (a letter: [^\W\d_])
_LAYOUT = r"[|:=+*•·\-–—_~]"
_LAYOUT_WORD_RE = re.compile(rf"{_LAYOUT}(?<!\S{_LAYOUT}){_LAYOUT}*(?!\S)")
_NO_LETTER_WORD_RE = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])+(?!\S)")
#: a hashtag; not a Markdown heading, a colour (#F5F5DC) or "C#"
_HASHTAG_RE = re.compile(
    r"(?<![\w#&])#(?!(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})\b)[^\W_]"
)
_HASHTAG_ASK_RE = re.compile(r"\bhash-?tags?\b", re.I)
_YES_NO = frozenset(("yes", "no", "y", "n", "yeah", "yep", "nope", "true", "false"))
#: what ``by_instruction: false`` judges every output as
_ANY = Ask("long", "any instruction (by_instruction: false)")
_CODE_RE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.S)  # fenced blocks and inline code
_HTML_TAGS = (
    "html|head|body|div|span|p|br|hr|font|table|tbody|thead|tr|td|th|ul|ol|li|b|i|u|em|strong|"
    "a|img|script|style|xml|meta|link|center|small|big|sup|sub|blockquote|pre|code|h[1-6]|iframe|"
    "form|input|button|label|select|option|textarea|nav|header|footer|section|article"
)
MARKUP_RE = re.compile(
    r"<!--|-->|<!\[|\]>"  # comments and Word's conditional blocks
    r"|</?[A-Za-z][\w.-]*:[\w.-]+[^<>]*/?>"  # namespaced tags: <o:p>, <w:WordDocument>
    rf"|</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>"  # HTML tags (scrub_pii's <PERSON> is not one)
    r"|&(?:nbsp|amp|lt|gt|quot|apos|#\d{2,6}|#x[0-9a-fA-F]{2,6});",  # entities left undecoded
    re.I,
)


def _outside_code(text: str) -> str:
    return _CODE_RE.sub(" ", text) if "`" in text else text


#: a list item's marker: "1.", "2)", "a.", "-", "*", "•", "#", "[ ]"
_MARKER_RE = re.compile(r"^\s*(?:[-*•+>]+|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)]|#{1,6}|\[[ xX]\])\s+")
#: a labelled line: "Day 1: ...", "Monday: ...", "Pros: ..."
_LABEL_RE = re.compile(r"^\s*[\w*][\w '&/().*-]{0,40}:\s*\S")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_WORD_RE = re.compile(r"\w+(?:['’]\w+)*")
#: lines and sentences shorter than this may repeat ("Chorus:", "Season: 2011", "Yes.")
UNIT_MIN_WORDS = 4
LOOP_MAX_PERIOD = 10  # longest n-gram, or run of sentences, checked for a back-to-back repeat


def _units(text: str) -> list[tuple[str, int]]:
    """The text's lines split into sentences, list markers dropped, in lower case with the
    punctuation and spacing folded (what a repeated sentence or list item is compared on),
    each with its number of words as written."""
    out = []
    ascii_only = text.isascii()
    if ascii_only:  # lower case once: per character in ASCII, and markers match either case
        text = text.lower()
    findall = _WORD_RE.findall
    for line in text.split("\n"):
        marker = _MARKER_RE.match(line)
        line = (line[marker.end() :] if marker else line).strip()
        if not line:
            continue
        for sentence in _SENTENCE_END_RE.split(line):
            words = findall(sentence if ascii_only else sentence.lower())
            if words:
                out.append((" ".join(words), len(sentence.split())))
    return out


def is_list(text: str) -> bool:
    """Three lines or more, at least half of them list items (numbered, bulleted or labelled
    "Day 1: ...") or starting with the same word (lines sharing a template)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) < 3:
        return False
    marked = sum(1 for ln in lines if _MARKER_RE.match(ln) or _LABEL_RE.match(ln))
    if marked >= 3 and 2 * marked >= len(lines):
        return True
    firsts = Counter(ln.split()[0].lower() for ln in lines)
    _, n = firsts.most_common(1)[0]
    return n >= 3 and 2 * n >= len(lines)


def _looped(items: Sequence[str]) -> list[bool]:
    """Which items repeat, right after it, a run of up to :data:`LOOP_MAX_PERIOD` items: the
    second "buy now" of "buy now buy now", the third copy of a stanza pasted three times."""
    return _looped_many([items])[0]


def _looped_many(lists: Sequence[Sequence[str]]) -> list[list[bool]]:
    """:func:`_looped` of each list, all in one numpy pass (:func:`_looped_cover`)."""
    covered, starts = _looped_cover(lists)
    covered_list = covered.tolist()
    return [covered_list[s : s + len(items)] for s, items in zip(starts, lists, strict=True)]


def _looped_chars(lists: Sequence[Sequence[str]]) -> list[int]:
    """Per list, the characters of the items that repeat back to back (:func:`_looped`), one
    more for each such item (its separator), all in one numpy pass."""
    covered, starts = _looped_cover(lists)
    flat = chain.from_iterable(lists)
    places = _places(lists)
    chars = np.zeros(len(covered) + 1, dtype=np.int64)
    chars[1:][places] = np.fromiter(map(len, flat), dtype=np.int64, count=len(places)) + 1
    chars[1:] *= covered
    total = np.cumsum(chars)
    sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    return (total[starts + sizes] - total[starts]).tolist()


def _places(lists: Sequence[Sequence[str]]) -> np.ndarray:
    """Where each item of ``lists`` lies once they are laid end to end, each followed by a gap
    of :data:`LOOP_MAX_PERIOD` places."""
    sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    n = int(sizes.sum())
    return np.arange(n) + LOOP_MAX_PERIOD * np.repeat(np.arange(len(lists)), sizes)


def _looped_cover(lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """The items of all ``lists``, and which of them repeat back to back (:func:`_looped`), in
    one numpy pass: the lists laid end to end, each followed by :data:`LOOP_MAX_PERIOD` ids
    that equal nothing, so no pair spans two lists (and a period longer than half a list finds
    no run in it, as there are too few pairs). Returns (whether each place is covered, where
    each list starts)."""
    gap = LOOP_MAX_PERIOD
    flat = list(chain.from_iterable(lists))
    index = {item: i for i, item in enumerate(dict.fromkeys(flat))}
    sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    starts = np.cumsum(sizes) - sizes + gap * np.arange(len(lists))
    total = len(flat) + gap * len(lists)
    # every place first gets an id of its own (negative: equal to nothing), then the items
    # theirs; what is left between two lists, and past the end, repeats nothing
    ids = -1 - np.arange(total + gap, dtype=np.int64)
    ids[_places(lists)] = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    # same[k - 1, m]: item m + k repeats item m; a last column of False closes each row's runs
    width = total + 1
    same = np.zeros((gap, width), dtype=bool)
    for k in range(1, gap + 1):
        np.equal(ids[k : k + total], ids[:total], out=same[k - 1, :total])
    # runs of equal pairs, per period: from m0 (included) to m1 (excluded)
    at = np.flatnonzero(same)
    breaks = np.flatnonzero(np.diff(at) != 1)
    first = at[np.concatenate(([0], breaks + 1))] if len(at) else at
    last = at[np.concatenate((breaks, [len(at) - 1]))] if len(at) else at
    period, m0 = np.divmod(first, width)
    m1 = last + 1 - period * width
    k = period + 1
    run = m1 - m0 >= k  # a run of >= k equal pairs: items m0 + k .. m1 + k repeat with period k
    delta = np.bincount(m0[run] + k[run], minlength=total + 1) - np.bincount(
        m1[run] + k[run], minlength=total + 1
    )
    return np.cumsum(delta[:total]) > 0, starts


@dataclass
class Loops:
    """What the repetition rule measures a text on: its units (:func:`_units`, with their
    words as written), and the characters of the units and of their words that repeat back
    to back (:func:`_looped`, one more per item)."""

    pairs: list[tuple[str, int]]
    unit_chars: int
    word_chars: int


def _loops_many(texts: Sequence[str]) -> list[Loops]:
    pairs = [_units(text) for text in texts]
    units = [[u for u, _ in p] for p in pairs]
    chars = _looped_chars([x for us in units for x in (us, " ".join(us).split())])
    return [Loops(p, chars[2 * i], chars[2 * i + 1]) for i, p in enumerate(pairs)]


def repetition_problem(
    text: str, rule: RepetitionRule, verse: bool = False, loops: Loops | None = None
) -> str | None:
    """Degenerate repetition in ``text``: sentences or list items that repeat earlier ones, and
    loops (an n-gram or a run of sentences repeated back to back); Gopher's n-gram shares (Rae
    et al. 2021, table A1, as datatrove computes them) where params set them, on prose only.
    ``verse``: the instruction asks for a song or a poem, whose chorus may repeat. ``loops``:
    ``text``'s, when computed beforehand for a batch (:func:`_loops_many`)."""
    words = text.split()
    if len(words) < rule.min_words:
        return None
    lp = loops or _loops_many([text])[0]
    pairs = lp.pairs
    units = [u for u, _ in pairs]
    total = sum(len(u) + 1 for u in units) or 1
    counted = [u for u, n in pairs if n >= UNIT_MIN_WORDS]
    if counted and not verse:
        seen: set[str] = set()
        n = chars = 0
        for u in counted:
            if u in seen:
                n += 1
                chars += len(u) + 1
            else:
                seen.add(u)
        if n / len(counted) > rule.max_dup_line_share:
            share = n / len(counted)
            return f"repeated sentences or lines {share:.2f} > {rule.max_dup_line_share}"
        if chars / total > rule.max_dup_line_char_share:
            share = chars / total
            return (
                f"characters in repeated sentences or lines {share:.2f} > "
                f"{rule.max_dup_line_char_share}"
            )
    looped, looped_words = lp.unit_chars, lp.word_chars
    share = max(looped / total, looped_words / total)
    if share > rule.max_loop_char_share:
        return f"back-to-back repeats cover {share:.2f} of characters > {rule.max_loop_char_share}"
    if (rule.max_top_ngram_char_share or rule.max_dup_ngram_char_share) and not is_list(text):
        return _gopher_ngrams(words, rule)
    return None


def _gopher_ngrams(words: list[str], rule: RepetitionRule) -> str | None:
    word_chars = sum(len(w) for w in words)
    for n, limit in sorted(rule.max_top_ngram_char_share.items()):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        if not grams:
            continue
        top, count = grams.most_common(1)[0]
        if count > 1:
            share = sum(len(w) for w in top) * count / word_chars
            if share > limit:
                return f"most frequent {n}-gram covers {share:.2f} of characters > {limit}"
    for n, limit in sorted(rule.max_dup_ngram_char_share.items()):
        if len(words) < n:
            continue
        covered = [False] * len(words)
        seen: set[tuple[str, ...]] = set()
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if gram in seen:
                for j in range(i, i + n):
                    covered[j] = True
            else:
                seen.add(gram)
        share = sum(len(w) for w, c in zip(words, covered, strict=True) if c) / word_chars
        if share > limit:
            return f"duplicate {n}-grams cover {share:.2f} of characters > {limit}"
    return None


class Filters:
    """The enabled rules of ``cfg.filters``, compiled once; cheap to call per record."""

    def __init__(self, cfg: CleanConfig, root: Path | None = None):
        self.cfg = cfg
        self.f = cfg.filters
        self.root = root or Path.cwd()
        self._refusals = [re.compile(p, re.I) for p in self.f.refusal.patterns]
        self._disclaimers = [re.compile(p, re.I) for p in self.f.refusal.disclaimers]
        self._declines = [re.compile(p, re.I) for p in self.f.refusal.declines]
        self._non_answers = frozenset(a.strip().lower() for a in self.f.short_output.non_answers)
        self._scrubbed = False
        # measured beforehand for a batch by check_many, by text: the repetition rule's
        # loops, the language rule's (language, probability) per (text, languages allowed)
        self._loops: dict[str, Loops] = {}
        self._found: dict[tuple[str, tuple[str, ...]], tuple[str, float] | None] = {}
        order: list[tuple[str, Callable[[Record, str], str | None]]] = [
            ("empty_output", self._empty_output),
            ("short_output", self._short_output),
            ("placeholder_only", self._placeholder_only),
            ("echo", self._echo),
            ("refusal", self._refusal),
            ("mojibake", self._mojibake),
            ("markup", self._markup),
            ("over_long", self._over_long),
            ("characters", self._characters),
            ("repetition", self._repetition),
            ("language", self._language),
        ]
        self.rules = [(name, fn) for name, fn in order if getattr(self.f, name).enabled]
        if self.f.over_long.enabled and self.f.over_long.tokenizer:
            _ = self.tokenizer  # fail early, with the path, if it cannot be loaded

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.rules]

    def text(self, rec: Record) -> str:
        return "\n\n".join(rec[f] for f in self.cfg.fields if rec.get(f))

    def check(self, rec: Record, scrubbed: bool = False) -> tuple[str, str] | None:
        """The first rule ``rec`` fails, as (rule, reason), or None. ``scrubbed``: scrub_pii
        replaced something in its output (its ledger says so), so the output's length is not
        the one it had."""
        joined = self.text(rec)
        self._scrubbed = scrubbed or bool(PLACEHOLDER_RE.search(rec["output"]))
        for name, fn in self.rules:
            reason = fn(rec, joined)
            if reason is not None:
                return name, reason
        return None

    def check_many(
        self, records: Sequence[Record], scrubbed: Sequence[bool]
    ) -> list[tuple[tuple[str, str] | None, str]]:
        """:meth:`check` for each record of a batch, with its joined text: (first failed rule
        or None, text). The same answers, faster: the rules run one after the other over the
        records still alive, and the costly ones first measure all of those at once (the
        repetition rule's back-to-back repeats, the language rule's
        :class:`~provena.clean.langid.BatchLangid`)."""
        joined = [self.text(rec) for rec in records]
        flags = [
            pii or bool(PLACEHOLDER_RE.search(rec["output"]))
            for rec, pii in zip(records, scrubbed, strict=True)
        ]
        failed: list[tuple[str, str] | None] = [None] * len(records)
        alive = list(range(len(records)))
        prepare = {"repetition": self._prepare_repetition, "language": self._prepare_language}
        try:
            for name, fn in self.rules:
                if name in prepare:
                    prepare[name]([records[i] for i in alive], [joined[i] for i in alive])
                still = []
                for i in alive:
                    self._scrubbed = flags[i]
                    reason = fn(records[i], joined[i])
                    if reason is None:
                        still.append(i)
                    else:
                        failed[i] = (name, reason)
                alive = still
        finally:
            self._loops.clear()
            self._found.clear()
        return list(zip(failed, joined, strict=True))

    def _prepare_repetition(self, records: list[Record], joined: list[str]) -> None:
        r = self.f.repetition
        texts = {
            rec[f]: None
            for rec in records
            for f in self.cfg.fields
            if len(rec[f].split()) >= r.min_words
        }
        self._loops.update(zip(texts, _loops_many(list(texts)), strict=True))

    def _prepare_language(self, records: list[Record], joined: list[str]) -> None:
        keys: dict[tuple[str, tuple[str, ...]], str | None] = {}
        for rec, text in zip(records, joined, strict=True):
            query = self._language_query(rec, text)
            if query is not None:
                keys[query[0], tuple(query[1])] = self._judged(query[0])
        asked = [(key, judged) for key, judged in keys.items() if judged is not None]
        found = self._batch_langid.classify(
            [judged for _, judged in asked],
            [key[1] for key, _ in asked],
            below=self.f.language.min_confidence,
        )
        self._found.update(dict.fromkeys(keys))
        self._found.update(zip([key for key, _ in asked], found, strict=True))

    def ask(self, rec: Record) -> Ask:
        """What the record's instruction asks for (:func:`provena.clean.asks.answer_kind`)."""
        return answer_kind(rec["instruction"]) if self.f.short_output.by_instruction else _ANY

    # ----------------------------------------------------------------------------- the rules

    def _empty_output(self, rec: Record, joined: str) -> str | None:
        return None if rec["output"].strip() else "output is empty"

    def _short_output(self, rec: Record, joined: str) -> str | None:
        r, out = self.f.short_output, rec["output"].strip()
        ask = self.ask(rec)
        bare = out.strip(" \t\n.,;:!?\"'`()[]{}*_-").lower()
        if bare in self._non_answers | _YES_NO and _names(rec["instruction"], bare):
            return None  # "Reply OK if ...", "Say yes or no.": the instruction offers it
        if bare in self._non_answers:
            return f"output {_quote(out)} answers nothing (instruction: {ask.what})"
        if len(out) < r.min_chars and not _CONTENT_RE.search(out):  # "{}", ".", "-" (not ASCII art)
            return f"output {_quote(out)} has no letter or digit (instruction: {ask.what})"
        if ask.wh and bare in _YES_NO:
            return f"a bare {_quote(out)} does not answer {ask.what}"
        if ask.kind != "long" or self._scrubbed:
            # a short answer may be right; a scrubbed output's length is not the one it had
            return None
        if len(out) < r.min_chars:
            return f"output has {len(out)} characters < {r.min_chars} (instruction: {ask.what})"
        if len(out.split()) < r.min_words:
            return f"output has {len(out.split())} words < {r.min_words} (instruction: {ask.what})"
        return None

    def _placeholder_only(self, rec: Record, joined: str) -> str | None:
        out = rec["output"]
        if PLACEHOLDER_RE.search(out) and not re.sub(r"\W", "", PLACEHOLDER_RE.sub("", out)):
            # where a name, a date or a number is asked for, the placeholder stands for it
            ask = self.ask(rec)
            if ask.kind == "long":
                return f"output holds only scrubbed-PII placeholders (instruction: {ask.what})"
        return None

    def _echo(self, rec: Record, joined: str) -> str | None:
        out = normalize_for_match(rec["output"])
        for f in ("instruction", "input"):
            if rec[f].strip() and out == normalize_for_match(rec[f]):
                return f"output repeats the {f}"
        return None

    def _refusal(self, rec: Record, joined: str) -> str | None:
        if about_assistant(rec["instruction"]):
            return None  # "Are you conscious?": "I'm an AI" is the answer, not a disclaimer
        out = rec["output"]
        for rx in self._refusals:
            if rx.search(out):
                return f"canned refusal in output (pattern {rx.pattern!r})"
        said = next((m for rx in self._disclaimers if (m := rx.search(out))), None)
        if said is None:
            return None  # no disclaimer: "I cannot recommend a dose" is advice, not a refusal
        declined = next((m for rx in self._declines if (m := rx.search(out))), None)
        if declined is not None:
            return f"AI disclaimer {said.group(0)!r} declining the request ({declined.group(0)!r})"
        return None

    def _mojibake(self, rec: Record, joined: str) -> str | None:
        for f in self.cfg.fields:
            text = rec[f]
            lost = text.count("\ufffd")
            if lost:
                return f"{lost} replacement characters (U+FFFD) in {f}: text was lost before ingest"
            if not text.isascii() and ftfy.badness.is_bad(text):
                return f"mojibake left in {f} (ftfy could not repair it)"
        return None

    def _markup(self, rec: Record, joined: str) -> str | None:
        if about_markup(rec["instruction"]):
            # "Write the HTML for ...", "Convert this HTML to Markdown": tags are content
            return None
        for f in self.cfg.fields:
            m = MARKUP_RE.search(_outside_code(rec[f]))
            if m:
                return f"markup left in {f} outside code: {m.group(0)[:40]!r}"
        return None

    @cached_property
    def tokenizer(self):
        raw = self.f.over_long.tokenizer
        assert raw is not None
        return load_tokenizer(raw, self.root, "clean.filters.over_long.tokenizer")

    def _over_long(self, rec: Record, joined: str) -> str | None:
        r = self.f.over_long
        if r.tokenizer:
            n = len(self.tokenizer.encode(joined, add_special_tokens=False).ids)
            if n > r.max_tokens:
                return f"{n} tokens > {r.max_tokens}"
        elif len(joined) > r.max_chars:
            return f"{len(joined)} characters > {r.max_chars}"
        return None

    def _characters(self, rec: Record, joined: str) -> str | None:
        r = self.f.characters
        # table rules, bullets and dashes ("|", "---", "-", "=") are layout, not words
        text = PLACEHOLDER_RE.sub("x", joined) if "<" in joined else joined
        layout = len(_LAYOUT_WORD_RE.findall(text))
        n_words = len(text.split()) - layout
        if n_words < r.min_words:
            return None
        # a layout word has no letter either
        non_alpha = (len(_NO_LETTER_WORD_RE.findall(text)) - layout) / n_words
        if non_alpha > r.max_non_alpha_word_share:
            return f"words without a letter {non_alpha:.2f} > {r.max_non_alpha_word_share}"
        # hashtags (not Markdown headings), unless the instruction asks for them
        tags = (
            len(_HASHTAG_RE.findall(joined))
            if "#" in joined and not _HASHTAG_ASK_RE.search(rec["instruction"])
            else 0
        )
        symbols = (tags + joined.count("...") + joined.count("\u2026")) / n_words
        if symbols > r.max_symbol_word_ratio:
            return f"hashtags and '...' per word {symbols:.2f} > {r.max_symbol_word_ratio}"
        return None

    def _repetition(self, rec: Record, joined: str) -> str | None:
        verse = asks_for_verse(rec["instruction"])
        for f in self.cfg.fields:
            text = rec[f]
            reason = repetition_problem(text, self.f.repetition, verse, self._loops.get(text))
            if reason:
                return f"{reason} in {f}"
        return None

    @cached_property
    def _langid(self):
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

        return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)

    @cached_property
    def _batch_langid(self) -> BatchLangid:
        return BatchLangid(self._langid)

    def _judged(self, text: str) -> str | None:
        """``text`` without placeholders, or None if it has too few letters to judge."""
        text = PLACEHOLDER_RE.sub(" ", text) if "<" in text else text
        n = self.f.language.min_chars
        if len(text) < n or sum(1 for _ in islice(filter(str.isalpha, text), n)) < n:
            return None
        return text

    def language(self, text: str) -> tuple[str, float] | None:
        """(language, probability) of ``text`` without placeholders, or None if too short."""
        judged = self._judged(text)
        if judged is None:
            return None
        lang, prob = self._langid.classify(judged)
        return lang, float(prob)

    def _language_query(
        self, rec: Record, joined: str
    ) -> tuple[str, list[str], LanguageAsk | None, str] | None:
        """What the language rule judges: (text, languages allowed, the language the
        instruction asks for, where), or None where any language will do."""
        r = self.f.language
        allowed, asked = list(r.allowed), None
        if r.follow_instruction:
            asked = requested_language(rec["instruction"])
        if asked is not None:
            if asked.any:  # "translate it into another language": any language will do
                return None
            # the input is the text to translate or answer: the output is judged alone
            allowed += [c for c in asked.codes if c not in allowed]
            return rec["output"], allowed, asked, " in output"
        # the instruction is often one fixed English template: the example's language is
        # that of its content
        content = "\n".join(rec[f] for f in ("input", "output") if rec[f])
        return content or joined, allowed, asked, ""

    def _language_verdict(
        self,
        found: tuple[str, float] | None,
        allowed: list[str],
        asked: LanguageAsk | None,
        where: str,
    ) -> str | None:
        if found is None:
            return None
        r = self.f.language
        lang, prob = found
        if lang not in allowed and prob >= r.min_confidence:
            named = f" ({', '.join(asked.codes)} named by the instruction)" if asked else ""
            return f"language {lang} (p={prob:.2f}){where}, allowed: {', '.join(allowed)}{named}"
        return None

    def _language(self, rec: Record, joined: str) -> str | None:
        query = self._language_query(rec, joined)
        if query is None:
            return None
        text, allowed, asked, where = query
        key = (text, tuple(allowed))
        found = self._found[key] if key in self._found else self.language(text)
        return self._language_verdict(found, allowed, asked, where)


def _names(instruction: str, word: str) -> bool:
    """``instruction`` names ``word`` itself ("Reply OK if you agree", "done or pending?")."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", instruction, re.I) is not None


def _quote(text: str, n: int = 20) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")
