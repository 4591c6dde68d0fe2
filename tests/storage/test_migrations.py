"""Migrations build exactly the tables the models describe, per department, on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect

from auth.clients import metadata as auth_metadata
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases
from storage.migrate import branches

CATALOG = Catalog(builtin_specs())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/migrated.db"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def test_every_department_has_a_branch() -> None:
    assert branches() == sorted([*CATALOG.departments(), "auth", "audit"])


async def test_upgraded_database_matches_the_models(database_url: str) -> None:
    databases = Databases(database_url)
    city = City(CATALOG, databases)
    await city.migrate(extra={"auth": databases.engine_for("auth")})
    metadata = MetaData()
    for spec in CATALOG.datasets:
        spec.table.to_metadata(metadata)
    auth_metadata.tables["oauth_client"].to_metadata(metadata)

    def diff(sync: Any) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    engine = next(city.databases.engines())
    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    await city.migrate()  # a second upgrade is a no-op
    await city.close()


async def test_a_department_on_its_own_database_gets_only_its_tables(tmp_path: Any) -> None:
    databases = Databases(
        f"sqlite+aiosqlite:///{tmp_path}/main.db",
        {"registry": f"sqlite+aiosqlite:///{tmp_path}/registry.db"},
    )
    city = City(CATALOG, databases)
    await city.migrate()
    registry = databases.engine_for("registry")
    main = databases.engine_for("territory")
    async with registry.connect() as conn:
        registry_tables = await conn.run_sync(lambda s: set(inspect(s).get_table_names()))
    async with main.connect() as conn:
        main_tables = await conn.run_sync(lambda s: set(inspect(s).get_table_names()))
    assert registry_tables == {"household", "resident", "alembic_version"}
    assert "resident" not in main_tables
    assert {"district", "bike_station", "benefit_case"} <= main_tables
    await city.close()


async def test_an_unreachable_department_does_not_stop_the_others_getting_tables(
    tmp_path: Any,
) -> None:
    # the default database (territory, first in the catalog) is unreachable; mobility, tried
    # after it, must still get its tables
    databases = Databases(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        {"mobility": f"sqlite+aiosqlite:///{tmp_path}/mobility.db"},
    )
    city = City(CATALOG, databases)
    with pytest.raises(ConnectionRefusedError):
        await city.create_tables()
    async with databases.engine_for("mobility").connect() as conn:
        tables = await conn.run_sync(lambda s: set(inspect(s).get_table_names()))
    assert {"bike_station", "transit_stop_time"} <= tables
    await city.close()
