"""Demo cities for the seeding tests: built into their own SQLite files, read back with sqlite3."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.progress import Progress

from schema.city import City, builtin_specs
from schema.datasets import Catalog
from schema.ingest import ImportReport
from schema.seeding import build_demo
from storage.engines import Databases

CATALOG = Catalog(builtin_specs())
DISTRICT_CODES = [f"751{n:02d}" for n in range(1, 21)]


def open_city(db: Path) -> City:
    return City(CATALOG, Databases(f"sqlite+aiosqlite:///{db}"))


async def build(
    db: Path,
    *,
    seed: int,
    residents: int,
    open_data_dir: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Build the demo city into a SQLite file (created if new)."""
    city = open_city(db)
    try:
        await city.migrate()
        return await build_demo(
            city, seed=seed, residents=residents, open_data_dir=open_data_dir, progress=progress
        )
    finally:
        await city.close()


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every built-in table's rows as stored, in primary-key order."""
    with sqlite3.connect(db) as conn:
        tables = {}
        for spec in CATALOG.datasets:
            order = ", ".join(c.name for c in spec.primary_key)
            tables[spec.table.name] = conn.execute(
                f"SELECT * FROM {spec.table.name} ORDER BY {order}"  # noqa: S608 - names from our own catalog
            ).fetchall()
    return tables


def query(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of a query on a SQLite file, as sqlite3 returns them (dates and times as text)."""
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


@dataclass(frozen=True)
class Demo:
    db: Path
    report: ImportReport
    residents: int


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One generated demo city (no open data) shared by a module's read-only tests."""
    db = tmp_path_factory.mktemp("demo") / "city.db"
    report = asyncio.run(build(db, seed=11, residents=2_500))
    return Demo(db, report, 2_500)
