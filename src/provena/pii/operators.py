"""What replaces a detected PII value: placeholder, surrogate, mask, hash, redact or keep.

Surrogates are consistent: a value is mapped through a keyed hash (HMAC-SHA256) to a seed, so
the same value always gets the same fake within a dataset (same key), in any process. Names
are mapped word by word, so 'Ann Lee', 'Ann' and 'ann.lee@mail.com' stay linked. Phones, IDs
and card numbers keep their format (digits replaced by digits, letters by letters); dates are
shifted by a per-value number of days and written in their original format.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import random
import re

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from provena.errors import UserError

DATE_FORMATS = (
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%B %d, %Y",
    "%d-%b-%Y",
    "%m/%d/%y",
    "%b %d %Y",
    "%b %d, %Y",
    "%d/%m/%Y",
    "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S",
    "%B %d %Y",
    "%d %B %Y",
    "%m-%d-%Y",
)


@functools.lru_cache(maxsize=1)
def _faker_lists() -> tuple[
    tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]
]:
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.company.en_US import Provider as Company
    from faker.providers.person.en_US import Provider as Person

    first = tuple(sorted(set(Person.first_names)))
    last = tuple(sorted(set(Person.last_names)))
    from provena.pii.recognizers import place_names

    cities = tuple(sorted(p for p in place_names() if p.isascii() and p.replace(" ", "").isalpha()))
    streets = tuple(sorted(set(Address.street_suffixes)))
    companies = tuple(sorted(set(Company.company_suffixes)))
    return first, last, cities, streets, companies


def _case_like(value: str, fake: str) -> str:
    if value.isupper():
        return fake.upper()
    if value.islower():
        return fake.lower()
    return fake


class Surrogates:
    """Consistent, format-preserving fake values keyed by ``key`` (bytes)."""

    def __init__(self, key: bytes):
        self.key = key

    def _rng(self, kind: str, value: str) -> random.Random:
        digest = hmac.new(self.key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def shape(self, value: str, kind: str = "id") -> str:
        """Digits to digits and letters to letters, separators kept; a phone's country code
        ('+1', '1-') is kept."""
        rng = self._rng(kind, value)
        prefix = ""
        if kind == "PHONE_NUMBER":
            m = re.match(r"\+\d{1,3}[ .-]?|1-", value)
            prefix = m.group(0) if m else ""
        out = [prefix]
        for i, ch in enumerate(value[len(prefix) :]):
            if ch.isdigit():
                out.append(str(rng.randint(1 if i == 0 else 0, 9)))
            elif ch.isalpha() and ch.isascii():
                c = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                out.append(c if ch.isupper() else c.lower())
            else:
                out.append(ch)
        fake = "".join(out)
        return fake if fake != value else self.shape(value + "\0", kind)

    def name_word(self, word: str) -> str:
        first, last, *_ = _faker_lists()
        if len(word.rstrip(".")) <= 1:  # an initial
            return _case_like(
                word, self._rng("initial", word.lower()).choice("ABCDEFGHJKLMNPRSTW") + word[1:]
            )
        pool = first if word.capitalize() in first else last
        fake = self._rng("name", word.lower()).choice(pool)
        return _case_like(
            word, fake if fake.lower() != word.lower() else pool[(pool.index(fake) + 1) % len(pool)]
        )

    def person(self, value: str) -> str:
        return re.sub(r"[^\W\d_][\w'’]*\.?", lambda m: self.name_word(m.group(0)), value)

    def email(self, value: str) -> str:
        local, _, domain = value.partition("@")
        new_local = re.sub(r"[^\W\d_]+", lambda m: self.name_word(m.group(0)).lower(), local)
        new_local = re.sub(r"\d", lambda m: str(self._rng("digit", local).randint(0, 9)), new_local)
        tld = domain.rsplit(".", 1)[-1] if "." in domain else "com"
        host = self._rng("domain", domain.lower()).choice(
            ("mailbox", "postmail", "inboxly", "fastmail", "webpost", "netmail", "example")
        )
        return f"{new_local}@{host}.{tld}"

    def date(self, value: str) -> str:
        for fmt in DATE_FORMATS:
            try:
                parsed = dt.datetime.strptime(value, fmt)
            except ValueError:
                continue
            shifted = parsed + dt.timedelta(days=self._rng("date", value).randint(-400, 400) or 1)
            return shifted.strftime(fmt)
        return self.shape(value, "date")

    def location(self, value: str) -> str:
        _, _, cities, _, _ = _faker_lists()
        return _case_like(value, self._rng("place", value.lower()).choice(cities))

    def street_address(self, value: str) -> str:
        _, last, cities, streets, _ = _faker_lists()
        rng = self._rng("street", value.lower())
        lines = [ln for ln in re.split(r"(\n|, )", value)]
        out = []
        for part in lines:
            if part in ("\n", ", ") or not part.strip():
                out.append(part)
            elif any(c.isdigit() for c in part) and any(c.isalpha() for c in part) and not out:
                out.append(f"{rng.randint(10, 9899)} {rng.choice(last)} {rng.choice(streets)}")
            elif any(c.isdigit() for c in part):
                digits = self._rng("street-digits", part)
                out.append(re.sub(r"\d", lambda _m, d=digits: str(d.randint(0, 9)), part))
            else:
                out.append(rng.choice(cities))
        return _case_like(value, "".join(out))

    def organization(self, value: str) -> str:
        _, last, _, _, companies = _faker_lists()
        rng = self._rng("org", value.lower())
        return _case_like(value, f"{rng.choice(last)} {rng.choice(companies)}")

    def __call__(self, entity_type: str, value: str) -> str:
        if entity_type == "PERSON":
            return self.person(value)
        if entity_type == "EMAIL_ADDRESS" and "@" in value:
            return self.email(value)
        if entity_type == "DATE_TIME":
            return self.date(value)
        if entity_type == "LOCATION":
            return self.location(value)
        if entity_type == "STREET_ADDRESS":
            return self.street_address(value)
        if entity_type == "ORGANIZATION":
            return self.organization(value)
        return self.shape(value, entity_type)


def keyed_hash(key: bytes, value: str, n: int = 16) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:n]


class Anonymizer:
    """Presidio's AnonymizerEngine with one operator per entity type, chosen in params."""

    def __init__(
        self,
        operators: dict[str, str],
        *,
        key: bytes,
        salt: bytes | None,
        mask_char: str = "*",
        mask_keep_last: int = 0,
    ):
        for entity, op in operators.items():
            if op == "hash" and not salt:
                raise UserError(
                    f"scrub_pii.operators.{entity} is 'hash', which needs a secret salt: set the "
                    "environment variable named by scrub_pii.salt_env"
                )
        self.operators = operators
        self.surrogates = Surrogates(key)
        self.salt = salt
        self.mask_char = mask_char
        self.mask_keep_last = mask_keep_last
        self.engine = AnonymizerEngine()

    def operator_for(self, entity_type: str) -> str:
        return self.operators.get(entity_type, self.operators["default"])

    def _config(self, entity_type: str) -> OperatorConfig:
        op = self.operator_for(entity_type)
        if op == "placeholder":
            return OperatorConfig("replace", {"new_value": f"<{entity_type}>"})
        if op == "surrogate":
            return OperatorConfig(
                "custom", {"lambda": lambda v, t=entity_type: self.surrogates(t, v)}
            )
        if (
            op == "mask"
        ):  # numbers keep their last digits (card ending 1111); words are masked whole

            def mask(v: str) -> str:
                keep = self.mask_keep_last if any(c.isdigit() for c in v) else 0
                return "".join(
                    c if (not c.isalnum() or i >= len(v) - keep) else self.mask_char
                    for i, c in enumerate(v)
                )

            return OperatorConfig("custom", {"lambda": mask})
        if op == "hash":
            salt = self.salt
            return OperatorConfig(
                "custom", {"lambda": lambda v, t=entity_type: f"<{t}:{keyed_hash(salt, v, 12)}>"}
            )
        if op == "redact":
            return OperatorConfig("redact", {})
        return OperatorConfig("keep", {})

    def anonymize(self, text: str, spans: list[tuple[int, int, str, float]]) -> str:
        """Replace non-overlapping spans (start, end, type, score) in ``text``."""
        return self.anonymize_with_ranges(text, spans)[0]

    def anonymize_with_ranges(
        self, text: str, spans: list[tuple[int, int, str, float]]
    ) -> tuple[str, list[tuple[int, int]]]:
        """The new text and where, in it, the replacements stand."""
        if not spans:
            return text, []
        results = [RecognizerResult(t, s, e, sc) for s, e, t, sc in spans]
        operators = {t: self._config(t) for t in {sp[2] for sp in spans}}
        res = self.engine.anonymize(text=text, analyzer_results=results, operators=operators)
        return res.text, sorted((i.start, i.end) for i in res.items)


_SHOWABLE = re.compile(r"\S+")


def safe_example(text: str, replaced: list[tuple[int, int]]) -> str:
    """Scrubbed text for a report: outside the replacements, words with a capital, a digit or
    an '@' are greyed out, so a value the detector missed can never be shown."""

    def repl(m: re.Match[str]) -> str:
        if any(s <= m.start() and m.end() <= e for s, e in replaced):
            return m.group(0)
        w = m.group(0)
        return "▒" * min(len(w), 6) if any(c.isupper() or c.isdigit() or c == "@" for c in w) else w

    return _SHOWABLE.sub(repl, text)
