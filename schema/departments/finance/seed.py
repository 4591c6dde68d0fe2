"""The demo city's budget: voted amounts for 2020 to 2024, by district, function and nature.

A district's lines scale with its (real) population; each function takes its usual share of
operating and investment spending (social action dominates operating, housing and schools dominate
investment); budgets grow about 2.5% a year, with some noise from one vote to the next.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from schema.departments.registry.names import POPULATION_2021
from schema.departments.seedkit import rewriting
from schema.ingest import ImportReport

if TYPE_CHECKING:
    from schema.city import City

YEARS = range(2020, 2025)
FUNCTIONS: tuple[tuple[str, float, float], ...] = (
    ("General services", 0.14, 0.08),
    ("Security", 0.05, 0.02),
    ("Education", 0.12, 0.18),
    ("Culture", 0.05, 0.06),
    ("Sport and youth", 0.04, 0.07),
    ("Health", 0.03, 0.02),
    ("Social action", 0.30, 0.04),
    ("Housing and planning", 0.07, 0.30),
    ("Environment", 0.10, 0.10),
    ("Transport and roads", 0.10, 0.13),
)
"""Function and its shares of the operating and of the investment budget."""
OPERATING_PER_RESIDENT_EUR = 3_900
INVESTMENT_PER_RESIDENT_EUR = 800
"""Roughly Paris's 2020s budget (about 8.5 and 1.7 billion euros) over its 2.1 million residents."""
GROWTH = 0.025


def budget_lines(rng: random.Random, district_codes: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Every line, numbered from 1 in (year, district, function, nature) order."""
    line = 0
    for year in YEARS:
        trend = (1 + GROWTH) ** (year - YEARS[0])
        for index, code in enumerate(district_codes):
            people = POPULATION_2021[index % len(POPULATION_2021)]
            for function, operating_share, investment_share in FUNCTIONS:
                for nature, share, per_resident in (
                    ("operating", operating_share, OPERATING_PER_RESIDENT_EUR),
                    ("investment", investment_share, INVESTMENT_PER_RESIDENT_EUR),
                ):
                    # Investment comes in projects, so it varies far more from one year to the next.
                    spread = 0.06 if nature == "operating" else 0.30
                    amount = (
                        people * per_resident * share * trend * rng.uniform(1 - spread, 1 + spread)
                    )
                    line += 1
                    yield {
                        "id": line,
                        "year": year,
                        "district_code": code,
                        "function": function,
                        "nature": nature,
                        "amount_eur": round(amount),
                    }


async def seed(*, city: City, rng: random.Random, district_codes: Sequence[str]) -> ImportReport:
    """Replace the budget lines with synthetic ones for every district."""
    async with rewriting(city, "budgetLines") as rewrite:
        await rewrite.insert_all("budgetLines", budget_lines(rng, district_codes))
    report = ImportReport(loaded=rewrite.counts)
    report.notes.append(f"budgetLines: synthetic ({YEARS[0]}-{YEARS[-1]}, seeded)")
    return report
