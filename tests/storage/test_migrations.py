"""The migrations are the one way a schema is made: they build what the models describe, on both
engines, adopt tables made before them, and refuse what matches no revision without touching it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.store import metadata as audit_metadata
from auth.clients import metadata as auth_metadata
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from schema.publishing import load_catalog, publish
from storage.adopt import SchemaError
from storage.citations import CITATIONS
from storage.engines import Databases
from storage.loads import LOADS
from storage.migrate import pending, upgrade
from storage.revisions import branches, lineage
from storage.versions import VERSIONS, history_table
from tests.publishing.conftest import BENCHES_CSV, manifest_data, to_toml
from tests.services import engine_url

CATALOG = Catalog(builtin_specs())
SERVICES = ("auth", "audit", "loads")
APPEND_ONLY = {
    "sqlite": {
        "audit_log_no_update",
        "audit_log_no_delete",
        "audit_access_no_update",
        "audit_access_no_delete",
    },
    "postgresql": {
        "audit_log_append_only",
        "audit_log_no_truncate",
        "audit_access_append_only",
        "audit_access_no_truncate",
    },
}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return engine_url(request, tmp_path / "migrated.db")


def every_model() -> MetaData:
    """Every table the code describes: datasets and their histories, clients, the log, the loads,
    the versions and the citations."""
    metadata = MetaData()
    for spec in CATALOG.datasets:
        spec.table.to_metadata(metadata)
        if spec.versioned:
            history_table(spec.table, metadata)
    services = (*auth_metadata.tables.values(), *audit_metadata.tables.values())
    for table in (*services, LOADS, VERSIONS, CITATIONS):
        table.to_metadata(metadata)
    return metadata


async def differences(
    engine: AsyncEngine, metadata: MetaData, *, only: str | None = None
) -> list[Any]:
    def mine(_obj: Any, name: str | None, kind: str, *_: Any) -> bool:
        return only is None or kind != "table" or name == only

    def diff(sync: Any) -> list[Any]:
        opts = {"compare_type": True, "include_object": mine}
        found = list(compare_metadata(MigrationContext.configure(sync, opts=opts), metadata))
        # alembic compares no primary keys: a key the model dropped (audit_access) or added
        # would go unseen
        inspector = inspect(sync)
        for table in metadata.sorted_tables:
            if only is None or table.name == only:
                keyed = inspector.get_pk_constraint(table.name)["constrained_columns"]
                if keyed != [c.name for c in table.primary_key]:
                    found.append(("primary key", table.name, keyed))
        return found

    async with engine.connect() as conn:
        return await conn.run_sync(diff)


async def triggers(engine: AsyncEngine) -> set[str]:
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        if engine.dialect.name == "sqlite"
        else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    )
    async with engine.connect() as conn:
        return {row[0] for row in await conn.exec_driver_sql(query)}


def services(databases: Databases) -> dict[str, AsyncEngine]:
    return {name: databases.engine_for(name) for name in ("auth", "audit")}


def test_every_department_and_service_has_a_branch() -> None:
    assert branches() == sorted([*CATALOG.departments(), *SERVICES])


async def test_the_migrations_make_exactly_what_the_models_describe(database_url: str) -> None:
    databases = Databases(database_url)
    city = City(CATALOG, databases)
    applied = await city.migrate(extra=services(databases))
    assert len(applied) == sum(len(lineage(b)) for b in branches())  # every revision, once
    engine = databases.engine_for("territory")
    assert await differences(engine, every_model()) == []
    assert APPEND_ONLY[engine.dialect.name] <= await triggers(engine)
    assert await city.migrate(extra=services(databases)) == []  # nothing left to apply
    assert await city.pending(extra=services(databases)) == []
    await city.close()


async def test_a_published_table_is_what_its_manifest_describes(
    database_url: str, tmp_path: Path
) -> None:
    databases = Databases(database_url)
    await City(CATALOG, databases).migrate()
    folder = tmp_path / "manifest"
    folder.mkdir()
    (folder / "benches.csv").write_text(BENCHES_CSV, encoding="utf-8")
    (folder / "manifest.toml").write_text(to_toml(manifest_data()), encoding="utf-8")
    await publish(
        manifest=folder / "manifest.toml", data_dir=tmp_path / "city", databases=databases
    )
    spec = load_catalog(tmp_path / "city").by_name("benches")
    metadata = MetaData()
    spec.table.to_metadata(metadata)
    engine = databases.engine_for(spec.department)
    assert await differences(engine, metadata, only=spec.table.name) == []
    await databases.dispose()


async def test_a_department_on_its_own_database_gets_only_its_tables(tmp_path: Path) -> None:
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
    # the `loads` branch (loads, versions, citations) is in every database that holds datasets
    loads = {"citygraph_load", "citygraph_version", "citygraph_citation"}
    assert registry_tables == {"household", "resident", *loads, "alembic_version"}
    assert "resident" not in main_tables
    assert {"district", "bike_station", "benefit_case", "citygraph_load"} <= main_tables
    await city.close()


async def test_an_unreachable_department_does_not_stop_the_others_getting_tables(
    tmp_path: Path,
) -> None:
    # the default database (territory, first in the catalog) is unreachable; mobility, tried
    # after it, must still get its tables
    databases = Databases(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        {"mobility": f"sqlite+aiosqlite:///{tmp_path}/mobility.db"},
    )
    city = City(CATALOG, databases)
    with pytest.raises(ConnectionRefusedError):
        await city.migrate()
    async with databases.engine_for("mobility").connect() as conn:
        tables = await conn.run_sync(lambda s: set(inspect(s).get_table_names()))
    assert {"bike_station", "transit_stop_time"} <= tables
    await city.close()


async def made_before_migrations(engine: AsyncEngine) -> None:
    """What release 0.1 did outside production: every table from the models, no alembic_version."""
    async with engine.begin() as conn:
        await conn.run_sync(every_model().create_all)
    # the log's guards, as 0.1 made them beside its tables: from the audit branch's own script
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: _audit_triggers(sync))


def _audit_triggers(sync: Any) -> None:
    from alembic.operations import Operations

    module = lineage("audit")[0].module
    context = MigrationContext.configure(sync)
    with Operations.context(context):
        statements = (
            module.POSTGRES_TRIGGERS
            if sync.dialect.name == "postgresql"
            else module.SQLITE_TRIGGERS
        )
        for statement in statements:
            sync.exec_driver_sql(statement)


async def test_tables_made_before_migrations_are_adopted_and_kept(database_url: str) -> None:
    databases = Databases(database_url)
    engine = databases.engine_for("territory")
    await made_before_migrations(engine)
    async with engine.begin() as conn:
        await conn.execute(
            LOADS.insert().values(dataset="districts", origin="generated", loaded_at=func.now())
        )
    wanted = ["territory", "audit", "loads"]
    behind = await pending(engine, wanted)
    assert [(b.branch, b.unversioned) for b in behind] == [(b, True) for b in sorted(wanted)]
    assert "not yet under migrations" in behind[0].describe()
    applied = await upgrade(engine, wanted)
    assert applied == []  # stamped at the revision they match: nothing to run
    assert await pending(engine, wanted) == []
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT dataset FROM citygraph_load"))).scalar_one()
        assert kept == "districts"
    assert APPEND_ONLY[engine.dialect.name] <= await triggers(engine)
    await databases.dispose()


async def test_tables_that_match_no_revision_are_refused_and_left_alone(database_url: str) -> None:
    databases = Databases(database_url)
    engine = databases.engine_for("registry")
    await made_before_migrations(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO household (id, address, district_code, quartier_code) "
                "VALUES ('H1', '1 rue de Rivoli', '75101', '7510101')"
            )
        )
        await conn.execute(text("ALTER TABLE household ADD COLUMN pets INTEGER"))
    with pytest.raises(SchemaError) as refused:
        await upgrade(engine, ["registry"])
    assert "registry tables match no revision" in str(refused.value)
    assert "household.pets is not in the revision" in str(refused.value)
    async with engine.connect() as conn:
        assert (
            await conn.execute(select(func.count()).select_from(text("household")))
        ).scalar() == 1
        versions = await conn.run_sync(lambda s: inspect(s).has_table("alembic_version"))
        assert (
            not versions
            or (await conn.execute(text("SELECT count(*) FROM alembic_version"))).scalar() == 0
        )
    await databases.dispose()


async def test_a_database_a_newer_release_migrated_is_refused(database_url: str) -> None:
    databases = Databases(database_url)
    engine = databases.engine_for("territory")
    await upgrade(engine, ["territory"])
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    with pytest.raises(
        SchemaError, match="revision f00dfeedbeef, which this release does not know"
    ):
        await upgrade(engine, ["territory"])
    await databases.dispose()
