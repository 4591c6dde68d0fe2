"""bench.flat: its generator fills the residents table on both engines, and a tiny run measures
every page it reports (the million-row run is by hand, docs/performance.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bench.flat import fill_residents, measure, prepare, report, resident_id
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases
from tests.services import engine_url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return engine_url(request, tmp_path / "city.db")


async def test_the_generator_replaces_the_rows_with_ids_in_key_order(database_url: str) -> None:
    city = City(Catalog(builtin_specs()), Databases(database_url))
    await city.migrate()
    engine = city.repository("residents").engine
    await fill_residents(engine, 500)
    await fill_residents(engine, 300)
    async with engine.connect() as conn:
        ids = (await conn.execute(text("SELECT id FROM resident ORDER BY id"))).scalars().all()
        districts = (
            await conn.execute(text("SELECT count(DISTINCT district_code) FROM resident"))
        ).scalar_one()
    await city.close()
    assert ids == [resident_id(n) for n in range(300)]
    assert districts == 20


async def test_a_small_run_measures_every_page_at_every_size(tmp_path: Path) -> None:
    urls = {("sqlite", size): f"sqlite+aiosqlite:///{tmp_path}/{size}.db" for size in (300, 600)}
    for (_engine, size), url in urls.items():
        await prepare(url, size)
    cases = await measure(urls, requests=2, rounds=1, scratch=tmp_path / "apps")
    assert {(c.size, c.what) for c in cases} >= {
        (300, "graphql, 150 from end"),
        (600, "statement, middle"),
        (600, "totalCount alone (COUNT(*))"),
    }
    assert all(c.samples for c in cases)
    report(cases, [300, 600])
