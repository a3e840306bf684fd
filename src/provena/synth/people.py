"""Synthetic people and their contact details, drawn from one RNG so they are reproducible."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from provena.synth import vocab

AGE_BANDS = ("18-29", "30-44", "45-64", "65+")
AGE_BAND_WEIGHTS = (0.2, 0.3, 0.3, 0.2)
_AGE_RANGES = {"18-29": (18, 29), "30-44": (30, 44), "45-64": (45, 64), "65+": (65, 94)}


@dataclass(frozen=True)
class Person:
    gender: str  # female | male | nonbinary
    first: str
    last: str
    age: int
    age_band: str
    dob: dt.date
    phone: str
    email: str
    street: str
    unit: str | None
    city: str
    state: str
    zip: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def title(self) -> str:
        return {"female": "Ms.", "male": "Mr.", "nonbinary": "Mx."}[self.gender]

    @property
    def pronouns(self) -> tuple[str, str, str]:
        return {
            "female": ("she", "her", "her"),
            "male": ("he", "him", "his"),
            "nonbinary": ("they", "them", "their"),
        }[self.gender]


def age_band(age: int) -> str:
    for band, (lo, hi) in _AGE_RANGES.items():
        if lo <= age <= hi:
            return band
    raise ValueError(f"age {age} is outside every band")


def pick_gender(rng: random.Random, female_share: float, nonbinary_share: float) -> str:
    u = rng.random()
    if u < female_share:
        return "female"
    if u < female_share + nonbinary_share:
        return "nonbinary"
    return "male"


def phone(rng: random.Random) -> str:
    area, exch, line = rng.randint(201, 989), rng.randint(200, 989), rng.randint(0, 9999)
    fmt = rng.choice(
        [
            "({a}) {e}-{n:04d}",
            "{a}-{e}-{n:04d}",
            "{a}.{e}.{n:04d}",
            "+1 {a} {e} {n:04d}",
            "1-{a}-{e}-{n:04d}",
            "{a}{e}{n:04d}",
        ]
    )
    return fmt.format(a=area, e=exch, n=line)


def email(rng: random.Random, first: str, last: str, domains: list[str] | None = None) -> str:
    f, la = first.lower(), last.lower().replace("'", "").replace(" ", "")
    user = rng.choice(
        [
            f"{f}.{la}",
            f"{f[0]}{la}",
            f"{f}{la}{rng.randint(1, 99)}",
            f"{f}_{la}",
            f"{la}.{f}{rng.randint(1950, 2005)}",
            f"{f}{rng.randint(10, 9999)}",
        ]
    )
    return f"{user}@{rng.choice(domains or vocab.EMAIL_DOMAINS)}"


def person(rng: random.Random, gender: str, *, today: dt.date) -> Person:
    band = rng.choices(AGE_BANDS, weights=AGE_BAND_WEIGHTS)[0]
    lo, hi = _AGE_RANGES[band]
    age = rng.randint(lo, hi)
    # any birthday between these two dates makes the stated age true on ``today``
    ref = today.replace(day=28) if (today.month, today.day) == (2, 29) else today
    earliest = ref.replace(year=ref.year - age - 1) + dt.timedelta(days=1)
    latest = ref.replace(year=ref.year - age)
    dob = earliest + dt.timedelta(days=rng.randint(0, (latest - earliest).days))
    first = rng.choice(
        {"female": vocab.FEMALE_FIRST, "male": vocab.MALE_FIRST, "nonbinary": vocab.NEUTRAL_FIRST}[
            gender
        ]
    )
    last = rng.choice(vocab.LAST)
    city, state, zip3 = rng.choice(vocab.CITIES)
    unit = None
    if rng.random() < 0.3:
        unit = rng.choice(vocab.UNIT_FORMS).format(n=rng.randint(1, 40), l=rng.choice("ABCDEF"))
    return Person(
        gender=gender,
        first=first,
        last=last,
        age=age,
        age_band=band,
        dob=dob,
        phone=phone(rng),
        email=email(rng, first, last),
        street=f"{rng.randint(10, 9899)} {rng.choice(vocab.STREETS)} "
        f"{rng.choice(vocab.STREET_SUFFIXES)}",
        unit=unit,
        city=city,
        state=state,
        zip=f"{zip3}{rng.randint(0, 99):02d}",
    )


DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%d-%b-%Y", "%m/%d/%y", "%b %d %Y")


def fmt_date(rng: random.Random, d: dt.date) -> str:
    return d.strftime(rng.choice(DATE_FORMATS))


def luhn_card(rng: random.Random) -> str:
    """A card number with a valid Luhn check digit, grouped like a real one."""
    prefix = rng.choice(["4", "51", "52", "55", "37", "6011"])
    length = 15 if prefix == "37" else 16
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(length - len(prefix) - 1)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    if length == 15:
        return rng.choice([f"{s[:4]} {s[4:10]} {s[10:]}", s])
    return rng.choice(
        [
            " ".join(s[i : i + 4] for i in range(0, 16, 4)),
            "-".join(s[i : i + 4] for i in range(0, 16, 4)),
            s,
        ]
    )
