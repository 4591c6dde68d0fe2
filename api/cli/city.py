"""A city for a command: its databases migrated (development) or checked (production) first."""

from __future__ import annotations

import asyncio

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.cli.common import console
from api.settings import Settings
from schema.city import City
from schema.datasets import Catalog


def unprepared(exc: Exception) -> typer.Exit:
    """A database that cannot be brought to this release's schema: one line, exit status 2."""
    # soft_wrap: rich would break the line at the terminal's width (80 columns without one)
    console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(2)


async def prepared(settings: Settings, city: City, **extra: AsyncEngine) -> None:
    """Migrate the city's databases (development) or check them (production), or exit cleanly."""
    from api.databases import DatabaseBehind, prepare
    from schema.publication_check import PublishedTableError
    from storage.adopt import SchemaError
    from storage.schema_lock import SchemaLockTimeout

    try:
        await prepare(settings, city, extra=extra)
    except (DatabaseBehind, SchemaError, SchemaLockTimeout, PublishedTableError) as exc:
        raise unprepared(exc) from exc


def city_of(settings: Settings, catalog: Catalog | None = None) -> City:
    """The city of these settings (its published datasets included unless `catalog` is given)."""
    from schema.publishing import load_catalog
    from storage.engines import Databases

    return City(
        catalog or load_catalog(settings.data_dir),
        Databases(settings.default_database_url, settings.database_urls),
    )


def ready_to_serve(settings: Settings) -> None:
    """Before a server starts: its databases at this release's schema, or one line and exit 2.

    The lifespan prepares them again (a no-op by then); doing it here first keeps a production
    refusal to one line instead of a server's traceback, and migrates once for every worker.
    """

    async def run() -> None:
        city = city_of(settings)
        try:
            await prepared(settings, city)
        except (OSError, SQLAlchemyError) as exc:  # unreachable: the server starts, /readyz says
            console.print(f"warning: a database could not be prepared ({type(exc).__name__})")
        finally:
            await city.close()

    asyncio.run(run())


async def with_city(settings: Settings, work):  # type: ignore[no-untyped-def]
    city = city_of(settings)
    loaded: set[str] = set()
    city.load_listeners.append(loaded.update)
    try:
        await prepared(settings, city)
        return await work(city)
    finally:
        await city.close()
        await announce(settings, loaded)


async def announce(settings: Settings, loaded: set[str]) -> None:
    """With Redis, tell the servers what was loaded: their caches drop it now, not after a TTL."""
    if loaded and settings.redis_url:
        from storage.load_news import announce

        await announce(settings.redis_url, loaded)
