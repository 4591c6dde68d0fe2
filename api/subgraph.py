"""One department served as a Federation v2 subgraph: `create_subgraph_app(settings, department)`.

The app is the one-process app's pieces around a department's schema (schema.federation): the
same settings, databases, `Security` (a subgraph authenticates the bearer token and purpose header
the router forwards, exactly as citygraph does), the same `/graphql` view with its limits and
error shapes, and the same health probes. A subgraph guards every restricted field itself, so a
request sent straight to it (`_entities` included) gets no restricted value without the token.

With `router_secret`, introspection and `_service { sdl }` are answered only to requests that
carry it in the `Citygraph-Router` header (the router's; gateway.config.mjs sends it), so a
subgraph reached directly does not describe itself.

Every request to `/graphql`, `_entities` and `_service` included, leaves one access record
(DESIGN section 4, docs/audit.md): the subgraph builds its `AuditLog` as create_app does
(`AuditLog.from_settings`) and gives it to the same view, so a restricted read's record is
committed before the answer leaves and every other record is spooled. The record's request id is
the `X-Request-Id` the router forwards (Hive Gateway sends one with every subgraph request), so the
router's and the subgraphs' records of one request correlate; the subgraph's chain is named after
its department (`registry@host-pid-random`), so the log says which server recorded each request.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphql import FieldNode, GraphQLError, visit
from graphql.language import Visitor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from api.app import AppState
from api.databases import prepare_at_start
from api.graphql_view import CityGraphQL
from api.limits import BodySizeLimit
from api.security import Security
from api.settings import Settings
from audit.service import AuditLog
from schema.city import City
from schema.federation import build_subgraph_schema
from schema.gateway import QueryLimits
from schema.publishing import load_catalog
from storage.engines import Databases

ROUTER_HEADER = "citygraph-router"
SELF_DESCRIBING = frozenset({"__schema", "__type", "_service"})


class _AsksSchema(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value in SELF_DESCRIBING:
            self.found = True


def asks_for_schema(document: Any) -> bool:
    """Whether a document asks for introspection or the subgraph's SDL."""
    finder = _AsksSchema()
    visit(document, finder)
    return finder.found


class RouterOnlySchema(SchemaExtension):
    """Introspection and `_service` only for requests that carry the router's secret."""

    secret = ""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        request = getattr(ctx.context, "request", None)
        sent = request.headers.get(ROUTER_HEADER, "") if request is not None else ""
        if (
            ctx.graphql_document is not None
            and asks_for_schema(ctx.graphql_document)
            and not hmac.compare_digest(sent.encode(), self.secret.encode())
        ):
            ctx.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "this subgraph describes itself to the router only",
                        extensions={"code": "FORBIDDEN"},
                    )
                ],
            )
        yield


def _router_only(secret: str) -> type[SchemaExtension]:
    return type("RouterOnly", (RouterOnlySchema,), {"secret": secret})


def query_limits(settings: Settings) -> QueryLimits:
    """The document limits of these settings (the same for the gateway and every subgraph)."""
    return QueryLimits(
        page_default=settings.page_default,
        page_max=settings.page_max,
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_directives=settings.max_directives,
        statistics_threshold=settings.statistics_threshold,
    )


def create_subgraph_app(
    settings: Settings, department: str, *, router_secret: str | None = None
) -> Starlette:
    """The subgraph of one department, served at `/graphql`."""
    catalog = load_catalog(settings.data_dir)
    databases = Databases(settings.default_database_url, settings.database_urls)
    city = City(catalog, databases)
    subgraph_schema = build_subgraph_schema(
        catalog,
        department,
        query_limits(settings),
        extensions=[_router_only(router_secret)] if router_secret else [],
    )
    sdl = subgraph_schema.as_str() + "\n"
    security = Security(settings, databases)
    audit = AuditLog.from_settings(settings, databases, catalog, server=department)
    graphql_app = CityGraphQL(
        subgraph_schema,
        city=city,
        principal_of=security.principal,
        audit=audit.requests if audit is not None else None,
        compiled=settings.compiled,
        graphql_ide=None,
        multipart_uploads_enabled=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await prepare_at_start(settings, city)
        except BaseException:  # a refused start leaves no pool behind
            await city.close()
            raise
        if audit is not None:
            await audit.open()
        app.state.citygraph = AppState(settings=settings, city=city, audit=audit)
        try:
            yield
        finally:
            if audit is not None:
                await audit.close()  # flushes the spool while the engines are still open
            await security.close()
            await city.close()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "subgraph": department})

    async def schema_sdl(request: Request) -> Response:
        if router_secret and not hmac.compare_digest(
            request.headers.get(ROUTER_HEADER, "").encode(), router_secret.encode()
        ):
            return JSONResponse({"error": "router only"}, status_code=403)
        return PlainTextResponse(sdl, media_type="application/graphql")

    routes = [
        Route("/graphql", graphql_app),
        Route("/healthz", healthz),
        Route("/schema.graphql", schema_sdl),
        # the subgraph verifies tokens; the OAuth endpoints (JWKS included) are the gateway's
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, on_refused=graphql_app.record_refused
    )
    return app
