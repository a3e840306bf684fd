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
from functools import cached_property
from pathlib import Path

import ftfy.badness

from provena.config import CleanConfig, RepetitionRule
from provena.normalize import normalize_for_match
from provena.records import Record
from provena.tokens import load_tokenizer

#: Typed placeholders that scrub_pii writes (``<PERSON>``, ``<US_SSN>``).
PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z0-9_]*>")
_LETTER_RE = re.compile(r"[^\W\d_]")
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


def _dup_share(items: Sequence[str]) -> tuple[int, int]:
    """(count, characters) of items that repeat an earlier item."""
    seen: set[str] = set()
    n = chars = 0
    for it in items:
        if it in seen:
            n += 1
            chars += len(it)
        else:
            seen.add(it)
    return n, chars


def repetition_problem(text: str, rule: RepetitionRule) -> str | None:
    """Gopher's repetition checks (Rae et al. 2021, table A1), as datatrove implements them."""
    words = text.split()
    if len(words) < rule.min_words:
        return None
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if lines:
        n, chars = _dup_share(lines)
        if n / len(lines) > rule.max_dup_line_share:
            return f"duplicate lines {n / len(lines):.2f} > {rule.max_dup_line_share}"
        if chars / len(text) > rule.max_dup_line_char_share:
            share = chars / len(text)
            return f"characters in duplicate lines {share:.2f} > {rule.max_dup_line_char_share}"
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

    def check(self, rec: Record) -> tuple[str, str] | None:
        joined = self.text(rec)
        for name, fn in self.rules:
            reason = fn(rec, joined)
            if reason is not None:
                return name, reason
        return None

    # ----------------------------------------------------------------------------- the rules

    def _empty_output(self, rec: Record, joined: str) -> str | None:
        return None if rec["output"].strip() else "output is empty"

    def _short_output(self, rec: Record, joined: str) -> str | None:
        r, out = self.f.short_output, rec["output"].strip()
        if len(out) < r.min_chars:
            return f"output has {len(out)} characters < {r.min_chars}"
        if len(out.split()) < r.min_words:
            return f"output has {len(out.split())} words < {r.min_words}"
        return None

    def _placeholder_only(self, rec: Record, joined: str) -> str | None:
        out = rec["output"]
        if PLACEHOLDER_RE.search(out) and not re.sub(r"\W", "", PLACEHOLDER_RE.sub("", out)):
            return "output holds only scrubbed-PII placeholders"
        return None

    def _echo(self, rec: Record, joined: str) -> str | None:
        out = normalize_for_match(rec["output"])
        for f in ("instruction", "input"):
            if rec[f].strip() and out == normalize_for_match(rec[f]):
                return f"output repeats the {f}"
        return None

    def _refusal(self, rec: Record, joined: str) -> str | None:
        for rx in self._refusals:
            if rx.search(rec["output"]):
                return f"canned refusal in output (pattern {rx.pattern!r})"
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
        words = PLACEHOLDER_RE.sub("x", joined).split()
        if len(words) < r.min_words:
            return None
        non_alpha = sum(1 for w in words if not _LETTER_RE.search(w)) / len(words)
        if non_alpha > r.max_non_alpha_word_share:
            return f"words without a letter {non_alpha:.2f} > {r.max_non_alpha_word_share}"
        symbols = (joined.count("#") + joined.count("...") + joined.count("\u2026")) / len(words)
        if symbols > r.max_symbol_word_ratio:
            return f"'#' and '...' per word {symbols:.2f} > {r.max_symbol_word_ratio}"
        return None

    def _repetition(self, rec: Record, joined: str) -> str | None:
        for f in self.cfg.fields:
            reason = repetition_problem(rec[f], self.f.repetition)
            if reason:
                return f"{reason} in {f}"
        return None

    @cached_property
    def _langid(self):
        from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

        return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)

    def language(self, text: str) -> tuple[str, float] | None:
        """(language, probability) of ``text`` without placeholders, or None if too short."""
        text = PLACEHOLDER_RE.sub(" ", text)
        if sum(map(str.isalpha, text)) < self.f.language.min_chars:
            return None
        lang, prob = self._langid.classify(text)
        return lang, float(prob)

    def _language(self, rec: Record, joined: str) -> str | None:
        r = self.f.language
        # the instruction is often one fixed English template: the example's language is that
        # of its content
        found = self.language("\n".join(rec[f] for f in ("input", "output") if rec[f]) or joined)
        if found is None:
            return None
        lang, prob = found
        if lang not in r.allowed and prob >= r.min_confidence:
            return f"language {lang} (p={prob:.2f}), allowed: {', '.join(r.allowed)}"
        return None
