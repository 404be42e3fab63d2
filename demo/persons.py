"""Plausible people for the demo data: names, valid ID numbers (incl. historical region codes),
Luhn-valid card numbers, phones and villages — all drawn from a seeded `random.Random`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from random import Random

from core import regions
from core.validation import id_check_digit, luhn_check_digit
from demo.data import (
    BANKS,
    COMPOUND_SURNAMES,
    GIVEN_FEMALE,
    GIVEN_MALE,
    MINORITY_FEMALE,
    MINORITY_MALE,
    OLD_FEMALE_GIVEN,
    OLD_MALE_GIVEN,
    SURNAMES,
    VILLAGE_SUFFIXES,
    VILLAGE_WORDS,
    County,
)


@dataclass(frozen=True, slots=True)
class Village:
    code: str
    name: str
    township_code: str
    county_code: str


@dataclass(slots=True)
class Card:
    id: int
    number: str
    bank_name: str
    status: str               # active / closed
    opened_on: date
    closed_on: date | None = None


@dataclass(slots=True)
class GenPerson:
    id: int
    id_number: str
    name: str
    birth_date: date
    sex: str                  # M / F (from the 17th digit)
    village: Village
    phone: str | None
    cards: list[Card] = field(default_factory=list)
    area: dict[str, object] = field(default_factory=dict)  # per-policy quantities (亩), cached amounts

    def card_on(self, day: date) -> Card:
        """The card a roster made on ``day`` would carry: the newest card opened by then.

        A card closed shortly before ``day`` is still the one on the roster (the bank reports
        it closed: that is how 账户已销户 failures happen)."""
        chosen = self.cards[0]
        if len(self.cards) == 1:
            return chosen
        for card in self.cards:
            if card.opened_on <= day:
                chosen = card
        return chosen

    @property
    def current_card(self) -> Card:
        return self.cards[-1]


def villages_for(county: County, rng: Random) -> list[Village]:
    """Invented villages (…村 / …社区) under each real township of the county."""
    out: list[Village] = []
    for township in regions.children(county.code):
        if township.name.endswith(("园区", "开发区", "农场")):
            continue
        street = township.name.endswith("街道")
        count = rng.randint(3, 6)
        used: set[str] = set()
        n_comm = n_vill = 0
        while len(used) < count:
            if street and rng.random() < 0.6:
                name = rng.choice(VILLAGE_WORDS) + "社区"
            elif rng.random() < 0.55:
                name = rng.choice(SURNAMES[:60]) + rng.choice(VILLAGE_SUFFIXES) + "村"
            else:
                name = rng.choice(VILLAGE_WORDS) + "村"
            if name in used:
                continue
            used.add(name)
            if name.endswith("社区"):
                n_comm += 1
                number = n_comm
            else:
                n_vill += 1
                number = 200 + n_vill
            out.append(Village(regions.village_code(township.code, number), name, township.code, county.code))
    return out


def make_name(rng: Random, sex: str, birth_year: int, local_surnames: str = "") -> str:
    roll = rng.random()
    if roll < 0.012:
        return rng.choice(MINORITY_MALE if sex == "M" else MINORITY_FEMALE)
    if roll < 0.022:
        surname = rng.choice(COMPOUND_SURNAMES)
    elif local_surnames and roll < 0.25:
        surname = rng.choice(local_surnames)
    else:
        surname = rng.choice(SURNAMES)
    if birth_year < 1950 and rng.random() < 0.5:
        return surname + rng.choice(OLD_MALE_GIVEN if sex == "M" else OLD_FEMALE_GIVEN)
    chars = GIVEN_MALE if sex == "M" else GIVEN_FEMALE
    if rng.random() < 0.28:
        return surname + rng.choice(chars)
    return surname + rng.choice(chars) + rng.choice(chars)


def id_prefix(county: County, birth: date, rng: Random) -> str:
    """The region code the ID number was first issued with: historical for a share of the old."""
    for prefix, born_from, born_to in county.historical:
        if born_from <= birth.year <= born_to and rng.random() < county.historical_share:
            return prefix
    return county.code


def make_id_number(prefix: str, birth: date, sex: str, rng: Random, used: set[str]) -> str:
    """A valid, unused 18-digit number; the 17th digit is odd for men, even for women."""
    while True:
        seq = rng.randint(0, 99)
        digit = rng.randrange(1 if sex == "M" else 0, 10, 2)
        first17 = f"{prefix}{birth:%Y%m%d}{seq:02d}{digit}"
        number = first17 + id_check_digit(first17)
        if number not in used:
            used.add(number)
            return number


def make_card_number(rng: Random, used: set[str], bank: tuple[str, str, float] | None = None) -> tuple[str, str]:
    """(19-digit Luhn-valid card number, bank name)."""
    if bank is None:
        roll, acc = rng.random(), 0.0
        bank = BANKS[-1]
        for candidate in BANKS:
            acc += candidate[2]
            if roll < acc:
                bank = candidate
                break
    name, bin_prefix, _share = bank
    while True:
        partial = bin_prefix + "".join(str(rng.randint(0, 9)) for _ in range(12))
        number = partial + luhn_check_digit(partial)
        if number not in used:
            used.add(number)
            return number, name


def make_phone(rng: Random) -> str:
    return rng.choice(("13", "15", "18", "17", "19")) + "".join(str(rng.randint(0, 9)) for _ in range(9))


def random_birth(rng: Random, first_year: int, last_year: int) -> date:
    start = date(first_year, 1, 1)
    span = (date(last_year, 12, 31) - start).days
    # Old people: fewer at the far end (the very old are rare).
    offset = int(span * (1 - rng.random() ** 2)) if first_year < 1941 else rng.randint(0, span)
    return start + timedelta(days=offset)


def make_cards(rng: Random, next_card_id: int, used_cards: set[str], change_share: float = 0.05) -> list[Card]:
    """One active card; a share of people changed cards (old one closed, kept in the history)."""
    first_open = date(2012, 1, 1) + timedelta(days=rng.randint(0, 2900))
    number, bank = make_card_number(rng, used_cards)
    if rng.random() >= change_share:
        return [Card(next_card_id, number, bank, "active", first_open)]
    closed = date(2021, 3, 1) + timedelta(days=rng.randint(0, 1900))
    new_number, new_bank = make_card_number(rng, used_cards)
    return [
        Card(next_card_id, number, bank, "closed", first_open, closed),
        Card(next_card_id + 1, new_number, new_bank, "active", closed + timedelta(days=rng.randint(20, 60))),
    ]
