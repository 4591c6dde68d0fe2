"""The synthetic registry and what is drawn from it grow with the number of residents asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.seeding.conftest import build, query

COUNTED = ("household", "resident", "benefit_case", "tax_assessment", "building_permit")


def counts(db: Path) -> dict[str, int]:
    return {t: int(query(db, f"SELECT count(*) FROM {t}")[0][0]) for t in COUNTED}  # noqa: S608 - table names are the test's constants


async def test_sizes_scale_with_residents(tmp_path: Path) -> None:
    await build(tmp_path / "small.db", seed=1, residents=500)
    await build(tmp_path / "large.db", seed=1, residents=5_000)
    small, large = counts(tmp_path / "small.db"), counts(tmp_path / "large.db")

    assert small["resident"] == 500
    assert large["resident"] == 5_000
    for size in (small, large):
        people = size["resident"]
        assert 1.7 < people / size["household"] < 2.1  # Paris: about 1.9 people a household
        assert 0.11 < size["benefit_case"] / people < 0.19
        assert size["tax_assessment"] % 3 == 0
        assert 0.2 < size["tax_assessment"] / 3 / people < 0.4
        assert size["building_permit"] == 100 + people // 25
    for table in ("household", "benefit_case", "tax_assessment"):
        assert 7 < large[table] / small[table] < 13, table


async def test_an_empty_registry_still_builds_a_city(tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    report = await build(db, seed=1, residents=0)

    size = counts(db)
    assert size == {**size, "household": 0, "resident": 0, "benefit_case": 0, "tax_assessment": 0}
    assert size["building_permit"] == 100
    assert query(db, "SELECT count(*) FROM building_permit WHERE applicant_id IS NOT NULL") == [
        (0,)
    ]
    assert query(db, "SELECT sum(population) FROM district") == [(0,)]
    assert report.loaded["districts"] == 20


async def test_a_negative_size_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="residents"):
        await build(tmp_path / "city.db", seed=1, residents=-1)
