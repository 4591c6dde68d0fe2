"""The demo city's civil registry: synthetic households and residents, seeded, at any size.

Households are drawn one after the other until the registry holds exactly the number of residents
asked for. A household lives at one address in one quartier of one district (districts weighted by
the real arrondissements' populations); its members share the address and mostly the family name.
Sizes, ages and sexes follow the rough shape of Paris: half the households are one person, couples
are of about the same age, children are born when a parent is between 18 and 45.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from schema.departments.registry.names import (
    FAMILY_NAMES,
    GIVEN_NAMES_ANY,
    GIVEN_NAMES_FEMALE,
    GIVEN_NAMES_MALE,
    POPULATION_2021,
    STREETS,
)
from schema.departments.seedkit import CHUNK, REFERENCE_DATE, Rows, rewriting
from schema.departments.territory.seed import Territory, Zone
from schema.ingest import ImportReport, tracked

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

HOUSEHOLD_SIZES = (1, 2, 3, 4, 5, 6)
HOUSEHOLD_SHARES = (0.51, 0.27, 0.10, 0.07, 0.03, 0.02)
"""Paris's households by size (about 1.9 people a household)."""

SINGLE_AGES = (
    (18, 24, 0.16),
    (25, 34, 0.30),
    (35, 49, 0.17),
    (50, 64, 0.15),
    (65, 79, 0.14),
    (80, 99, 0.08),
)
COUPLE_AGES = ((22, 29, 0.12), (30, 44, 0.30), (45, 59, 0.26), (60, 74, 0.22), (75, 95, 0.10))
PARENT_AGES = ((24, 34, 0.30), (35, 44, 0.42), (45, 55, 0.28))
"""Age bands (first, last, share) of a household's first adult, by kind of household."""

X_SHARE = 0.001
SAME_SEX_COUPLES = 0.07
SHARED_FAMILY_NAME = 0.6
SINGLE_PARENTS = 0.2


def _cumulative(weights: tuple[float, ...] | list[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass(frozen=True, slots=True)
class _Home:
    """What every household of a district draws from."""

    district_code: str
    quartiers: tuple[Zone, ...]
    streets: tuple[str, ...]
    postcode: str


def homes(territory: Territory) -> tuple[list[_Home], list[float]]:
    """Each district's quartiers, streets (in lower case, as in an address) and postcode, and the
    cumulative weights with which households choose a district."""
    found = []
    weights = []
    for index, district in enumerate(territory.districts):
        number = index % len(STREETS) + 1
        streets = tuple(s[:1].lower() + s[1:] for s in STREETS[number - 1])
        found.append(
            _Home(district.code, territory.quartiers_of[district.code], streets, f"750{number:02d}")
        )
        weights.append(float(POPULATION_2021[number - 1]))
    return found, _cumulative(weights)


def _address(rng: random.Random, home: _Home) -> str:
    # Low numbers are more common: every street has a 1, few have a 140.
    number = 1 + int(rng.random() ** 2 * 150)
    return f"{number} {rng.choice(home.streets)}, {home.postcode} Paris"


class _People:
    """Draws people: fast paths over precomputed cumulative weights, since this runs a million times."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.reference = REFERENCE_DATE.toordinal()
        self.size_cum = _cumulative(HOUSEHOLD_SHARES)
        self.bands = {
            name: (bands, _cumulative([share for *_, share in bands]))
            for name, bands in (
                ("single", SINGLE_AGES),
                ("couple", COUPLE_AGES),
                ("parent", PARENT_AGES),
            )
        }

    def size(self) -> int:
        return HOUSEHOLD_SIZES[bisect.bisect(self.size_cum, self.rng.random() * self.size_cum[-1])]

    def age(self, kind: str) -> int:
        bands, cumulative = self.bands[kind]
        first, last, _ = bands[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]
        return self.rng.randint(first, last)

    def sex(self, *, unlike: str | None = None) -> str:
        rng = self.rng
        if rng.random() < X_SHARE:
            return "X"
        if unlike in ("F", "M") and rng.random() >= SAME_SEX_COUPLES:
            return "M" if unlike == "F" else "F"
        return "F" if rng.random() < 0.5 else "M"

    def given_name(self, sex: str) -> str:
        names = (
            GIVEN_NAMES_FEMALE
            if sex == "F"
            else GIVEN_NAMES_MALE
            if sex == "M"
            else GIVEN_NAMES_ANY
        )
        return self.rng.choice(names)

    def birth_date(self, age: int) -> date:
        # A uniform day within the year of age, so birthdays spread over the calendar.
        days = int((age + self.rng.random()) * 365.2425)
        return date.fromordinal(self.reference - days)

    def members(self, size: int) -> list[tuple[str, int, str | None]]:
        """(sex, age, family name or None for the household's) of each member, adults first."""
        rng = self.rng
        if size == 1:
            return [(self.sex(), self.age("single"), None)]
        if size == 2 and rng.random() >= SINGLE_PARENTS:
            head_sex, head_age = self.sex(), self.age("couple")
            partner_age = max(18, head_age + rng.randint(-6, 6))
            partner_name = None if rng.random() < SHARED_FAMILY_NAME else rng.choice(FAMILY_NAMES)
            return [
                (head_sex, head_age, None),
                (self.sex(unlike=head_sex), partner_age, partner_name),
            ]
        head_sex, head_age = self.sex(), self.age("parent")
        people: list[tuple[str, int, str | None]] = [(head_sex, head_age, None)]
        youngest_adult = head_age
        if size >= 3 and rng.random() >= SINGLE_PARENTS:
            partner_age = max(20, head_age + rng.randint(-5, 5))
            partner_name = None if rng.random() < SHARED_FAMILY_NAME else rng.choice(FAMILY_NAMES)
            people.append((self.sex(unlike=head_sex), partner_age, partner_name))
            youngest_adult = min(head_age, partner_age)
        oldest_child = max(0, min(24, youngest_adult - 18))
        for _ in range(size - len(people)):
            people.append(("M" if rng.random() < 0.51 else "F", rng.randint(0, oldest_child), None))
        return people


def registry_rows(
    rng: random.Random, territory: Territory, residents: int
) -> Iterator[tuple[Rows, Rows]]:
    """(households, residents) in chunks of about `CHUNK` residents, exactly `residents` in all."""
    people = _People(rng)
    places, district_cum = homes(territory)
    total_weight = district_cum[-1]
    households: Rows = []
    members: Rows = []
    made = 0
    serial = 0
    while made < residents:
        serial += 1
        size = min(people.size(), residents - made)
        home = places[bisect.bisect(district_cum, rng.random() * total_weight)]
        quartier = rng.choice(home.quartiers)
        household_id = f"H{serial:08d}"
        address = _address(rng, home)
        households.append(
            {
                "id": household_id,
                "address": address,
                "district_code": home.district_code,
                "quartier_code": quartier.code,
            }
        )
        family = rng.choice(FAMILY_NAMES)
        for sex, age, own_family in people.members(size):
            made += 1
            members.append(
                {
                    "id": f"R{made:08d}",
                    "given_name": people.given_name(sex),
                    "family_name": own_family or family,
                    "birth_date": people.birth_date(age),
                    "sex": sex,
                    "household_id": household_id,
                    "address": address,
                    "district_code": home.district_code,
                    "quartier_code": quartier.code,
                }
            )
        if len(members) >= CHUNK:
            yield households, members
            households, members = [], []
    if members:
        yield households, members


async def seed(
    *,
    city: City,
    rng: random.Random,
    territory: Territory,
    residents: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Replace the households and residents with `residents` synthetic people."""
    if residents < 0:
        raise ValueError("residents must be zero or more")
    chunks = tracked(
        registry_rows(rng, territory, residents),
        progress,
        "registry: residents",
        total=math.ceil(residents / CHUNK),
    )
    async with rewriting(city, "households", "residents") as rewrite:
        for households, members in chunks:
            await rewrite.insert("households", households)
            await rewrite.insert("residents", members)
    report = ImportReport(loaded=rewrite.counts)
    report.notes.append(f"households, residents: synthetic ({residents} residents, seeded)")
    return report
