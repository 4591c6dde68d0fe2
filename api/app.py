"""The ASGI application: `create_app(settings)` wires the city, the schema and the endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from api.catalog import CatalogEndpoints
from api.citations import CitationEndpoints
from api.citing import Citer
from api.databases import prepare_at_start
from api.edge import Edge
from api.exports import Exports
from api.graphql_view import CityGraphQL
from api.limits import BodySizeLimit
from api.metrics import Metrics
from api.pages import Pages
from api.security import Security
from api.settings import Settings
from api.traffic import Traffic
from audit.service import AuditLog
from schema.city import City
from schema.gateway import QueryLimits, build_gateway_schema
from schema.publishing import load_catalog
from storage.citations import CitationStore
from storage.engines import Databases

log = structlog.get_logger("citygraph.app")
READY_TIMEOUT_S = 2.0


@dataclass
class AppState:
    """What the lifespan opens, typed; closed in reverse order."""

    settings: Settings
    city: City
    audit: AuditLog | None = None


def create_app(settings: Settings) -> Starlette:
    """The citygraph application for these settings."""
    catalog = load_catalog(settings.data_dir)
    databases = Databases(settings.default_database_url, settings.database_urls)
    city = City(catalog, databases)
    gateway_schema = build_gateway_schema(
        catalog,
        QueryLimits(
            page_default=settings.page_default,
            page_max=settings.page_max,
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_tokens=settings.max_tokens,
            max_directives=settings.max_directives,
            statistics_threshold=settings.statistics_threshold,
        ),
    )
    sdl = gateway_schema.as_str() + "\n"
    security = Security(settings, databases)
    # Audit (DESIGN section 4): every request of /graphql gets an access record
    audit = AuditLog.from_settings(settings, databases, catalog)
    graphql_app = CityGraphQL(
        gateway_schema,
        city=city,
        principal_of=security.principal,
        audit=audit.requests if audit is not None else None,
        compiled=settings.compiled,
        graphql_ide=None,  # api.pages.graphiql serves GraphiQL from the app's own files
        multipart_uploads_enabled=False,
    )

    # rate limits, persisted queries, response cache: shared through Redis when redis_url is set
    traffic = Traffic(settings, city=city, schema=gateway_schema._schema)
    graphql_app.traffic = traffic
    pages = Pages(settings, city=city, security=security, traffic=traffic)
    # citations (docs/citations.md): stored beside the first dataset, which every city has
    citer = Citer(
        city,
        CitationStore(city.repository(catalog.datasets[0].name).engine),
        base_url=settings.base_url,
    )
    exports = Exports(gateway_schema, catalog, graphql_app, settings)
    if settings.citations_enabled:
        graphql_app.citer = citer
        exports.citer = citer

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await prepare_at_start(settings, city)
        except BaseException:  # a refused start leaves no pool behind
            await city.close()
            raise
        traffic.open()
        if audit is not None:
            await audit.open()
        app.state.citygraph = AppState(settings=settings, city=city, audit=audit)
        try:
            yield
        finally:
            if audit is not None:
                await audit.close()  # flushes the spool while the engines are still open
            await pages.close()
            await traffic.close()
            await security.close()
            await city.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        async def ping(engine: AsyncEngine) -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        # every database at once, and one that does not answer (firewalled, frozen) costs the
        # probe READY_TIMEOUT_S: its cancelled ping tidies up in the background, not before we answer
        pings = {asyncio.ensure_future(ping(engine)): engine for engine in databases.engines()}
        _, hung = await asyncio.wait(pings, timeout=READY_TIMEOUT_S) if pings else (set(), set())
        for task in hung:
            task.cancel()
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        # any failure means not ready; the reason is not the client's business
        failed = [t for t in pings if t in hung or t.exception() is not None]
        failing = sorted({pings[t].url.get_backend_name() for t in failed})
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def schema_sdl(_request: Request) -> Response:
        return PlainTextResponse(sdl, media_type="application/graphql")

    metrics = Metrics(settings, traffic=traffic, audit=audit)
    routes = [
        # every method reaches the view, which answers 405 with a GraphQL error body
        Route("/graphql", pages.graphiql(graphql_app)),
        *exports.routes(),
        *CitationEndpoints(
            gateway_schema,
            citer,
            audit=audit.requests if audit is not None else None,
            settings=settings,
            renderer=pages.renderer,
        ).routes(),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *metrics.routes(),
        Route("/schema.graphql", schema_sdl),
        # /catalog and /datasets/{name}: DCAT-AP, and the dataset's page for browsers
        *CatalogEndpoints(city, settings, html_page=pages.catalog.dataset).routes(),
        *security.routes(),
        *pages.routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, on_refused=graphql_app.record_refused
    )
    # outermost: CORS (preflights answer there), security headers and metrics, 413s included
    app.add_middleware(
        Edge,
        origins=settings.cors_origins,
        https=settings.base_url.startswith("https://"),
        metrics=metrics,
    )
    pages.bind(app)
    return app
