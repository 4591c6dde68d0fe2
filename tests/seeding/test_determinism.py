"""The same seed and size give the same rows, byte for byte; another seed gives other people."""

from __future__ import annotations

from pathlib import Path

from schema.departments.seedkit import department_rng
from schema.departments.social import seed as social
from schema.departments.tax import seed as tax
from schema.departments.territory.seed import Territory
from schema.departments.urbanism import seed as urbanism
from tests.seeding.conftest import build, dump, open_city

SYNTHETIC = (
    "household",
    "resident",
    "benefit_case",
    "tax_assessment",
    "building_permit",
    "budget_line",
)


async def test_same_seed_gives_identical_rows_in_two_files(tmp_path: Path) -> None:
    await build(tmp_path / "a.db", seed=5, residents=1_200)
    await build(tmp_path / "b.db", seed=5, residents=1_200)

    first, second = dump(tmp_path / "a.db"), dump(tmp_path / "b.db")

    assert all(first[name] for name in first), "every table holds rows"
    for name in first:
        assert first[name] == second[name], name


async def test_another_seed_gives_other_people_on_the_same_map(tmp_path: Path) -> None:
    await build(tmp_path / "a.db", seed=5, residents=1_200)
    await build(tmp_path / "b.db", seed=6, residents=1_200)

    first, second = dump(tmp_path / "a.db"), dump(tmp_path / "b.db")

    for name in (*SYNTHETIC, "bike_station", "public_toilet", "air_quality_measurement"):
        assert first[name] != second[name], name
    # The map is not drawn by the seed: districts differ only by their population.
    population = 6  # column index, after code, number, name, label, area_m2, perimeter_m
    assert [r[:population] + r[population + 1 :] for r in first["district"]] == [
        r[:population] + r[population + 1 :] for r in second["district"]
    ]
    assert [r[population] for r in first["district"]] != [r[population] for r in second["district"]]
    assert first["quartier"] == second["quartier"]
    assert len(first["resident"]) == len(second["resident"]) == 1_200


async def test_rebuilding_replaces_everything(tmp_path: Path) -> None:
    db = tmp_path / "city.db"
    await build(db, seed=3, residents=1_500)
    await build(db, seed=4, residents=400)
    await build(db, seed=3, residents=900)
    await build(tmp_path / "fresh.db", seed=3, residents=900)

    assert dump(db) == dump(tmp_path / "fresh.db")


async def test_each_department_seed_alone_gives_the_rows_of_the_build(tmp_path: Path) -> None:
    # build_demo draws cases, assessments and permits in one read of the registry; each
    # department's own seed reads it alone. Both must give the same rows.
    db = tmp_path / "city.db"
    await build(db, seed=8, residents=1_000)
    built = dump(db)

    city = open_city(db)
    try:
        territory = await Territory.load(city)
        codes = [d.code for d in territory.districts]
        await social.seed(city=city, rng=department_rng(8, "social"), residents=1_000)
        await tax.seed(
            city=city, rng=department_rng(8, "tax"), district_codes=codes, residents=1_000
        )
        await urbanism.seed(
            city=city, rng=department_rng(8, "urbanism"), territory=territory, residents=1_000
        )
    finally:
        await city.close()
    alone = dump(db)

    for name in ("benefit_case", "tax_assessment", "building_permit"):
        assert built[name], name
        assert alone[name] == built[name], name
