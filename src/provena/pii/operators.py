"""What replaces a detected PII value: placeholder, surrogate, mask, hash, redact or keep.

Surrogates are consistent: a value is mapped through a keyed hash (HMAC-SHA256) to a seed, so
the same value always gets the same fake within a dataset (same key), in any process. Names
are mapped word by word, so 'Ann Lee', 'Ann' and 'ann.lee@mail.com' stay linked. Phones, IDs
and card numbers keep their format (digits replaced by digits, ID letters by letters).

Surrogates are training text, so they must read naturally: a whole word is never scrambled
into letter soup. Dates are found inside the value in any common format ('NOV. 12th, 1993',
'12-Nov-1993', '11/13/93', '2024-11-28', 'March 2019', '10:30 AM'), shifted by a keyed number
of days (the same for every date in the value, so intervals hold) and written back in the
same format and case. Other words are kept when they are ordinary words ('DOB:', 'Date',
'last Tuesday', 'Discharged'), and replaced by a fake name or city when they are names or
places. A value that holds no date and no name ('yesterday', 'a week ago') is returned as it
is: a relative date identifies no one.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import random
import re
from typing import Any

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from provena.errors import UserError

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MON = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_WD = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)"
)
_B = r"(?<![^\W_])"  # no letter or digit before
_E = r"(?![^\W_])"  # no letter or digit after
_AMPM = r"(?:[ap]m|[ap]\.m\.)"
# (kind, pattern), tried in this order; a later pattern never overlaps an earlier match
_DATE_PATTERNS = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        ("iso", r"(?<![\d./-])(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})(?!\d)"),
        (
            "num",
            r"(?<![\d./-])(?P<a>\d{1,2})(?P<s>[-/.])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4}|\d{2})"
            r"(?!\d|[/-]\d)",
        ),
        (
            "mdy",
            rf"{_B}(?:(?P<wd>{_WD})(?P<wdot>\.)?(?P<ws>,?\s+))?(?P<mon>{_MON})(?P<dot>\.)?"
            r"(?P<s1>\s+|-)(?P<d>\d{1,2})(?P<ord>st|nd|rd|th)?"
            rf"(?:(?P<s2>,[ \t]*|[ \t]+|-)(?P<y>\d{{4}}))?{_E}",
        ),
        (
            "dmy",
            rf"{_B}(?:(?P<wd>{_WD})(?P<wdot>\.)?(?P<ws>,?\s+))?(?P<d>\d{{1,2}})"
            rf"(?P<ord>st|nd|rd|th)?(?P<s1>[-/ ]|\s+of\s+)(?P<mon>{_MON})(?P<dot>\.)?"
            rf"(?:(?P<s2>,?[ \t]+|-|/)(?P<y>\d{{4}}|\d{{2}}))?{_E}",
        ),
        ("my", rf"{_B}(?P<mon>{_MON})(?P<dot>\.)?(?P<s1>,?[ \t]+|-|/)(?P<y>\d{{4}}){_E}"),
        (
            "time",
            rf"(?<![\d:.])(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})(?::(?P<sec>\d{{2}}))?"
            rf"(?:(?P<sp>\s?)(?P<ap>{_AMPM}))?(?![\w:])",
        ),
        ("time", rf"(?<![\d:.])(?P<h>\d{{1,2}})(?P<sp>\s?)(?P<ap>{_AMPM})(?!\w)"),
        ("dy", r"(?<![\d/.:-])(?P<d>\d{1,2})(?P<s>,?[ \t]+)(?P<y>(?:19|20)\d{2})(?![\d/.:-]|\.\d)"),
        ("month", rf"{_B}(?P<mon>{'|'.join(m for m in MONTHS if m != 'may')}){_E}"),
        ("year", r"(?<![\d/.:-])(?P<y>(?:19|20)\d{2})(?![\d/:-]|\.\d)"),
    )
)
# words kept in a date: labels and date words that a name or rarity test would misjudge
_DATE_LABELS = (  # noqa: SIM905 (a word list reads best as one string)
    "date dates dob dod doa dos mrn acct dr mr mrs ms yo yrs hrs min mins am pm est pst cst utc"
    " ago last next past this second seconds minute minutes hour hours day days week weeks"
    " month months year years today yesterday tomorrow morning evening night noon midnight"
    " jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun"
).split()
_DATE_WORDS = frozenset((*_DATE_LABELS, *MONTHS, *WEEKDAYS))
_AGE_AFTER = re.compile(r"\s?-?\s?(?:yo\b|y/o|years?\b|yrs?\b|-?year|[MF]\b)", re.IGNORECASE)


def _month_number(token: str) -> int:
    low = token.lower().rstrip(".")
    return next(i for i, m in enumerate(MONTHS, 1) if m.startswith(low[:3]))


def _weekday_number(token: str) -> int:
    low = token.lower().rstrip(".")
    return next(i for i, w in enumerate(WEEKDAYS) if w.startswith(low[:2]))


def _month_name(orig: str, n: int, full: bool | None = None) -> str:
    """Month ``n`` written like ``orig``: full or abbreviated ('Sept' kept), same case."""
    low = orig.lower()
    if full is None:
        full = low in MONTHS and low != "may"
    if full:
        name = MONTHS[n - 1]
    elif low == "sept" and n == 9:
        name = "sept"
    else:
        name = MONTHS[n - 1][:3]
    return _case_like(orig, name.capitalize())


def _weekday_name(orig: str, n: int) -> str:
    low = orig.lower()
    name = WEEKDAYS[n] if low in WEEKDAYS else WEEKDAYS[n][:3]
    return _case_like(orig, name.capitalize())


def _num_like(orig: str, n: int) -> str:
    """``n`` as wide as ``orig`` ('03' -> '07', '3' -> '7')."""
    return str(n).zfill(len(orig))


def _ordinal(orig: str, n: int) -> str:
    if not orig:
        return ""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return suffix.upper() if orig.isupper() else suffix


def _year_like(orig: str, year: int) -> str:
    return f"{year % 100:02d}" if len(orig) == 2 else f"{year:04d}"


def _full_year(orig: str) -> int:
    y = int(orig)
    if len(orig) == 2:  # strptime's rule for %y
        return y + (2000 if y < 69 else 1900)
    return y


def _ampm_like(orig: str, pm: bool) -> str:
    letter = "p" if pm else "a"
    return (letter.upper() if orig[0].isupper() else letter) + orig[1:]


def _valid(y: int, m: int, d: int) -> bool:
    try:
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


def _find_dates(value: str) -> list[tuple[int, int, str, re.Match[str], dict[str, Any]]]:
    """(start, end, kind, match, parsed) for every date or time expression in ``value``."""
    found: list[tuple[int, int, str, re.Match[str], dict[str, Any]]] = []
    for kind, pattern in _DATE_PATTERNS:
        for m in pattern.finditer(value):
            if any(m.start() < e and s < m.end() for s, e, *_ in found):
                continue
            parsed = _parse(kind, m)
            if parsed is not None:
                found.append((m.start(), m.end(), kind, m, parsed))
    return sorted(found, key=lambda f: f[0])


def _parse(kind: str, m: re.Match[str]) -> dict[str, Any] | None:
    g = m.groupdict()
    if kind == "iso":
        y, mo, d = int(g["y"]), int(g["m"]), int(g["d"])
        return {"date": dt.date(y, mo, d)} if _valid(y, mo, d) else None
    if kind == "num":
        a, b, y = int(g["a"]), int(g["b"]), _full_year(g["y"])
        day_first = a > 12 or (g["s"] == "." and b <= 12)
        mo, d = (b, a) if day_first else (a, b)
        return {"date": dt.date(y, mo, d), "day_first": day_first} if _valid(y, mo, d) else None
    if kind in ("mdy", "dmy"):
        mo, d = _month_number(g["mon"]), int(g["d"])
        if g["y"]:
            y = _full_year(g["y"])
            return {"date": dt.date(y, mo, d)} if _valid(y, mo, d) else None
        return {"md": (mo, d)} if _valid(2000, mo, d) else None
    if kind == "my":
        return {"my": (int(g["y"]), _month_number(g["mon"]))}
    if kind == "time":
        h, mi = int(g["h"]), int(g.get("mi") or 0)
        if (g["ap"] and not 1 <= h <= 12) or h > 23 or mi > 59:
            return None
        if g["ap"]:
            h = h % 12 + (12 if g["ap"][0].lower() == "p" else 0)
        return {"minutes": h * 60 + mi}
    if kind == "dy":
        return {"dy": (int(g["d"]), int(g["y"]))} if 1 <= int(g["d"]) <= 31 else None
    if kind == "month":
        return {"month": _month_number(g["mon"])}
    return {"year": int(g["y"])}


def _canonical(parsed: dict[str, Any]) -> str:
    """The same date, whatever its format, keys the same shift: '11/13/1993' and
    'Nov 13, 1993' become the same fake day."""
    if "date" in parsed:
        return parsed["date"].isoformat()
    return repr(sorted(parsed.items()))


def _render(kind: str, m: re.Match[str], parsed: dict[str, Any], shift: dict[str, int]) -> str:
    """One date or time expression, shifted, in the format and case it was written in."""
    g = m.groupdict()
    days = dt.timedelta(days=shift["days"])
    if kind == "iso":
        new = parsed["date"] + days
        return f"{new.year:04d}{g['s']}{_num_like(g['m'], new.month)}{g['s']}" + _num_like(
            g["d"], new.day
        )
    if kind == "num":
        new = parsed["date"] + days
        a, b = (new.day, new.month) if parsed["day_first"] else (new.month, new.day)
        return f"{_num_like(g['a'], a)}{g['s']}{_num_like(g['b'], b)}{g['s']}" + _year_like(
            g["y"], new.year
        )
    if kind in ("mdy", "dmy"):
        new = parsed["date"] + days if "date" in parsed else dt.date(2000, *parsed["md"]) + days
        wd = ""
        if g["wd"]:
            n = new.weekday() if "date" in parsed else _weekday_number(g["wd"]) + shift["days"]
            wd = _weekday_name(g["wd"], n % 7) + (g["wdot"] or "") + g["ws"]
        full = None
        if g["mon"].lower() == "may":  # 'May' is both: the format around it tells which
            full = (g["s2"] or "").startswith(",") if kind == "mdy" else g["s1"] != "-"
        mon = _month_name(g["mon"], new.month, full) + (g["dot"] or "")
        day = _num_like(g["d"], new.day) + _ordinal(g["ord"] or "", new.day)
        year = g["s2"] + _year_like(g["y"], new.year) if g["y"] else ""
        if kind == "mdy":
            return f"{wd}{mon}{g['s1']}{day}{year}"
        return f"{wd}{day}{g['s1']}{mon}{year}"
    if kind == "my":
        y, mo = parsed["my"]
        total = y * 12 + mo - 1 + shift["months"]
        return f"{_month_name(g['mon'], total % 12 + 1)}{g['dot'] or ''}{g['s1']}{total // 12:04d}"
    if kind == "time":
        step = shift["minutes"] if g.get("mi") else shift["hours"] * 60
        h, mi = divmod((parsed["minutes"] + step) % (24 * 60), 60)
        width = len(g["h"]) if g["h"][0] == "0" or not g["ap"] else 1  # '8:15 AM', '08:15'
        hour = str(h % 12 or 12 if g["ap"] else h).zfill(width)
        minutes = f":{mi:02d}" if g.get("mi") else ""
        seconds = f":{g['sec']}" if g.get("sec") else ""
        ampm = g["sp"] + _ampm_like(g["ap"], h >= 12) if g["ap"] else ""
        return f"{hour}{minutes}{seconds}{ampm}"
    if kind == "dy":
        d, y = parsed["dy"]
        new_d = (d - 1 + shift["days"]) % 28 + 1
        new_d = new_d if new_d != d else d % 28 + 1
        return f"{_num_like(g['d'], new_d)}{g['s']}{y + shift['years']:04d}"
    if kind == "month":
        n = (parsed["month"] - 1 + shift["months"]) % 12 + 1
        n = n if n != parsed["month"] else n % 12 + 1
        return _month_name(g["mon"], n, full=True)
    return f"{parsed['year'] + shift['years']:04d}"


def _random_digits(orig: str, rng: random.Random) -> str:
    first = rng.randint(1 if orig[0] != "0" and len(orig) > 1 else 0, 9)
    return str(first) + "".join(str(rng.randint(0, 9)) for _ in orig[1:])


def _scramble(text: str, rng: random.Random) -> str:
    """Digits to digits, letters to letters (ID parts, not words)."""
    return "".join(
        str(rng.randint(0, 9))
        if c.isdigit()
        else (lambda x: x if c.isupper() else x.lower())(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
        if c.isalpha() and c.isascii()
        else c
        for c in text
    )


def _is_word(value: str, m: re.Match[str]) -> bool:
    """A run of letters is a word (not part of an ID) when it has three letters or more, does
    not touch a digit, and is not a short capital code in a value that holds digits."""
    w, s, e = m.group(0), m.start(), m.end()
    if len(w) < 3 or (s and value[s - 1].isdigit()) or (e < len(value) and value[e].isdigit()):
        return False
    return not (w.isupper() and len(w) <= 4 and any(c.isdigit() for c in value))


@functools.lru_cache(maxsize=1)
def _faker_lists() -> tuple[
    tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]
]:
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.company.en_US import Provider as Company
    from faker.providers.person.en_US import Provider as Person

    first = tuple(sorted(set(Person.first_names)))
    last = tuple(sorted(set(Person.last_names)))
    from provena.lexicon import place_names

    cities = tuple(sorted(p for p in place_names() if p.isascii() and p.replace(" ", "").isalpha()))
    streets = tuple(sorted(set(Address.street_suffixes)))
    companies = tuple(sorted(set(Company.company_suffixes)))
    return first, last, cities, streets, companies


@functools.lru_cache(maxsize=1)
def _plain_extra() -> frozenset[str]:
    """Words kept although a name or place list holds them: date words, street suffixes."""
    _, _, _, streets, _ = _faker_lists()
    return _DATE_WORDS | {s.lower() for s in streets}


@functools.lru_cache(maxsize=50_000)
def word_kind(word: str) -> str:
    """'keep' for an ordinary word ('Date', 'Discharged', 'last'), 'place' for a place name,
    'name' for a name or a rare capitalized word (a name the lists do not hold)."""
    from provena.lexicon import english_zipf, name_words, place_names

    low = word.lower()
    if low in _plain_extra():
        return "keep"
    zipf = english_zipf(low)
    if zipf >= 3.0 and word.islower():
        return "keep"  # 'weeks', 'bill': an ordinary word, though a surname somewhere
    title = word[:1].upper() + word[1:].lower()
    if title in name_words():  # 'Martin', 'Washington': a person more often than a place
        return "keep" if zipf >= 5.3 else "name"
    if title in place_names():
        return "keep" if zipf >= 5.3 else "place"
    if zipf >= 3.0 or word.islower():  # a common word, or a lower-case term (drug, typo)
        return "keep"
    return "name"


def _ends(value: str) -> tuple[str, str, str]:
    """(leading space, value, trailing space): a span that runs into the next line keeps its
    line break ('Phoenix\n\nDear Dr.' must not become 'ScottsdaleDear Dr.')."""
    core = value.strip()
    if not core:
        return "", value, ""
    start = value.index(core)
    return value[:start], core, value[start + len(core) :]


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
        """Digits to digits and ID letters to letters, separators kept; a phone's country code
        ('+1', '1-') is kept. A whole word is never scrambled: it is kept when it is an
        ordinary word, and becomes a fake name or city when it is a name or a place. A value
        of ordinary words only becomes a placeholder (``<KIND>``)."""
        words = [m for m in re.finditer(r"[A-Za-z]+", value) if _is_word(value, m)]
        if not words:
            return self._shape_chars(value, kind)
        rng = self._rng(kind, value)
        out, pos = [], 0
        for m in words:
            out.append(_scramble(value[pos : m.start()], rng))
            out.append(self.word(m.group(0)))
            pos = m.end()
        out.append(_scramble(value[pos:], rng))
        fake = "".join(out)
        if fake != value:
            return fake
        if any(c.isalnum() for c in re.sub(r"[A-Za-z]+", "", value)) or len(words) < len(
            re.findall(r"[A-Za-z]+", value)
        ):
            return self.shape(value + "\0", kind).rstrip("\0")
        return f"<{kind}>"

    def _shape_chars(self, value: str, kind: str) -> str:
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
        return fake if fake != value else self._shape_chars(value + "\0", kind)

    def word(self, word: str) -> str:
        """One word: kept when ordinary, else a fake name or city in the same case."""
        kind = word_kind(word)
        if kind == "name":
            return self.name_word(word)
        if kind == "place":
            return self.location(word)
        return word

    def name_word(self, word: str) -> str:
        """A fake name for one word, keyed by the name without its possessive ('Gallo's' and
        'Gallo' become the same name), which is kept."""
        possessive = re.search(r"(?:['’][sS]|(?<=[sS])['’])$", word)
        if possessive and len(word) > len(possessive.group(0)) + 1:
            return self.name_word(word[: possessive.start()]) + possessive.group(0)
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
        """Every date and time in ``value`` shifted and written in its own format; the words
        around them kept when ordinary (labels, 'last Tuesday'), replaced when names."""
        found = _find_dates(value)
        dates = [p["date"] for *_, p in found if "date" in p]
        key = dates[0].isoformat() if dates else _canonical(found[0][4]) if found else value
        rng = self._rng("date", key)
        days = rng.randint(-400, 400) or 1
        months = round(days / 30.44) or (1 if days > 0 else -1)
        years = (dates[0] + dt.timedelta(days=days)).year - dates[0].year if dates else 0
        years = years or (0 if dates else rng.choice((-1, 1)))
        times = [p["minutes"] for *_, p in found if "minutes" in p]
        trng = self._rng("time", str(times[0]) if times else value)
        shift = {
            "days": days,
            "months": months,
            "years": years,
            "minutes": trng.choice([i for i in range(-36, 37) if i]) * 5,
            "hours": trng.choice((-3, -2, -1, 1, 2, 3)),
        }
        digits = self._rng("date-digits", value)
        out, pos = [], 0
        for start, end, kind, m, parsed in found:
            out.append(self._date_words(value[pos:start], digits))
            out.append(_render(kind, m, parsed, shift))
            pos = end
        out.append(self._date_words(value[pos:], digits))
        return "".join(out)

    def _date_words(self, text: str, rng: random.Random) -> str:
        """The text around the dates in a date value: ordinary words kept, names replaced,
        ages kept, other numbers replaced digit by digit."""

        def repl(m: re.Match[str]) -> str:
            tok = m.group(0)
            if tok.isdigit():
                if _AGE_AFTER.match(text, m.end()) and int(tok) <= 89:
                    return tok
                return _random_digits(tok, rng)
            return tok if len(tok) < 3 else self.word(tok)

        return re.sub(r"[A-Za-z]+|\d+", repl, text)

    def location(self, value: str) -> str:
        _, _, cities, _, _ = _faker_lists()
        lead, core, trail = _ends(value)
        return lead + _case_like(core, self._rng("place", core.lower()).choice(cities)) + trail

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
        lead, core, trail = _ends(value)
        rng = self._rng("org", core.lower())
        return lead + _case_like(core, f"{rng.choice(last)} {rng.choice(companies)}") + trail

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
        if entity_type == "AGE_OVER_89":
            return "90"  # Safe Harbor's single group: 90 or older
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
        new, items = self.anonymize_with_items(text, spans)
        return new, [(s, e) for s, e, _ in items]

    def anonymize_with_items(
        self, text: str, spans: list[tuple[int, int, str, float]]
    ) -> tuple[str, list[tuple[int, int, str]]]:
        """The new text and, in order, where in it each replacement stands and its type."""
        if not spans:
            return text, []
        results = [RecognizerResult(t, s, e, sc) for s, e, t, sc in spans]
        operators = {t: self._config(t) for t in {sp[2] for sp in spans}}
        res = self.engine.anonymize(text=text, analyzer_results=results, operators=operators)
        return res.text, sorted((i.start, i.end, i.entity_type) for i in res.items)
