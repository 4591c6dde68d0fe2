"""Public statistics from personal data: open to anonymous callers, small cells withheld."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from tests.schema.conftest import Backend

# 30 residents in 75101, 25 in 75102, 5 in 75103 (plus the fixture's 5)
MORE = [
    {
        "id": f"S{i:03d}",
        "given_name": "A",
        "family_name": f"N{i}",
        "birth_date": date(1940 + i % 60, 6, 1),
        "sex": "FM"[i % 2],
        "household_id": "H1",
        "address": "x",
        "district_code": "75101" if i < 30 else "75102" if i < 55 else "75103",
        "quartier_code": "7510101",
    }
    for i in range(60)
]


@pytest.fixture
async def city(backend: Backend) -> Backend:
    await backend.city.repository("residents").upsert(MORE)
    return backend


def expected_by_district() -> Counter[str]:
    from tests.schema.conftest import RESIDENTS

    return Counter(r["district_code"] for r in [*RESIDENTS, *MORE])


async def test_counts_by_district_are_public_and_small_cells_withheld(city: Backend) -> None:
    result = await city.run(
        "{ residentStatistics(groupBy: [DISTRICT]) { districtCode people suppressed } }"
    )
    assert result["errors"] == []
    cells = {c["districtCode"]: c for c in result["data"]["residentStatistics"]}
    truth = expected_by_district()
    assert truth["75103"] < 10
    assert cells["75103"] == {"districtCode": "75103", "people": None, "suppressed": True}
    # with one withheld cell the grand total would give it away: another goes too
    assert sum(c["suppressed"] for c in cells.values()) >= 2
    for code, cell in cells.items():
        if not cell["suppressed"]:
            assert cell["people"] == truth[code] >= 10


async def test_populations_that_count_the_registry_stay_published(city: Backend) -> None:
    # as in the demo city: the territory publishes the registry's count of each district
    extra = [{**r, "id": f"E{i}", "district_code": "75103"} for i, r in enumerate(MORE[:5])]
    await city.city.repository("residents").upsert(extra)
    truth = expected_by_district() + Counter({"75103": 5})
    districts = city.city.repository("districts")
    rows = await districts.by_keys("code", truth)
    await districts.upsert([{**r._mapping, "population": truth[str(c)]} for c, r in rows.items()])
    result = await city.run(
        "{ residentStatistics(groupBy: [DISTRICT]) { districtCode people suppressed }"
        "  total: residentStatistics(groupBy: []) { people suppressed } }"
    )
    by_district = {c["districtCode"]: c["people"] for c in result["data"]["residentStatistics"]}
    assert by_district == dict(truth)
    assert result["data"]["total"] == [{"people": 70, "suppressed": False}]


async def test_two_dimensions_leave_no_line_with_one_withheld_cell(city: Backend) -> None:
    result = await city.run(
        "{ residentStatistics(groupBy: [DISTRICT, SEX]) { districtCode sex people suppressed } }"
    )
    cells = result["data"]["residentStatistics"]
    for axis, other in (("districtCode", "sex"), ("sex", "districtCode")):
        lines: dict[Any, list[bool]] = {}
        for c in cells:
            lines.setdefault(c[other], []).append(c["suppressed"])
        for line in lines.values():
            assert sum(line) != 1, (axis, lines)
    assert all(c["people"] is None or c["people"] >= 10 for c in cells)


async def test_age_bands_cover_the_fixed_domain(city: Backend) -> None:
    result = await city.run(
        "{ residentStatistics(groupBy: [AGE_BAND]) { ageBand people suppressed } }"
    )
    bands = [c["ageBand"] for c in result["data"]["residentStatistics"]]
    assert bands == ["0-17", "18-29", "30-44", "45-59", "60-74", "75+"]
    visible = sum(c["people"] or 0 for c in result["data"]["residentStatistics"])
    assert visible <= 65


async def test_benefit_cases_count_people_not_cases(city: Backend) -> None:
    result = await city.run(
        "{ benefitCaseStatistics(groupBy: []) { people cases monthlyAmountEur suppressed } }"
    )
    # 7 cases of 5 people: fewer than 10 people, so nothing is published
    assert result["data"]["benefitCaseStatistics"] == [
        {"people": None, "cases": None, "monthlyAmountEur": None, "suppressed": True}
    ]


async def test_district_and_quartier_together_are_refused(city: Backend) -> None:
    result = await city.run("{ residentStatistics(groupBy: [DISTRICT, QUARTIER]) { people } }")
    assert [e["code"] for e in result["errors"]] == ["BAD_USER_INPUT"]
