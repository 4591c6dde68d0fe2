"""The demo city's social services: synthetic benefit cases of about 15% of the residents.

Cases are drawn while reading the civil registry in identifier order, so the same registry and seed
give the same cases. Only adults have cases of their own; what each receives depends on age.
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

from schema.departments.seedkit import (
    CHUNK,
    REFERENCE_DATE,
    Rows,
    adults_only,
    age_on,
    rewriting,
    stream_rows,
    tracked_async,
    years_before,
)
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

ADULT_CASE_SHARE = 0.195
"""About one adult in five has a case: with minors (who have none) about 15% of all residents."""

EARLIEST_OPENING = date(2012, 1, 1)

BENEFITS_BY_AGE: tuple[tuple[int, tuple[tuple[str, float], ...]], ...] = (
    (18, (("housing", 0.70), ("disability", 0.15), ("family", 0.15))),
    (25, (("housing", 0.35), ("family", 0.25), ("minimum_income", 0.25), ("disability", 0.15))),
    (65, (("elderly", 0.45), ("housing", 0.25), ("disability", 0.20), ("minimum_income", 0.10))),
)
"""Benefits by the youngest age they start at: the minimum income needs 25 years, the old-age
allowance 65."""

MONTHLY_EUR = {
    "housing": (80, 450),
    "family": (95, 650),
    "disability": (700, 1_016),
    "minimum_income": (380, 635),
    "elderly": (300, 1_012),
}
"""Ranges of monthly amounts (the caps are 2024's full rates of the AAH, RSA and ASPA)."""

STATUSES = (("open", 0.62), ("suspended", 0.08), ("closed", 0.30))


def _table(choices: tuple[tuple[str, float], ...]) -> tuple[list[str], list[float]]:
    return [name for name, _ in choices], list(itertools.accumulate(w for _, w in choices))


class CaseDrawer:
    """Draws the benefit cases of residents read in identifier order, numbering them as it goes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_age = [(start, _table(choices)) for start, choices in BENEFITS_BY_AGE]
        self.starts = [start for start, _ in self.by_age]
        self.statuses = _table(STATUSES)
        self.serial = 0

    def cases(self, residents: Sequence[Row[Any]]) -> Rows:
        """Cases of some residents (rows with id, birth_date and district_code)."""
        rng = self.rng
        statuses, status_cum = self.statuses
        reference = REFERENCE_DATE.toordinal()
        found: Rows = []
        for resident in residents:
            age = age_on(resident.birth_date)
            if age < 18 or rng.random() >= ADULT_CASE_SHARE:
                continue
            names, cumulative = self.by_age[bisect.bisect(self.starts, age) - 1][1]
            benefit = names[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
            earliest = max(EARLIEST_OPENING, years_before(REFERENCE_DATE, age - 18)).toordinal()
            opened = date.fromordinal(rng.randint(min(earliest, reference), reference))
            status = statuses[bisect.bisect(status_cum, rng.random() * status_cum[-1])]
            closed = None
            if status == "closed":
                closed = min(REFERENCE_DATE, opened + timedelta(days=rng.randint(30, 1_500)))
            low, high = MONTHLY_EUR[benefit]
            self.serial += 1
            found.append(
                {
                    "id": f"C{self.serial:08d}",
                    "resident_id": resident.id,
                    "benefit_type": benefit,
                    "status": status,
                    "opened_on": opened,
                    "closed_on": closed,
                    "monthly_amount_eur": rng.randint(low, high),
                    "district_code": resident.district_code,
                }
            )
        return found

    def report(self, loaded: Counter[str]) -> ImportReport:
        """What was drawn, for the build's report."""
        report = ImportReport(loaded=Counter({"benefitCases": loaded["benefitCases"]}))
        report.notes.append("benefitCases: synthetic (about 15% of residents, seeded)")
        return report


async def seed(
    *, city: City, rng: random.Random, residents: int, progress: Progress | None = None
) -> ImportReport:
    """Replace the benefit cases with synthetic ones drawn from the civil registry."""
    drawer = CaseDrawer(rng)
    parts = tracked_async(
        stream_rows(
            city, "residents", ("id", "birth_date", "district_code"), where=adults_only(city)
        ),
        progress,
        "social: benefit cases",
        total=math.ceil(residents / CHUNK),
    )
    async with rewriting(city, "benefitCases") as rewrite:
        async for part in parts:
            await rewrite.insert("benefitCases", drawer.cases(part))
    return drawer.report(rewrite.counts)
