"""Bounds on what one request may send, checked at the HTTP edge (DESIGN section 10).

- `BodySizeLimit`: ASGI middleware that refuses bodies over a size before they are read whole,
  whether the client declares a Content-Length or streams chunks.
- `check_variables`: the shape of a request's variables (nesting, number of values), so that a
  body under the byte limit still cannot make coercion recurse or loop for long.

Document limits (depth, aliases, directives, tokens) are validation rules of the schema
(`schema.validation`), cached with the rest of validation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_VARIABLE_DEPTH = 32
"""Nesting of variables: a filter nests 8 levels (schema.inputs), each two JSON levels deep."""
MAX_VARIABLE_VALUES = 10_000
"""Values in all variables together: ten `in` lists of the largest size schema.inputs accepts."""


class BodyTooLarge(Exception):
    """Raised inside `receive` when a streamed body passes the limit; the middleware answers 413."""


class VariablesTooLarge(ValueError):
    """Variables that nest too deep or hold too many values; the view answers 400."""


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    """A GraphQL error response body (no `data`) for failures outside execution."""
    return orjson.dumps(
        {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    )


TOO_LARGE = "PAYLOAD_TOO_LARGE"


class BodySizeLimit:
    """413 with a GraphQL error body when a request's body exceeds `max_bytes`."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        on_refused: Callable[[Scope, int, str], None] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_refused = on_refused
        """Told of every refusal (scope, status, code): the access log records it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        if (
            scope.get("http_version") in ("1.1", "1.0")
            and not chunked
            and (declared is None or declared.isdigit())
        ):
            # HTTP/1 frames a body by its Content-Length, and a request with neither that nor
            # Transfer-Encoding has none (RFC 9112, 6.3): the server never delivers more than was
            # declared, so nothing is left to count (every GET of a query, for one)
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # An app that answered before reading its whole body keeps its answer; the rest
            # of the body is simply never read.
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        if self.on_refused is not None:
            self.on_refused(scope, 413, TOO_LARGE)
        body = error_body(f"request body larger than {self.max_bytes} bytes", TOO_LARGE)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # the unread rest of the body would be taken for the next request on this connection
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def check_variables(variables: dict[str, Any]) -> None:
    """Raise VariablesTooLarge when variables nest deeper or hold more values than queries need."""
    # iterative, so that the check itself cannot hit Python's recursion limit
    stack: list[tuple[Any, int]] = [(variables, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VARIABLE_VALUES:
            raise VariablesTooLarge(f"variables hold more than {MAX_VARIABLE_VALUES} values")
        if depth > MAX_VARIABLE_DEPTH:
            raise VariablesTooLarge(f"variables nest more than {MAX_VARIABLE_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
