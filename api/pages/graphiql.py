"""GraphiQL at `/graphql` for browsers, from the app's own files.

strawberry's page loads seven files from unpkg and shows "Loading..." forever without internet.
This one loads React, GraphiQL and the explorer plugin from /static/vendor (api/pages/vendor.py
put them there at build time, each with its Subresource Integrity hash) and starts GraphiQL from
/static/graphiql.js, so the Content-Security-Policy allows no inline script and no other origin.
The docs explorer is GraphiQL's own; the explorer plugin is registered by graphiql.js.

`GraphiQLFront` sits in front of the GraphQL app: a browser's GET without a query gets the page,
everything else goes to the API untouched.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.pages import vendor
from api.pages.render import Renderer

SCRIPTS = (
    "react/react.production.min.js",
    "react-dom/react-dom.production.min.js",
    "graphiql/graphiql.min.js",
    "graphiql-plugin-explorer/index.umd.js",
)
STYLES = ("graphiql/graphiql.min.css", "graphiql-plugin-explorer/style.css")


class GraphiQLFront:
    """GraphiQL for a browser's plain GET of /graphql; the API for everything else."""

    def __init__(self, api: ASGIApp, renderer: Renderer) -> None:
        self.api = api
        self.renderer = renderer

    @staticmethod
    def wants_ide(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        request = Request(scope)
        if "query" in request.query_params or "extensions" in request.query_params:
            return False
        accept = request.headers.get("accept", "")
        # as strawberry decides: a browser, or a client that takes anything (curl)
        return "text/html" in accept or "*/*" in accept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.wants_ide(scope):
            await self.api(scope, receive, send)
            return
        request = Request(scope, receive)
        manifest = vendor.read_manifest()
        recorded = manifest.get("files") if manifest is not None else None
        files: dict[str, str] = recorded if isinstance(recorded, dict) else {}
        ready = all(f in files for f in (*SCRIPTS, *STYLES))
        response = self.renderer.page(
            request,
            "graphiql.html",
            status=200 if ready else 503,
            ready=ready,
            scripts=[(f"/static/vendor/{f}", files.get(f)) for f in SCRIPTS] if ready else [],
            styles=[(f"/static/vendor/{f}", files.get(f)) for f in STYLES] if ready else [],
        )
        await response(scope, receive, send)
