"""A served request leaves no reference cycle behind.

Under load CPython's cyclic collector ran every few milliseconds to free the cycle each
request made (the exchange held the context, the context the request, the request the scope
that held the exchange), and its pauses were the p99 of every answer. Given a started app,
when a hundred requests are answered with the collector off, then it finds (almost) nothing
left to free.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson

from api.app import create_app
from tests.api.conftest import http_scope
from tests.audit.helpers import settings_for

QUERY = orjson.dumps({"query": "{ bikeStations(first: 3) { nodes { id name } } }"})
REQUESTS = 100


async def ask(app: Callable[..., Awaitable[None]]) -> int:
    """One request straight through the ASGI app; its status."""
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": QUERY, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(QUERY))]
    await app(http_scope(*headers), receive, send)
    return status


async def test_answered_requests_leave_no_cycle_to_collect(tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path, cache_enabled=False))
    started, stopping = asyncio.Event(), asyncio.Event()
    messages = iter([{"type": "lifespan.startup"}])

    async def receive() -> dict[str, Any]:
        message = next(messages, None)
        if message is not None:
            return message
        await stopping.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.ensure_future(app({"type": "lifespan", "state": {}}, receive, send))
    await started.wait()
    try:
        for _ in range(20):  # warm: caches, pools, learnt operations
            assert await ask(app) == 200
        gc.collect()
        gc.disable()
        try:
            for _ in range(REQUESTS):
                assert await ask(app) == 200
            left = gc.collect()
        finally:
            gc.enable()
    finally:
        stopping.set()
        await lifespan
    assert left < REQUESTS, f"{left} objects in cycles after {REQUESTS} requests"
