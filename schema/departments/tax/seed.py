"""The demo city's property tax: synthetic assessments (2022 to 2024) of the residents who own.

Owners are drawn while reading the civil registry in identifier order. An owner has one property,
usually where they live, and one assessment a year. The amounts follow the taxe foncière's rules:
the cadastral rental value rises each year by the national revaluation, and the tax is Paris's rate
applied to half of that value.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import string
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from schema.departments.registry.names import POPULATION_2021
from schema.departments.seedkit import (
    CHUNK,
    Rows,
    adults_only,
    age_on,
    rewriting,
    stream_rows,
    tracked_async,
)
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

OWNER_SHARE = 0.42
"""Share of residents of 25 and over who own property: about 30% of all residents."""
OWNER_MIN_AGE = 25
HOME_SHARE = 0.8
"""Most owners own where they live; the others own a flat they let, elsewhere in the city."""

YEARS: tuple[tuple[int, float, float], ...] = (
    (2022, 1.034, 0.1350),
    (2023, 1.071, 0.2050),
    (2024, 1.039, 0.2050),
)
"""Year, revaluation of rental values that year, and Paris's property-tax rate."""
TAXABLE_SHARE = 0.5
"""The taxe foncière is levied on half the cadastral rental value."""


class AssessmentDrawer:
    """Draws owners among residents read in identifier order, and their three assessments."""

    def __init__(self, rng: random.Random, district_codes: Sequence[str]) -> None:
        self.rng = rng
        self.codes = list(district_codes)
        self.cumulative = list(
            itertools.accumulate(
                float(POPULATION_2021[i % len(POPULATION_2021)]) for i in range(len(self.codes))
            )
        )
        self.owners = 0

    def _parcel(self, district_code: str) -> str:
        # Cadastral reference: commune (INSEE), prefix, two-letter section, plan number.
        rng = self.rng
        section = rng.choice("ABCDEF") + rng.choice(string.ascii_uppercase)
        return f"{district_code} 000 {section} {rng.randint(1, 250):04d}"

    def assessments(self, residents: Sequence[Row[Any]]) -> Rows:
        """Assessments of the owners among some residents (rows with id, birth_date, district_code)."""
        rng = self.rng
        found: Rows = []
        for resident in residents:
            if age_on(resident.birth_date) < OWNER_MIN_AGE or rng.random() >= OWNER_SHARE:
                continue
            self.owners += 1
            district = resident.district_code
            if rng.random() >= HOME_SHARE:
                district = self.codes[
                    bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])
                ]
            parcel = self._parcel(district)
            # Rental values of Paris flats: a few thousand euros a year, with a long tail.
            value = max(900.0, rng.lognormvariate(math.log(5_500.0), 0.55))
            for year, revaluation, rate in YEARS:
                value *= revaluation
                found.append(
                    {
                        "id": f"T{year}-{self.owners:08d}",
                        "resident_id": resident.id,
                        "year": year,
                        "parcel_ref": parcel,
                        "assessed_value_eur": round(value),
                        "tax_due_eur": round(value * TAXABLE_SHARE * rate),
                        "district_code": district,
                    }
                )
        return found

    def report(self, loaded: Counter[str]) -> ImportReport:
        """What was drawn, for the build's report."""
        report = ImportReport(loaded=Counter({"taxAssessments": loaded["taxAssessments"]}))
        first, last = YEARS[0][0], YEARS[-1][0]
        report.notes.append(
            f"taxAssessments: synthetic ({self.owners} owners, {first}-{last}, seeded)"
        )
        return report


async def seed(
    *,
    city: City,
    rng: random.Random,
    district_codes: Sequence[str],
    residents: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Replace the tax assessments with synthetic ones drawn from the civil registry."""
    drawer = AssessmentDrawer(rng, district_codes)
    parts = tracked_async(
        stream_rows(
            city, "residents", ("id", "birth_date", "district_code"), where=adults_only(city)
        ),
        progress,
        "tax: assessments",
        total=math.ceil(residents / CHUNK),
    )
    async with rewriting(city, "taxAssessments") as rewrite:
        async for part in parts:
            await rewrite.insert("taxAssessments", drawer.assessments(part))
    return drawer.report(rewrite.counts)
