"""A running city: its catalog, the engines of its departments and one repository per dataset."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

from sqlalchemy import Connection, Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from schema.datasets import Catalog, DatasetSpec, spec_of_model
from schema.departments import MODELS
from schema.loaders import Loaders
from storage.engines import Databases
from storage.loads import Origin, record_loads
from storage.migrate import upgrade
from storage.repository import Repository


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

    async def create_tables(self) -> None:
        """Create every missing table, each in its department's database.

        A database that fails does not keep the others from getting their tables: every one is
        tried, then the first failure is raised.
        """
        failures: list[Exception] = []
        by_engine: dict[int, list[DatasetSpec]] = defaultdict(list)
        for spec in self.catalog.datasets:
            by_engine[id(self.repositories[spec.name].engine)].append(spec)
        for specs in by_engine.values():
            engine = self.repositories[specs[0].name].engine
            tables = [s.table for s in specs]

            def create(sync: Connection, tables: list[Table] = tables) -> None:
                # references are metadata, not constraints: tables can be created in any order,
                # and published tables (their own MetaData) sit beside built-in ones
                for table in tables:
                    table.create(sync, checkfirst=True)

            try:
                async with engine.begin() as conn:
                    await conn.run_sync(create)
            except (OSError, SQLAlchemyError) as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

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

    async def migrate(self, *, extra: Mapping[str, AsyncEngine] | None = None) -> None:
        """Apply the built-in departments' migrations, each to its own database (production).

        `extra` names branches that are not datasets (the OAuth clients) and their engines.
        """
        hosted: dict[int, tuple[AsyncEngine, set[str]]] = {}
        for branch, engine in (extra or {}).items():
            hosted.setdefault(id(engine), (engine, set()))[1].add(branch)
        for spec in self.catalog.datasets:
            if spec.published:
                continue  # published datasets are created by `citygraph import manifest`
            engine = self.repositories[spec.name].engine
            hosted.setdefault(id(engine), (engine, set()))[1].add(spec.department)
        for engine, departments in hosted.values():
            await upgrade(engine, sorted(departments))

    async def close(self) -> None:
        await self.databases.dispose()
