"""The ASGI application: `create_app(settings)` wires the city, the schema and the endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from api.graphql_view import CityGraphQL
from api.limits import BodySizeLimit
from api.settings import Settings
from schema.city import City
from schema.dcat import catalog_jsonld
from schema.gateway import QueryLimits, build_gateway_schema
from schema.publishing import load_catalog
from storage.engines import Databases


@dataclass
class AppState:
    """What the lifespan opens, typed; closed in reverse order."""

    settings: Settings
    city: City


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
        ),
    )
    sdl = gateway_schema.as_str() + "\n"
    graphql_app = CityGraphQL(gateway_schema, city=city, graphql_ide="graphiql", multipart_uploads_enabled=False)
    catalog_body = orjson.dumps(catalog_jsonld(catalog, settings.base_url))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.citygraph = AppState(settings=settings, city=city)
        try:
            yield
        finally:
            await city.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        failing = []
        for engine in databases.engines() or ():
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception:  # any failure means not ready; the reason is not the client's business
                failing.append(engine.url.get_backend_name())
        if not list(databases.engines()):
            async with databases.engine_for("territory").connect() as conn:
                await conn.execute(text("SELECT 1"))
        if failing:
            return JSONResponse({"status": "unavailable", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def schema_sdl(_request: Request) -> Response:
        return PlainTextResponse(sdl, media_type="application/graphql")

    async def catalog_ld(_request: Request) -> Response:
        return Response(catalog_body, media_type="application/ld+json")

    routes = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/schema.graphql", schema_sdl),
        Route("/catalog.jsonld", catalog_ld),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
