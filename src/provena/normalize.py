"""Lossless text normalization, one named rule at a time so every change can be ledgered.

The rules repair how text was stored, never what it says: mojibake (ftfy), HTML entities and
formatting tags left by scrapers and exports, Unicode NFC, and whitespace. Code blocks fenced
with ``` are left alone by the HTML rules, because there ``&amp;`` and ``<div>`` are content.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import ftfy

from provena.config import NormalizeConfig

# ftfy's encoding repairs only: quotes, ligatures and character widths are content, not damage.
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    remove_terminal_escapes=True,
    fix_encoding=True,
    restore_byte_a0=True,
    replace_lossy_sequences=True,
    decode_inconsistent_utf8=True,
    fix_c1_controls=True,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    fix_surrogates=True,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)

_FENCE = re.compile(r"(```.*?(?:```|\Z))", re.S)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLOCK_TAGS = {
    "br",
    "p",
    "div",
    "li",
    "tr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "ul",
    "ol",
    "table",
}
# C0/C1 controls except tab and newline, plus invisible characters that only break matching:
# zero-width space, word joiner, BOM. ZWJ and ZWNJ are kept (they shape emoji sequences,
# Indic conjuncts and Persian words), and so are bidi marks and isolates (reading order).
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2060\ufeff]")
_ODD_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")
_TRAILING = re.compile(r"[ \t]+(?=\n|\Z)")
_BLANK_RUN = re.compile(r"\n{3,}")


def _outside_fences(text: str, fn: Callable[[str], str]) -> str:
    if "```" not in text:
        return fn(text)
    parts = _FENCE.split(text)
    return "".join(p if i % 2 else fn(p) for i, p in enumerate(parts))


@dataclass(frozen=True)
class TextNormalizer:
    """Apply the configured rules; return the new text and the names of rules that changed it."""

    cfg: NormalizeConfig

    def __post_init__(self) -> None:
        tags = sorted({t.lower() for t in self.cfg.html_tags})
        pattern = (
            re.compile(r"</?(" + "|".join(map(re.escape, tags)) + r")\b[^<>]{0,500}?/?>", re.I)
            if tags
            else None
        )
        object.__setattr__(self, "_tag_re", pattern)

    def _strip_tags(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            return "\n" if m.group(1).lower() in _BLOCK_TAGS else ""

        return self._tag_re.sub(repl, text)  # type: ignore[attr-defined]

    def __call__(self, text: str) -> tuple[str, tuple[str, ...]]:
        applied: list[str] = []

        def step(name: str, fn: Callable[[str], str]) -> None:
            nonlocal text
            new = fn(text)
            if new != text:
                applied.append(name)
                text = new

        if self.cfg.fix_mojibake:
            step("fix_mojibake", lambda t: ftfy.fix_text(t, _FTFY))
        if self.cfg.html_entities and "&" in text:
            step(
                "html_entities",
                lambda t: _outside_fences(
                    t, lambda s: _ENTITY.sub(lambda m: html.unescape(m[0]), s)
                ),
            )
        if self._tag_re is not None and "<" in text:  # type: ignore[attr-defined]
            step("html_tags", lambda t: _outside_fences(t, self._strip_tags))
        if self.cfg.nfc:
            step("nfc", lambda t: unicodedata.normalize("NFC", t))
        if self.cfg.whitespace:
            step("whitespace", normalize_whitespace)
        return text, tuple(applied)


def normalize_whitespace(text: str) -> str:
    """CRLF to LF, drop invisible controls, odd spaces to plain, trim lines, cap blank lines.

    Runs of spaces inside a line are kept: in notes, tables and code they carry layout.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _ODD_SPACES.sub(" ", text)
    text = _TRAILING.sub("", text)
    text = _BLANK_RUN.sub("\n\n", text)
    return text.strip()


def normalize_for_match(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used by the echo rule and exact dedup."""
    return " ".join(words_for_match(text))


def words_for_match(text: str) -> list[str]:
    """The words of :func:`normalize_for_match` (its text is them joined by single spaces)."""
    return unicodedata.normalize("NFKC", text).casefold().split()
