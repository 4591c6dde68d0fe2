"""CORS for the API: browser apps on other origins read the city's open data.

The default is any origin, without credentials, as Socrata, CKAN, Hasura and PostGraphile do for
public data: tokens travel in the `Authorization` header (which a preflight allows), never in
cookies, so a page on another origin can use its own token and can never borrow a visitor's.
`CITYGRAPH_CORS_ORIGINS` narrows the list. Starlette's middleware does the protocol (preflights,
`Vary: Origin` for a list); this module says what it applies to.

The pages that keep a session cookie (the developer portal, the citizen's page, the demo sign-in)
are not for other origins, so they get no CORS headers at all.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Citygraph-Purpose",
    "X-Request-Id",
    "If-None-Match",
)
EXPOSED_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "Retry-After",
    "ETag",
    "X-Cache",
    "X-Request-Id",
    "WWW-Authenticate",
    "Content-Disposition",
    "Link",
    "X-License",
    "X-Attribution",
)
SESSION_PATHS = ("/developers", "/my-data", "/oauth/authorize")
"""Pages with a session cookie: same-origin only."""


def _session_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in SESSION_PATHS)


class ApiCORS:
    """Starlette's CORSMiddleware for every path but the session pages."""

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _session_path(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
