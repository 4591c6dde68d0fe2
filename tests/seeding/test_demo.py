"""Building the demo city: from nothing, with or without the real open data, from the CLI, on
PostgreSQL too."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import app
from schema.city import City
from schema.ingest.paris import FILES as PARIS_FILES
from schema.seeding import build_demo
from storage.engines import Databases
from tests.seeding.conftest import CATALOG, DISTRICT_CODES, build, dump, query

GENERATED_PUBLIC = (
    "districts",
    "bikeStations",
    "transit",
    "airQualityStations",
    "publicToilets",
)


def notes_of(report_notes: list[str]) -> str:
    return "\n".join(report_notes)


async def test_a_fresh_folder_without_open_data_gets_a_whole_generated_city(tmp_path: Path) -> None:
    db = tmp_path / "new" / "deeper" / "city.db"
    report = await build(db, seed=2026, residents=3_000, open_data_dir=None)

    notes = notes_of(report.notes)
    for dataset in GENERATED_PUBLIC:
        assert dataset in notes
    assert notes.count("generated") >= len(GENERATED_PUBLIC)
    assert "real open data" not in notes
    assert all(rows for rows in dump(db).values())
    assert report.loaded["residents"] == 3_000
    assert report.loaded["bikeStations"] == 1_000
    assert report.loaded["publicToilets"] == 600


async def test_an_empty_or_partial_open_data_folder_falls_back_to_generated(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / PARIS_FILES[0]).write_text("{}", encoding="utf-8")

    from_empty = await build(tmp_path / "a.db", seed=1, residents=300, open_data_dir=empty)
    from_partial = await build(tmp_path / "b.db", seed=1, residents=300, open_data_dir=partial)

    assert "lacks" not in notes_of(from_empty.notes)
    assert f"lacks {PARIS_FILES[1]}" in notes_of(from_partial.notes)
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")


async def test_long_steps_show_progress_bars_that_finish(tmp_path: Path) -> None:
    progress = Progress(console=Console(file=io.StringIO(), force_terminal=False))
    with progress:
        await build(tmp_path / "city.db", seed=1, residents=25_000, progress=progress)

    bars = {task.description: task for task in progress.tasks}
    assert "registry: residents" in bars
    assert "social, tax, urbanism: residents" in bars
    for task in bars.values():
        assert task.finished, task.description
    assert bars["registry: residents"].completed == 3  # chunks of 10,000 residents


def test_the_demo_command_builds_into_the_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["demo", "--build-only", "--residents", "400"],
        env={"CITYGRAPH_DATA_DIR": str(tmp_path / "data"), "CITYGRAPH_ENVIRONMENT": "test"},
    )

    assert result.exit_code == 0, result.output
    db = tmp_path / "data" / "city.db"
    assert query(db, "SELECT count(*) FROM resident") == [(400,)]
    assert query(db, "SELECT sum(population) FROM district") == [(400,)]


async def test_the_real_open_data_replaces_the_generated_and_back(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "open"
    shutil.copytree(shared_data, folder)
    db = tmp_path / "city.db"

    await build(db, seed=4, residents=2_000)
    real = await build(db, seed=4, residents=2_000, open_data_dir=folder)

    notes = notes_of(real.notes)
    assert "real open data: " in notes
    for dataset in ("districts", "bikeStations", "transitRoutes", "airQualityMeasurements"):
        assert dataset in notes.split("real open data: ")[1], dataset
    assert "generated" not in notes
    names = dict(query(db, "SELECT code, name FROM district"))
    assert names["75118"] == "Buttes-Montmartre"
    assert sorted(names) == DISTRICT_CODES
    assert (
        len(
            json.loads(str(query(db, "SELECT geometry FROM district WHERE code = '75112'")[0][0]))[
                "coordinates"
            ][0]
        )
        > 100
    )
    # Nothing generated is left: every station and measurement is the files'.
    assert query(db, "SELECT count(*) FROM bike_station") == [(real.loaded["bikeStations"],)]
    assert query(db, "SELECT count(*) FROM air_quality_measurement") == [
        (real.loaded["airQualityMeasurements"],)
    ]
    assert query(db, "SELECT count(*) FROM transit_route") == [(22,)]
    # The synthetic people live in the real quartiers.
    assert query(
        db,
        "SELECT count(*) FROM resident r JOIN quartier q ON q.code = r.quartier_code "
        "AND q.district_code = r.district_code",
    ) == [(2_000,)]
    assert dict(query(db, "SELECT code, population FROM district")) == dict(
        query(db, "SELECT district_code, count(*) FROM resident GROUP BY district_code")
    )

    await build(db, seed=4, residents=2_000)
    await build(tmp_path / "fresh.db", seed=4, residents=2_000)
    assert dump(db) == dump(tmp_path / "fresh.db")


async def test_the_demo_builds_on_postgresql(fresh_postgres_url: str, tmp_path: Path) -> None:
    await build(tmp_path / "city.db", seed=9, residents=1_500)
    city = City(CATALOG, Databases(fresh_postgres_url))
    try:
        await city.migrate()
        for _ in range(2):  # a rebuild replaces, it does not add
            await build_demo(city, seed=9, residents=1_500, open_data_dir=None, progress=None)
        counts = {}
        for spec in CATALOG.datasets:
            async with city.repository(spec.name).engine.connect() as conn:
                counts[spec.table.name] = (
                    await conn.execute(select(func.count()).select_from(spec.table))
                ).scalar_one()
        residents = await city.repository("residents").by_keys("id", ["R00000001"])
        table = city.repository("airQualityMeasurements").table
        async with city.repository("airQualityMeasurements").engine.connect() as conn:
            measured_at = (await conn.execute(select(func.min(table.c.measured_at)))).scalar_one()
    finally:
        await city.close()

    on_sqlite = dump(tmp_path / "city.db")
    assert counts == {name: len(rows) for name, rows in on_sqlite.items()}
    assert tuple(residents["R00000001"])[:4] == (
        *on_sqlite["resident"][0][:3],
        date.fromisoformat(str(on_sqlite["resident"][0][3])),
    )
    assert measured_at == datetime(2019, 5, 7, 1, tzinfo=UTC)
