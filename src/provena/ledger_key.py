"""How scrub_pii's ledger keys a raw PII value, and how a value is looked up there.

The ledger never holds a raw value: each replaced span is stored as the keyed hash
(HMAC-SHA256, first 16 hex digits) of the value **normalised** by :func:`normalise`, so that
the forms a person would type for one value give one hash ("LOPEZ, THOMAS" and "Thomas Lopez";
"(555) 123-4567" and "555 123 4567"). ``provena trained-on VALUE`` (:mod:`provena.lineage`)
and the evaluate stage's scrubbed-PII probe hash what they look for the same way.

The rule, in order:

1. Unicode NFKD, accents dropped (combining marks), then casefold: "LÓPEZ" -> "lopez".
2. Tokens: the runs of letters and digits; everything else (spaces, punctuation, ``@``, ``-``,
   ``_``) only separates them.
3. A value of a name type (:data:`NAME_TYPES`, PERSON) is its tokens **sorted**, joined by one
   space: word order does not matter ("lopez thomas").
4. Any other value whose every token holds a digit (phone, record and card numbers, numeric
   dates) is its tokens joined with **no** separator ("5551234567").
5. Any other value is its tokens in order, joined by one space ("12 nov 1993").
6. A value with no letter or digit is kept as it is after step 1, stripped.

A look-up does not know the entity type of what is typed, so :func:`lookup_hashes` keys both
forms (the name form and the other form) and :func:`matches` compares each ledger entry with
the form of its own type.

This module has no dependency beyond the standard library, so the split and evaluate stages
and the lineage commands use it without importing the PII engine.

What an answer is searched for is shared too: :func:`candidate_strings` (the strings of a
model's answer looked up among the ledger's hashes) and :class:`TrainingText` (whether a string
stands in the scrubbed training text, to tell a learnt surrogate from a leaked value), used by
the evaluate stage's privacy probe and by the guardrail (:mod:`provena.guardrail`) alike.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable
from typing import Protocol

#: entity types whose tokens are sorted before keying (word order of a name does not matter)
NAME_TYPES = frozenset({"PERSON"})
#: what the key was derived from, as scrub_pii's metrics record it (``ledger_key``)
KEYED_BY_SALT, KEYED_BY_SEED = "salt", "surrogate_seed"
_TOKEN = re.compile(r"[^\W_]+")
_CHECK_MESSAGE = b"provena ledger key check"


class KeySettings(Protocol):
    """The two settings of ``scrub_pii`` that derive the key (:class:`ScrubPiiConfig`)."""

    salt_env: str
    surrogate_seed: int


def keyed_hash(key: bytes, value: str, n: int = 16) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, the first ``n`` hex digits."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:n]


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise(value: str, entity_type: str) -> str:
    """The form of ``value`` that is keyed (the rule in the module docstring)."""
    folded = _fold(value)
    tokens = _TOKEN.findall(folded)
    if not tokens:
        return folded.strip()
    if entity_type in NAME_TYPES:
        return " ".join(sorted(tokens))
    if all(any(c.isdigit() for c in t) for t in tokens):
        return "".join(tokens)
    return " ".join(tokens)


def ledger_hash(key: bytes, value: str, entity_type: str) -> str:
    """The hash scrub_pii's ledger stores for a replaced ``value`` of ``entity_type``."""
    return keyed_hash(key, normalise(value, entity_type))


def lookup_hashes(key: bytes, value: str) -> tuple[str, str]:
    """``(hash of the name form, hash of the other form)`` of a typed value."""
    return ledger_hash(key, value, next(iter(NAME_TYPES))), ledger_hash(key, value, "")


def matches(lookup: tuple[str, str], ledger_entry_hash: str, entity_type: str) -> bool:
    """Whether a ledger entry (its hash and entity type) holds the looked-up value."""
    return ledger_entry_hash == lookup[0 if entity_type in NAME_TYPES else 1]


def secret_key(cfg: KeySettings) -> tuple[bytes, bytes | None]:
    """(key for surrogates and ledger hashes, salt for the hash operator or None).

    The salt comes from the environment variable named by ``salt_env`` and is never written
    anywhere. Without it, the key falls back to ``surrogate_seed``, which anyone holding
    params.yaml can recompute: fine for the synthetic default data, not for real data.
    """
    salt = os.environ.get(cfg.salt_env)
    if salt:
        return salt.encode("utf-8"), salt.encode("utf-8")
    return f"provena-surrogate-seed:{cfg.surrogate_seed}".encode(), None


def key_check(key: bytes) -> str:
    """A keyed hash of a fixed message: tells whether a key is the one a ledger was written
    with, without revealing it (scrub_pii's metrics record it as ``ledger_key_check``)."""
    return keyed_hash(key, _CHECK_MESSAGE.decode())


# ------------------------------------------------------------------ what an answer is searched for

#: punctuation stripped from around a candidate string ("Smith," -> "Smith")
_STRIP = "\"'()[]{}<>.,;:!?*`"


def candidate_strings(text: str, detected: Iterable[str], max_words: int = 4) -> set[str]:
    """The strings of ``text`` looked up among the ledger's hashes: the ``detected`` spans and
    every 1..``max_words``-word window of ``text``, each also with the punctuation around it
    stripped ("Smith," -> "Smith"); strings under two characters are left out."""
    toks = text.split()
    out = set(detected)
    for i in range(len(toks)):
        for k in range(1, max_words + 1):
            if i + k <= len(toks):
                out.add(" ".join(toks[i : i + k]))
    out |= {s.strip(_STRIP) for s in out}
    return {s for s in out if len(s.strip()) >= 2}


class TrainingText:
    """The scrubbed training texts, lower-cased, searched for a value between word
    boundaries (:meth:`contains`), each value once."""

    def __init__(self, texts: Iterable[str]):
        self._haystack = "\0".join(texts).lower()
        self._cache: dict[str, bool] = {}

    def contains(self, value: str) -> bool:
        """Whether ``value`` occurs in a training text between word boundaries."""
        v = value.lower()
        if v not in self._cache:
            self._cache[v] = self._find(v)
        return self._cache[v]

    def _find(self, v: str) -> bool:
        # str.find over the lower-cased texts, then a look at the characters around each match:
        # ten times faster than a regular expression with look-arounds on megabytes of text
        hay, i = self._haystack, -1
        while (i := hay.find(v, i + 1)) >= 0:
            before = hay[i - 1] if i else " "
            after = hay[i + len(v)] if i + len(v) < len(hay) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                return True
        return False
