"""CORS for the API: browser apps on other origins read the city's open data.

The default is any origin, without credentials, as Socrata, CKAN, Hasura and PostGraphile do for
public data: tokens travel in the `Authorization` header (which a preflight allows), never in
cookies, so a page on another origin can use its own token and can never borrow a visitor's.
`CITYGRAPH_CORS_ORIGINS` narrows the list. Starlette's CORS rules do the protocol (preflights,
`Vary: Origin`); this module says what they apply to, and api.edge applies them.

The pages that keep a session cookie (the developer portal, the citizen's page, the demo sign-in)
are not for other origins, so they get no CORS headers at all.
"""

from __future__ import annotations

from starlette.datastructures import Headers
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
    """Starlette's CORS rules, for every path but the session pages (api.edge applies them).

    Preflights are Starlette's own responses. A simple response gets exactly the headers
    Starlette's middleware would give it, written straight into the response's header list: its
    middleware parsed the request's headers and wrapped every response in `MutableHeaders`, which
    cost more than anything else at the edge.
    """

    def __init__(self, app: ASGIApp, *, origins: list[str]) -> None:
        self.rules = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=600,
        )
        self.simple = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in self.rules.simple_headers.items()
        ]

    @staticmethod
    def applies(path: str) -> bool:
        """Whether responses of `path` take part in CORS at all."""
        return not _session_path(path)

    async def preflight(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)."""
        response = self.rules.preflight_response(request_headers=Headers(scope=scope))
        await response(scope, receive, send)

    def add(self, headers: list[tuple[bytes, bytes]], origin: str | None) -> None:
        """A simple response's CORS headers, for a request from `origin` (None: no Origin)."""
        rules = self.rules
        if origin is not None:
            for name, value in self.simple:
                _put(headers, name, value)
            if (rules.allow_all_origins and rules.allow_credentials) or (
                not rules.allow_all_origins and rules.is_allowed_origin(origin=origin)
            ):
                _put(headers, b"access-control-allow-origin", origin.encode("latin-1"))
        # every response varies with Origin, whether or not this request sent one
        vary = [value for name, value in headers if name == b"vary"]
        _put(headers, b"vary", b", ".join([*vary, b"Origin"]))


def _put(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Set `name` to `value` in place of its first occurrence, dropping the others
    (`MutableHeaders.__setitem__`)."""
    found = [i for i, (key, _) in enumerate(headers) if key == name]
    for i in reversed(found[1:]):
        del headers[i]
    if found:
        headers[found[0]] = (name, value)
    else:
        headers.append((name, value))
