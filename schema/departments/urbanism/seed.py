"""The demo city's building permits: synthetic applications filed 2020 to 2024 and their decisions.

About 60% of the applicants are residents working on their own home (the permit links to them);
the others are companies and social landlords. Permit references follow the French format
(`PC 075 112 24 V0001`: permit kind, département, commune, year, serial).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from schema.departments.registry.names import (
    FAMILY_NAMES,
    POPULATION_2021,
    STREETS,
    of_place,
    short_street,
)
from schema.departments.seedkit import (
    ADULTS_BORN_BY,
    CHUNK,
    REFERENCE_DATE,
    adults_only,
    count_rows,
    rewriting,
    stream_rows,
    tracked_async,
)
from schema.departments.territory.seed import Territory
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

PRIVATE_SHARE = 0.6
FIRST_FILING = date(2020, 1, 2)

KINDS = {
    # kind: (share among private applicants, share among companies, floor area range in m²)
    "renovation": (0.45, 0.30, (15, 400)),
    "extension": (0.30, 0.10, (10, 120)),
    "change_of_use": (0.10, 0.20, (25, 1_500)),
    "new_building": (0.07, 0.30, (150, 9_000)),
    "demolition": (0.08, 0.10, (40, 3_000)),
}
DECISIONS = (("granted", 0.78), ("refused", 0.14), ("withdrawn", 0.08))
COMPANY_FORMS = ("SCI", "SAS", "SARL", "SCCV", "SNC")
LANDLORDS = ("Paris Habitat", "RIVP", "Elogie-Siemp", "Ville de Paris")


def permit_count(residents: int) -> int:
    """Permits filed over five years in a city of that many residents."""
    return 100 + residents // 25


class PermitDrawer:
    """Draws permits; private ones at their applicant's home, the others anywhere in the city."""

    def __init__(self, rng: random.Random, territory: Territory) -> None:
        self.rng = rng
        self.territory = territory
        self.codes = [d.code for d in territory.districts]
        self.cumulative = list(
            itertools.accumulate(
                float(POPULATION_2021[i % len(POPULATION_2021)]) for i in range(len(self.codes))
            )
        )
        self.kinds = list(KINDS)
        self.private_cum = list(itertools.accumulate(v[0] for v in KINDS.values()))
        self.company_cum = list(itertools.accumulate(v[1] for v in KINDS.values()))
        self.decisions = [d for d, _ in DECISIONS]
        self.decision_cum = list(itertools.accumulate(w for _, w in DECISIONS))
        self.serials: Counter[tuple[str, str, int]] = Counter()

    def _pick(self, options: list[str], cumulative: list[float]) -> str:
        return options[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    def _company(self, district_code: str, street: str) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.08:
            return rng.choice(LANDLORDS)
        form = rng.choice(COMPANY_FORMS)
        if roll < 0.45:
            return f"{form} {rng.choice(FAMILY_NAMES)}"
        if roll < 0.65:
            return f"{form} {rng.choice(FAMILY_NAMES)} et Fils"
        if roll < 0.85:
            quartier = rng.choice(self.territory.quartiers_of[district_code])
            return f"{form} Les Jardins {of_place(quartier.name)}"
        return f"{form} Immobilière {short_street(street)}"

    def permit(self, applicant: Row[Any] | None) -> dict[str, Any]:
        """One permit, for a resident (a row with id, names, address and district_code) or, when
        `applicant` is None, for a company."""
        rng = self.rng
        if applicant is not None:
            applicant_id, address, district_code = (
                applicant.id,
                applicant.address,
                applicant.district_code,
            )
            name = f"{applicant.given_name} {applicant.family_name}"
            kind = self._pick(self.kinds, self.private_cum)
        else:
            index = bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])
            district_code = self.codes[index]
            street = rng.choice(STREETS[index % len(STREETS)])
            address = f"{rng.randint(1, 120)} {street[:1].lower()}{street[1:]}, 750{index % 20 + 1:02d} Paris"
            applicant_id, name = None, self._company(district_code, street)
            kind = self._pick(self.kinds, self.company_cum)
        low, high = KINDS[kind][2]
        area = (
            rng.randint(low, high) if applicant is None else rng.randint(low, max(low, high // 3))
        )
        filed = date.fromordinal(rng.randint(FIRST_FILING.toordinal(), REFERENCE_DATE.toordinal()))
        # Two months for a house, three for the rest, and often a request for missing documents.
        decision_day = filed + timedelta(days=rng.randint(45, 150))
        decided: date | None = decision_day
        if decision_day > REFERENCE_DATE:
            status = "filed" if (REFERENCE_DATE - filed).days < 30 else "under_review"
            decided = None
        else:
            status = self._pick(self.decisions, self.decision_cum)
        prefix = "PD" if kind == "demolition" else "PC"
        year = filed.year % 100
        self.serials[prefix, district_code, year] += 1
        serial = self.serials[prefix, district_code, year]
        return {
            "id": f"{prefix} 075 {district_code[-3:]} {year:02d} V{serial:04d}",
            "address": address,
            "kind": kind,
            "status": status,
            "filed_on": filed,
            "decided_on": decided,
            "floor_area_m2": area,
            "district_code": district_code,
            "applicant_name": name,
            "applicant_id": applicant_id,
        }


class ApplicantPicker:
    """Picks exactly `wanted` of the `adults` adult residents offered in identifier order, in one
    pass (Knuth's selection sampling), keeping only those picked."""

    def __init__(self, rng: random.Random, *, adults: int, wanted: int) -> None:
        self.rng = rng
        self.adults = adults
        self.wanted = min(wanted, adults)
        self.seen = 0
        self.chosen: list[Row[Any]] = []

    def offer(self, residents: Sequence[Row[Any]]) -> None:
        """Consider some residents (rows with id, birth_date, names, address and district_code)."""
        rng = self.rng
        for resident in residents:
            if resident.birth_date > ADULTS_BORN_BY:
                continue
            if (self.adults - self.seen) * rng.random() < self.wanted - len(self.chosen):
                self.chosen.append(resident)
            self.seen += 1


async def adult_count(city: City) -> int:
    """How many residents may apply for a permit."""
    return await count_rows(city, "residents", where=adults_only(city))


async def write_permits(
    *, city: City, rng: random.Random, territory: Territory, picker: ApplicantPicker, total: int
) -> ImportReport:
    """Replace the building permits: the picker's residents and companies for the rest."""
    applicants: list[Row[Any] | None] = [*picker.chosen, *([None] * (total - len(picker.chosen)))]
    rng.shuffle(applicants)
    drawer = PermitDrawer(rng, territory)
    async with rewriting(city, "buildingPermits") as rewrite:
        await rewrite.insert_all("buildingPermits", (drawer.permit(a) for a in applicants))
    report = ImportReport(loaded=rewrite.counts)
    private = len(picker.chosen)
    report.notes.append(
        f"buildingPermits: synthetic ({private} by residents, {total - private} by companies, seeded)"
    )
    return report


APPLICANT_COLUMNS = ("id", "birth_date", "given_name", "family_name", "address", "district_code")


async def seed(
    *,
    city: City,
    rng: random.Random,
    territory: Territory,
    residents: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Replace the building permits with synthetic ones; private applicants are adult residents."""
    total = permit_count(residents)
    adults = await adult_count(city)
    picker = ApplicantPicker(rng, adults=adults, wanted=round(total * PRIVATE_SHARE))
    parts = tracked_async(
        stream_rows(city, "residents", APPLICANT_COLUMNS, where=adults_only(city)),
        progress,
        "urbanism: applicants",
        total=math.ceil(adults / CHUNK),
    )
    async for part in parts:
        picker.offer(part)
    return await write_permits(city=city, rng=rng, territory=territory, picker=picker, total=total)
