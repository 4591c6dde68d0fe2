"""Cities for the importer tests: a fresh SQLite file per test, and helpers to read whole tables."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases

CATALOG = Catalog(builtin_specs())
PARIS_FILES = (
    "paris_arrondissements.geojson",
    "paris_quartiers.geojson",
    "paris_velib_stations.csv",
    "paris_sanisettes.csv",
    "air_quality_stations.csv",
    "air_quality_no2_long.csv",
)


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder}/city.db"


async def open_city(url: str) -> City:
    city = City(CATALOG, Databases(url))
    await city.migrate()
    return city


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[City]:
    """An empty city on its own SQLite file."""
    city = await open_city(sqlite_url(tmp_path))
    yield city
    await city.close()


@pytest.fixture
def paris_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the Paris files, for tests that alter or remove one."""
    folder = tmp_path / "paris"
    folder.mkdir()
    for name in PARIS_FILES:
        shutil.copy(shared_data / name, folder / name)
    return folder


async def rows_of(city: City, dataset: str) -> list[dict[str, Any]]:
    """Every row of a dataset as dicts, in primary-key order."""
    repository = city.repository(dataset)
    table = repository.table
    order = [table.c[c] for c in repository.primary_key]
    async with repository.engine.connect() as conn:
        result = await conn.execute(select(table).order_by(*order))
        return [dict(r._mapping) for r in result]


async def count_of(city: City, dataset: str) -> int:
    repository = city.repository(dataset)
    async with repository.engine.connect() as conn:
        result = await conn.execute(select(func.count()).select_from(repository.table))
        return int(result.scalar_one())
