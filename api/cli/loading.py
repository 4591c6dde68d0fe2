"""`citygraph import paris | gtfs | manifest`: real data into the city, with a report of what was skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from api.cli.city import announce, prepared, with_city
from api.cli.common import console, import_app, load_settings, progress_bar
from schema.city import City
from schema.datasets import Catalog
from schema.ingest import ImportReport

SHOWN_SKIPS = 20


def load(work: Callable[[], ImportReport]) -> ImportReport:
    """Run a load; a problem with the input is one clear line and exit status 2, not a traceback."""
    from schema.ingest.text import SourceError

    try:
        return work()
    except (SourceError, ValueError) as exc:
        # SourceError names the file; ValueError covers manifest and settings problems
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def print_report(report: ImportReport) -> None:
    """What was loaded and what was skipped, by reason, with the first rows skipped."""
    table = Table(title="loaded")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    for name, count in sorted(report.loaded.items()):
        table.add_row(name, str(count))
    console.print(table)
    if report.skipped:
        skipped = Table(title="skipped")
        skipped.add_column("dataset")
        skipped.add_column("reason")
        skipped.add_column("rows", justify="right")
        for (dataset, reason), count in sorted(report.skipped_by_reason().items()):
            skipped.add_row(dataset, reason, str(count))
        console.print(skipped)
        for row in report.skipped[:SHOWN_SKIPS]:
            console.print(f"  skipped {row.dataset} {row.row}: {row.reason}")
        if len(report.skipped) > SHOWN_SKIPS:
            console.print(f"  ... and {len(report.skipped) - SHOWN_SKIPS} more")
    for note in report.notes:
        console.print(f"note: {note}")


@import_app.command("paris")
def import_paris(
    folder: Annotated[Path, typer.Argument(help="Folder holding the Paris files (SOURCES.md).")],
) -> None:
    """Import the real Paris datasets: arrondissements, quartiers, Vélib', toilets, air quality."""
    from schema.ingest.paris import import_paris as run

    settings = load_settings()
    with progress_bar() as progress:
        report = load(
            lambda: asyncio.run(
                with_city(settings, lambda city: run(city, folder, progress=progress))
            )
        )
    print_report(report)


@import_app.command("gtfs")
def import_gtfs(feed: Annotated[Path, typer.Argument(help="A GTFS zip file.")]) -> None:
    """Import a GTFS feed: routes, stops, trips and stop times."""
    from schema.ingest.gtfs import import_gtfs as run

    settings = load_settings()
    with progress_bar() as progress:
        report = load(
            lambda: asyncio.run(
                with_city(settings, lambda city: run(city, feed, progress=progress))
            )
        )
    print_report(report)


def department_of(manifest: Path) -> str:
    """The department a manifest publishes into; a broken manifest is publish's to report."""
    from schema.manifest_reading import load_manifest

    try:
        return load_manifest(manifest).department
    except (OSError, ValueError):
        return "*"  # the default database


@import_app.command("manifest")
def import_manifest(
    manifest: Annotated[Path, typer.Argument(help="A dataset manifest (TOML).")],
) -> None:
    """Publish a CSV dataset described by a manifest; it joins the schema on the next start."""
    from schema.city import builtin_specs
    from schema.publishing import publish
    from storage.engines import Databases
    from storage.revisions import LOADS_BRANCH

    settings = load_settings()

    async def run(progress: Progress) -> ImportReport:
        # not through _with_city: loading the catalog stops on a broken stored manifest, and
        # publishing it again is how a department repairs one
        databases = Databases(settings.default_database_url, settings.database_urls)
        try:
            await prepared(
                settings,
                City(Catalog(builtin_specs()), databases),
                **{LOADS_BRANCH: databases.engine_for(department_of(manifest))},
            )
            report = await publish(
                manifest=manifest,
                data_dir=settings.data_dir,
                databases=databases,
                progress=progress,
            )
        finally:
            await databases.dispose()
        await announce(settings, set(report.loaded))
        return report

    with progress_bar() as progress:
        report = load(lambda: asyncio.run(run(progress)))
    print_report(report)
