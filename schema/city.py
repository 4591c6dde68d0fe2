"""A running city: its catalog, the engines of its departments and one repository per dataset."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schema.datasets import Catalog, DatasetSpec, spec_of_model
from schema.departments import MODELS
from schema.loaders import Loaders
from storage.engines import Databases
from storage.loads import Origin, record_loads
from storage.migrate import Behind, pending, upgrade
from storage.repository import Finish, Repository
from storage.revisions import LOADS_BRANCH
from storage.versions import commit_version, history_table, latest_numbers


def builtin_specs() -> list[DatasetSpec]:
    """The datasets every citygraph has."""
    return [spec_of_model(model) for model in MODELS]


class City:
    """Catalog plus storage: what the app, the CLI and the importers share."""

    def __init__(self, catalog: Catalog, databases: Databases) -> None:
        self.catalog = catalog
        self.databases = databases
        self.repositories = {
            spec.name: Repository(databases.engine_for(spec.department), spec.table)
            for spec in catalog.datasets
        }
        self.load_listeners: list[Callable[[set[str]], None]] = []
        """Called with the names of the datasets whose loads were just recorded."""

    def loaders(self) -> Loaders:
        """Fresh loaders for one request."""
        return Loaders(self.repositories)

    def repository(self, dataset: str) -> Repository:
        return self.repositories[dataset]

    def versioning(self, dataset: str, *, origin: Origin, source: str | None) -> Finish | None:
        """What a write of `dataset` runs last in its transaction: record its next version.

        None for a dataset without history (one that holds personal data: schema.datasets).
        """
        spec = self.catalog.by_name(dataset)
        if not spec.versioned:
            return None

        async def finish(conn: AsyncConnection) -> None:
            await commit_version(
                conn, dataset=dataset, table=spec.table, origin=origin, source=source
            )

        return finish

    async def record_loads(
        self, datasets: Mapping[str, int | None], *, origin: Origin, source: str | None = None
    ) -> None:
        """Record where these datasets' rows came from (each in its department's database)."""
        by_engine: dict[int, tuple[AsyncEngine, dict[str, int | None]]] = {}
        for name, count in datasets.items():
            if name not in self.repositories:
                continue
            engine = self.repositories[name].engine
            by_engine.setdefault(id(engine), (engine, {}))[1][name] = count
        for engine, loaded in by_engine.values():
            await record_loads(engine, datasets=loaded, origin=origin, source=source)
        for listener in self.load_listeners:  # e.g. the response cache's dataset versions
            listener(set(datasets))

    def hosted(
        self, extra: Mapping[str, AsyncEngine] | None = None
    ) -> list[tuple[AsyncEngine, list[str]]]:
        """Each database of the city with the migration branches it holds.

        A built-in dataset's department is a branch of its database; every database that holds
        datasets (published ones included) has the loads table too. `extra` names branches that
        are not datasets (the OAuth clients, the access log) and their engines.
        """
        hosted: dict[int, tuple[AsyncEngine, set[str]]] = {}
        for branch, engine in (extra or {}).items():
            hosted.setdefault(id(engine), (engine, set()))[1].add(branch)
        for spec in self.catalog.datasets:
            engine = self.repositories[spec.name].engine
            branches = hosted.setdefault(id(engine), (engine, set()))[1]
            branches.add(LOADS_BRANCH)
            if not spec.published:  # a published dataset's table is its publication's
                branches.add(spec.department)
        return [(engine, sorted(branches)) for engine, branches in hosted.values()]

    async def migrate(self, *, extra: Mapping[str, AsyncEngine] | None = None) -> list[str]:
        """Apply every missing migration, each database in turn; the revisions applied.

        Every database is tried even when one fails (an unreachable one must not keep the
        others from their tables); then the first failure is raised.
        """
        applied: list[str] = []
        failures: list[Exception] = []
        for engine, branches in self.hosted(extra):
            try:
                applied += await upgrade(engine, branches)
            except (OSError, SQLAlchemyError) as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        await self.version_unversioned()
        return applied

    async def version_unversioned(self) -> list[str]:
        """Give a first version to each public dataset that has rows but none yet.

        A database made before release 0.3 holds rows no version describes: its first version
        is what it holds at the upgrade, so that citations and `asOf` can name it.
        """
        versioned = [s for s in self.catalog.datasets if s.versioned]
        by_engine: dict[int, tuple[AsyncEngine, list[DatasetSpec]]] = {}
        for spec in versioned:
            engine = self.repositories[spec.name].engine
            by_engine.setdefault(id(engine), (engine, []))[1].append(spec)
        made: list[str] = []
        for engine, specs in by_engine.values():
            known = await latest_numbers(engine, [s.name for s in specs])
            for spec in specs:
                if spec.name in known:
                    continue
                async with engine.begin() as conn:
                    if spec.published:  # published before 0.3: its history is made now
                        await conn.run_sync(history_table(spec.table).create, checkfirst=True)
                    if (await conn.execute(select(spec.table).limit(1))).first() is None:
                        continue
                    await commit_version(
                        conn, dataset=spec.name, table=spec.table, origin="adopted", source=None
                    )
                made.append(spec.name)
        return made

    async def pending(self, *, extra: Mapping[str, AsyncEngine] | None = None) -> list[Behind]:
        """What `migrate` would apply, database by database, without applying it."""
        behind: list[Behind] = []
        for engine, branches in self.hosted(extra):
            behind += await pending(engine, branches)
        return behind

    async def close(self) -> None:
        await self.databases.dispose()
