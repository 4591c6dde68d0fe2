"""The `citygraph` command line: demo, serve, import, schema."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.settings import Environment, Settings
from audit.cli import AuditCliConfig, audit_cli
from auth.cli import AuthCliConfig, clients_cli, keys_cli, token_cli
from schema.city import City
from schema.datasets import Catalog
from schema.ingest import ImportReport

app = typer.Typer(
    help="citygraph: one GraphQL API for a city's open and personal data.", no_args_is_help=True
)
import_app = typer.Typer(help="Load real data into the city.", no_args_is_help=True)
app.add_typer(import_app, name="import")
console = Console(stderr=True)
SHOWN_SKIPS = 20

PortOption = Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8000).")]
HostOption = Annotated[
    str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
]


def _settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except Exception as exc:  # pydantic's message names the bad variable; say it and stop
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _load(work: Callable[[], ImportReport]) -> ImportReport:
    """Run a load; a problem with the input is one clear line and exit status 2, not a traceback."""
    from schema.ingest.text import SourceError

    try:
        return work()
    except (SourceError, ValueError) as exc:
        # SourceError names the file; ValueError covers manifest and settings problems
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _print_report(report: ImportReport) -> None:
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


def _unprepared(exc: Exception) -> typer.Exit:
    """A database that cannot be brought to this release's schema: one line, exit status 2."""
    console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


async def _prepared(settings: Settings, city: City, **extra: AsyncEngine) -> None:
    """Migrate the city's databases (development) or check them (production), or exit cleanly."""
    from api.databases import DatabaseBehind, prepare
    from schema.published_tables import PublishedTableError
    from storage.adopt import SchemaError
    from storage.schema_lock import SchemaLockTimeout

    try:
        await prepare(settings, city, extra=extra)
    except (DatabaseBehind, SchemaError, SchemaLockTimeout, PublishedTableError) as exc:
        raise _unprepared(exc) from exc


def _city(settings: Settings, catalog: Catalog | None = None) -> City:
    from schema.publishing import load_catalog
    from storage.engines import Databases

    return City(
        catalog or load_catalog(settings.data_dir),
        Databases(settings.default_database_url, settings.database_urls),
    )


def _ready_to_serve(settings: Settings) -> None:
    """Before a server starts: its databases at this release's schema, or one line and exit 2.

    The lifespan prepares them again (a no-op by then); doing it here first keeps a production
    refusal to one line instead of a server's traceback, and migrates once for every worker.
    """

    async def run() -> None:
        city = _city(settings)
        try:
            await _prepared(settings, city)
        except (OSError, SQLAlchemyError) as exc:  # unreachable: the server starts, /readyz says
            console.print(f"warning: a database could not be prepared ({type(exc).__name__})")
        finally:
            await city.close()

    asyncio.run(run())


async def _with_city(settings: Settings, work):  # type: ignore[no-untyped-def]
    city = _city(settings)
    loaded: set[str] = set()
    city.load_listeners.append(loaded.update)
    try:
        await _prepared(settings, city)
        return await work(city)
    finally:
        await city.close()
        await _announce(settings, loaded)


async def _announce(settings: Settings, loaded: set[str]) -> None:
    """With Redis, tell the servers what was loaded: their caches drop it now, not after a TTL."""
    if loaded and settings.redis_url:
        from storage.load_news import announce

        await announce(settings.redis_url, loaded)


def _serve(settings: Settings, overrides: Mapping[str, object]) -> None:
    from api.logs import configure_logging
    from api.server import run

    configure_logging(settings.log_level)
    _ready_to_serve(settings)
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
    settings = _settings(**overrides, demo_residents=residents, open_data_dir=open_data)
    with _progress() as progress:
        report = _load(
            lambda: asyncio.run(
                _with_city(
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
    _print_report(report)
    if not build_only:
        _serve(settings, overrides)


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
    _serve(_settings(**overrides), overrides)


@import_app.command("paris")
def import_paris(
    folder: Annotated[Path, typer.Argument(help="Folder holding the Paris files (SOURCES.md).")],
) -> None:
    """Import the real Paris datasets: arrondissements, quartiers, Vélib', toilets, air quality."""
    from schema.ingest.paris import import_paris as run

    settings = _settings()
    with _progress() as progress:
        report = _load(
            lambda: asyncio.run(
                _with_city(settings, lambda city: run(city, folder, progress=progress))
            )
        )
    _print_report(report)


@import_app.command("gtfs")
def import_gtfs(feed: Annotated[Path, typer.Argument(help="A GTFS zip file.")]) -> None:
    """Import a GTFS feed: routes, stops, trips and stop times."""
    from schema.ingest.gtfs import import_gtfs as run

    settings = _settings()
    with _progress() as progress:
        report = _load(
            lambda: asyncio.run(
                _with_city(settings, lambda city: run(city, feed, progress=progress))
            )
        )
    _print_report(report)


def _department_of(manifest: Path) -> str:
    """The department a manifest publishes into; a broken manifest is publish's to report."""
    from schema.manifest import load_manifest

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

    settings = _settings()

    async def run(progress: Progress) -> ImportReport:
        # not through _with_city: loading the catalog stops on a broken stored manifest, and
        # publishing it again is how a department repairs one
        databases = Databases(settings.default_database_url, settings.database_urls)
        try:
            await _prepared(
                settings,
                City(Catalog(builtin_specs()), databases),
                **{LOADS_BRANCH: databases.engine_for(_department_of(manifest))},
            )
            report = await publish(
                manifest=manifest,
                data_dir=settings.data_dir,
                databases=databases,
                progress=progress,
            )
        finally:
            await databases.dispose()
        await _announce(settings, set(report.loaded))
        return report

    with _progress() as progress:
        report = _load(lambda: asyncio.run(run(progress)))
    _print_report(report)


@app.command()
def migrate() -> None:
    """Bring every database to this release's schema (run it before `serve` in production).

    A database made by `create_all` before release 0.2 is recognised and adopted first; one whose
    tables match no revision is refused with the differences, and nothing is changed.
    """
    from api.databases import service_branches
    from storage.adopt import SchemaError
    from storage.schema_lock import SchemaLockTimeout

    settings = _settings()

    async def run() -> list[str]:
        city = _city(settings)
        try:
            return await city.migrate(extra=service_branches(city.databases))
        finally:
            await city.close()

    try:
        applied = asyncio.run(run())
    except (SchemaError, SchemaLockTimeout) as exc:
        raise _unprepared(exc) from exc
    except (OSError, SQLAlchemyError) as exc:
        raise _unprepared(
            RuntimeError(f"a database could not be reached ({type(exc).__name__})")
        ) from exc
    if applied:
        console.print(f"migrations applied: {', '.join(applied)}")
    else:
        console.print("every database is at this release's schema")


@app.command()
def schema(
    subgraph: Annotated[
        str | None, typer.Option(help="Print one department's subgraph SDL instead.")
    ] = None,
) -> None:
    """Print the composed schema's SDL, or one department's Federation v2 subgraph SDL."""
    from schema.gateway import build_gateway_schema
    from schema.publishing import load_catalog

    settings = _settings()
    catalog = load_catalog(settings.data_dir)
    if subgraph is not None:
        from schema.federation import build_subgraph_schema

        _check_department(catalog.departments(), subgraph)
        typer.echo(build_subgraph_schema(catalog, subgraph).as_str())
        return
    typer.echo(build_gateway_schema(catalog).as_str())


NODE_TOOLS = Path(__file__).resolve().parents[1] / "tools" / "node"
"""The npm packages the federation tooling runs on (`npm ci` there installs them)."""


@app.command()
def supergraph(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the supergraph SDL.")
    ] = Path("supergraph.graphql"),
    urls: Annotated[
        str, typer.Option(help="Each subgraph's URL, {name} standing for its department.")
    ] = "http://{name}:8000/graphql",
) -> None:
    """Compose this city's subgraphs into a supergraph for a router, published datasets included.

    The committed supergraph.graphql covers the built-in datasets; a city that publishes its own
    runs this after each publication and gives the router the result. Needs Node.js and
    `npm ci` in tools/node (Apollo's composition library); fails on any composition error.
    """
    import shutil
    import subprocess
    import tempfile

    from schema.federation import write_subgraphs
    from schema.publishing import load_catalog

    node = shutil.which("node")
    script = NODE_TOOLS / "compose-supergraph.mjs"
    if node is None or not (NODE_TOOLS / "node_modules" / "@apollo" / "composition").is_dir():
        console.print(f"[red]composing needs Node.js and `npm ci` in {NODE_TOOLS}[/red]")
        raise typer.Exit(2)
    catalog = load_catalog(_settings().data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        write_subgraphs(catalog, Path(tmp))
        done = subprocess.run(  # noqa: S603 (our own script, arguments we built)
            [node, str(script), tmp, str(output), urls], capture_output=True, text=True
        )
    if done.returncode != 0:
        console.print(f"[red]composition failed[/red]\n{done.stderr}")
        raise typer.Exit(1)
    console.print(f"{output}: {len(catalog.departments())} subgraphs composed")


def _check_department(departments: list[str], name: str) -> None:
    if name not in departments:
        console.print(
            f"[red]no subgraph {name!r};[/red] the subgraphs are {', '.join(departments)}"
        )
        raise typer.Exit(2)


subgraph_app = typer.Typer(
    help="Serve one department as a Federation v2 subgraph.", no_args_is_help=True
)
app.add_typer(subgraph_app, name="subgraph")


@subgraph_app.command("serve")
def subgraph_serve(
    name: Annotated[str, typer.Argument(help="The department, for example mobility.")],
    port: PortOption = None,
    host: HostOption = None,
) -> None:
    """Serve one department's subgraph at /graphql, for a federation router in front.

    CITYGRAPH_ROUTER_SECRET, when set, restricts introspection and `_service` to requests that
    carry it in the `Citygraph-Router` header (the router's).
    """
    import os

    import uvicorn

    from api.subgraph import create_subgraph_app
    from schema.publishing import load_catalog

    settings = _settings(port=port, host=host)
    _check_department(load_catalog(settings.data_dir).departments(), name)
    _ready_to_serve(settings)
    subgraph_server = create_subgraph_app(
        settings, name, router_secret=os.environ.get("CITYGRAPH_ROUTER_SECRET") or None
    )
    console.print(f"subgraph {name} on http://{settings.host}:{settings.port}/graphql")
    uvicorn.run(
        subgraph_server, host=settings.host, port=settings.port, log_level=settings.log_level
    )


@app.command()
def catalog(
    form: Annotated[
        str, typer.Option("--format", help="jsonld, ttl, rdf (RDF/XML) or nt (N-Triples).")
    ] = "jsonld",
) -> None:
    """Print the whole DCAT-AP catalog (the server adds when each dataset was last loaded)."""
    from api.catalog import catalog_meta
    from api.rdf import EXTENSIONS, serialize
    from schema.dcat_graph import catalog_graph
    from schema.publishing import load_catalog

    if form not in EXTENSIONS:
        console.print(f"[red]error:[/red] --format is one of {', '.join(EXTENSIONS)}")
        raise typer.Exit(2)
    settings = _settings()
    meta = catalog_meta(settings)
    graph = catalog_graph(meta, load_catalog(settings.data_dir).datasets, {})
    typer.echo(serialize(graph, EXTENSIONS[form], root=str(meta.iri)).decode())


def _auth_config() -> AuthCliConfig:
    from auth.clients import AUTH_DEPARTMENT

    settings = _settings()
    return AuthCliConfig(
        database_url=settings.database_urls.get(AUTH_DEPARTMENT, settings.default_database_url),
        keys_dir=settings.signing_keys_dir,
        issuer=settings.base_url,
        audience=settings.token_audience,
        production=settings.environment is Environment.PRODUCTION,
        signing_alg=settings.signing_alg,
        purposes_file=settings.purposes_file,
    )


app.add_typer(clients_cli(_auth_config), name="clients", help="Register, list and revoke apps.")
app.add_typer(token_cli(_auth_config), name="token", help="Mint a development token.")
app.add_typer(keys_cli(_auth_config), name="keys", help="Show or rotate the signing keys.")


def _audit_config() -> AuditCliConfig:
    from audit.service import AUDIT_DEPARTMENT

    settings = _settings()
    return AuditCliConfig(
        database_url=settings.database_urls.get(AUDIT_DEPARTMENT, settings.default_database_url),
        audit_dir=settings.audit_dir,
        chain_key=settings.audit_chain_key,
        keys_dir=settings.signing_keys_dir,
        issuer=settings.base_url,
        signing_alg=settings.signing_alg,
    )


app.add_typer(
    audit_cli(_audit_config), name="audit", help="Verify, checkpoint and export the access log."
)


def main() -> None:
    app()
