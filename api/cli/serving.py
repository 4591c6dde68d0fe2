"""`citygraph demo | serve | migrate`: build the demo city, serve, bring the databases to this release."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from api.cli.city import city_of, ready_to_serve, unprepared, with_city
from api.cli.common import HostOption, PortOption, app, console, load_settings, progress_bar
from api.cli.loading import load, print_report
from api.settings import Settings


def serve_city(settings: Settings, overrides: Mapping[str, object]) -> None:
    """Prepare the databases once, then run the server (and its workers)."""
    from api.logs import configure_logging
    from api.server import run

    configure_logging(settings.log_level)
    ready_to_serve(settings)
    console.print(f"citygraph on {settings.base_url}/graphql (GraphiQL in a browser)")
    run(settings, overrides)


@app.command()
def demo(
    port: PortOption = None,
    host: HostOption = None,
    residents: Annotated[
        int | None, typer.Option(help="Synthetic residents in the civil registry.")
    ] = None,
    open_data: Annotated[
        Path | None, typer.Option(help="Folder of real open datasets to import (see SOURCES.md).")
    ] = None,
    build_only: Annotated[
        bool, typer.Option("--build-only", help="Build the demo city, do not serve it.")
    ] = False,
) -> None:
    """Build the demo city (seeded, deterministic) into local SQLite files and serve it."""
    from schema.seeding import build_demo

    overrides = {"port": port, "host": host}
    settings = load_settings(**overrides, demo_residents=residents, open_data_dir=open_data)
    with progress_bar() as progress:
        report = load(
            lambda: asyncio.run(
                with_city(
                    settings,
                    lambda city: build_demo(
                        city,
                        seed=settings.demo_seed,
                        residents=settings.demo_residents,
                        open_data_dir=settings.open_data_dir,
                        progress=progress,
                    ),
                )
            )
        )
    print_report(report)
    if not build_only:
        serve_city(settings, overrides)


@app.command()
def serve(
    port: PortOption = None,
    host: HostOption = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Server processes, each with its own pools and audit chain (default 1)."),
    ] = None,
) -> None:
    """Serve the city as it is (build it first with `demo --build-only` or the importers)."""
    overrides = {"port": port, "host": host, "workers": workers}
    serve_city(load_settings(**overrides), overrides)


@app.command()
def migrate() -> None:
    """Bring every database to this release's schema (run it before `serve` in production).

    A database made by `create_all` before release 0.2 is recognised and adopted first; one whose
    tables match no revision is refused with the differences, and nothing is changed.
    """
    from api.databases import service_branches
    from storage.adopt import SchemaError
    from storage.schema_lock import SchemaLockTimeout

    settings = load_settings()

    async def run() -> list[str]:
        city = city_of(settings)
        try:
            return await city.migrate(extra=service_branches(city.databases))
        finally:
            await city.close()

    try:
        applied = asyncio.run(run())
    except (SchemaError, SchemaLockTimeout) as exc:
        raise unprepared(exc) from exc
    except (OSError, SQLAlchemyError) as exc:
        raise unprepared(
            RuntimeError(f"a database could not be reached ({type(exc).__name__})")
        ) from exc
    if applied:
        console.print(f"migrations applied: {', '.join(applied)}")
    else:
        console.print("every database is at this release's schema")
