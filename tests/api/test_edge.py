"""The edge (api.edge) gives every response the headers Starlette's CORS middleware and the
security headers gave it as separate middlewares, and counts the measured routes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from api.cors import ApiCORS
from api.edge import Edge
from api.headers import SecurityHeaders


def inner(status: int, headers: list[tuple[bytes, bytes]], *, raises: bool = False) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if raises:
            raise RuntimeError("boom")
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def reference(app: Any, origins: list[str], path: str) -> Any:
    """The headers as the old stack made them: Starlette's CORS middleware (not on session
    pages), then the security headers."""
    cors = ApiCORS(app, origins=origins).rules  # Starlette's middleware, as it was configured
    security = SecurityHeaders(https=False)
    session = path.startswith("/developers")

    async def stack(scope: Scope, receive: Receive, send: Send) -> None:
        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                security.add(headers)
                message = {**message, "headers": headers}
            await send(message)

        await (app if session else cors)(scope, receive, secured)

    return stack


def call(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Message:
    sent: list[Message] = []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]


ORIGINS = [["*"], ["https://app.example"], ["https://app.example", "https://b.example"]]
REQUESTS = [
    [],
    [(b"origin", b"https://app.example")],
    [(b"origin", b"https://evil.example")],
    [(b"origin", b"https://b.example"), (b"origin", b"https://app.example")],
    [(b"origin", b"https://app.example"), (b"access-control-request-method", b"POST")],
    [
        (b"origin", b"https://evil.example"),
        (b"access-control-request-method", b"POST"),
        (b"access-control-request-headers", b"authorization, x-evil"),
    ],
]
RESPONSES = [
    [(b"content-type", b"application/json")],
    [(b"content-type", b"text/html; charset=utf-8"), (b"vary", b"Accept")],
    [(b"vary", b"Accept"), (b"x-cache", b"MISS"), (b"vary", b"Cookie")],
    [(b"content-security-policy", b"default-src 'self'"), (b"Access-Control-Allow-Origin", b"x")],
]


@pytest.mark.parametrize("origins", ORIGINS)
@pytest.mark.parametrize("request_headers", REQUESTS)
@pytest.mark.parametrize("response_headers", RESPONSES)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/graphql"), ("OPTIONS", "/graphql"), ("GET", "/developers/apps")]
)
def test_the_edge_sets_the_headers_the_middlewares_set(
    origins: list[str],
    request_headers: list[tuple[bytes, bytes]],
    response_headers: list[tuple[bytes, bytes]],
    method: str,
    path: str,
) -> None:
    app = inner(200, response_headers)
    metrics: Any = type("M", (), {"measured": {}})()
    edge = Edge(app, origins=origins, https=False, metrics=metrics)
    got = call(edge, method, path, request_headers)
    expected = call(reference(app, origins, path), method, path, request_headers)
    assert (got["status"], got["headers"]) == (expected["status"], expected["headers"])


def test_measured_routes_are_counted_with_their_status_and_a_raise_as_500() -> None:
    from api.metrics import RouteCounts

    counts = RouteCounts("/graphql")
    metrics: Any = type("M", (), {"measured": {"/graphql": counts}})()
    call(Edge(inner(201, []), origins=["*"], https=False, metrics=metrics), "POST", "/graphql", [])
    call(Edge(inner(200, []), origins=["*"], https=False, metrics=metrics), "GET", "/healthz", [])
    with pytest.raises(RuntimeError):
        call(
            Edge(inner(200, [], raises=True), origins=["*"], https=False, metrics=metrics),
            "GET",
            "/graphql",
            [],
        )
    assert sorted(counts.series) == [("GET", 500), ("POST", 201)]
    assert all(found[-2] == 0 for found in counts.series.values())  # not in +Inf: all were fast
    assert sum(sum(found[:-1]) for found in counts.series.values()) == 2


def test_https_adds_hsts_and_a_response_keeps_its_own() -> None:
    metrics: Any = type("M", (), {"measured": {}})()
    own = [(b"strict-transport-security", b"max-age=60")]
    plain = call(Edge(inner(200, []), origins=["*"], https=True, metrics=metrics), "GET", "/", [])
    kept = call(Edge(inner(200, own), origins=["*"], https=True, metrics=metrics), "GET", "/", [])
    assert (b"strict-transport-security", b"max-age=31536000") in plain["headers"]
    assert [v for k, v in kept["headers"] if k == b"strict-transport-security"] == [b"max-age=60"]
