"""One `/graphql` request as its handlers (the view, api.traffic, exports, the catalog) share it.

Its `Exchange` (who asks, what it read, its request id), its parameters as the client sent them
(a POST body or a GET query string, each checked before anything runs), the media type its Accept
header asks for, and `RequestError`, the refusal of a request before execution with its HTTP
status and error code. The view and the pipeline in front of it (api.traffic) both read these, so
they live apart from both.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type

from api.accept import accepted
from api.limits import VariablesTooLarge, check_variables, error_body
from audit.hook import Started
from audit.records import next_request_id
from auth.principal import Principal
from schema.context import CityContext

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


PREPARED: ContextVar[GraphQLRequestData | None] = ContextVar("citygraph_prepared", default=None)
"""A request's parameters as api.traffic resolved them (persisted query filled in), if it did."""

EXCHANGE = "citygraph.exchange"
"""The scope key of a request's `Exchange`."""


@dataclass(slots=True)
class Exchange:
    """One `/graphql` request as its handlers (view, api.traffic, exports) share it.

    Typed attributes in the ASGI scope, where `request.state` is an untyped bag whose every
    miss raises and catches an AttributeError: this runs for every request, cache hits included.
    """

    started: Started
    principal: Principal | None = None
    """Who asks, once decided (a bad token never becomes anonymous: it is refused)."""
    context: CityContext | None = None
    """The GraphQL context, once the request runs: what it read (audit record, cache entry)."""
    cached_datasets: Collection[str] = ()
    """What a cached answer was made of (its audit record names them)."""
    rate_key: str | None = None
    request_id: str = ""
    """The client's (or the router's) `X-Request-Id`, else a new one: the record's and the context's."""


def exchange_of(request: Request) -> Exchange:
    """The request's exchange, made on first use."""
    found: Exchange | None = request.scope.get(EXCHANGE)
    if found is None:
        found = request.scope[EXCHANGE] = new_exchange(request, Started.now())
    return found


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
"""A request id a client or router may give: what tracing headers and UUIDs are made of, bounded."""


def new_exchange(request: Request, started: Started) -> Exchange:
    return Exchange(started, request_id=request_id_of(request.headers.get("x-request-id")))


def request_id_of(given: str | None) -> str:
    """The request id: the client's or router's `X-Request-Id` when it is a sane one, else a new one.

    Every access record carries it, so a header of any length or content is not copied in.
    """
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return next_request_id()


class RequestError(Exception):
    """A request refused before execution, with its HTTP status and error code."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header (GraphQL over HTTP, section 7).

    Memoised: clients send a handful of distinct Accept headers, each request asks more than once.
    """
    quality = accepted(accept)
    # wildcards stand for application/json: legacy clients send */* and expect it
    json_q = max(quality.get(JSON, 0.0), quality.get("application/*", 0.0), quality.get("*/*", 0.0))
    if quality.get(GRAPHQL_RESPONSE, 0.0) > 0 and quality[GRAPHQL_RESPONSE] >= json_q:
        return GRAPHQL_RESPONSE
    return JSON


def error_response(error: RequestError, media_type: str = JSON) -> Response:
    """The response of a refused request: a GraphQL error body without `data`."""
    return Response(
        error_body(error.message, error.code),
        status_code=error.status,
        media_type=media_type,
        headers={**error.headers, "Vary": "Accept"},
    )


@lru_cache(maxsize=64)
def check_json_body(content_type: str) -> None:
    """RequestError 415 unless a body of this Content-Type is UTF-8 JSON (clients send a few
    distinct headers: each is parsed once)."""
    media, options = parse_content_type(content_type)
    if media != JSON:
        raise RequestError(415, "send the request as application/json")
    if options.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise RequestError(415, "send the request as UTF-8 JSON")


def body_params(body: bytes) -> GraphQLRequestData:
    """The parameters of a POST request from its body."""
    if not body.strip():
        raise RequestError(400, "the request body is empty")
    return request_params(decode_json(body))


def request_params(data: object) -> GraphQLRequestData:
    """The parameters of one GraphQL request from its decoded body (or GET query string)."""
    if isinstance(data, list):
        raise RequestError(
            400, "batched requests (a JSON array) are not supported: send one operation per request"
        )
    if not isinstance(data, dict):
        raise RequestError(400, "the request body must be a JSON object with a `query`")
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if query is None and not (isinstance(extensions, dict) and "persistedQuery" in extensions):
        raise RequestError(400, "the request has no `query`")  # a persisted one: api.traffic
    if not isinstance(query, str | None):
        raise RequestError(400, "`query` must be a string")
    if not isinstance(operation_name, str | None):
        raise RequestError(400, "`operationName` must be a string or null")
    if not isinstance(variables, dict | None):
        raise RequestError(400, "`variables` must be an object or null")
    if not isinstance(extensions, dict | None):
        raise RequestError(400, "`extensions` must be an object or null")
    if variables:
        try:
            check_variables(variables)
        except VariablesTooLarge as exc:
            raise RequestError(400, str(exc)) from exc
    return GraphQLRequestData(
        query=query, variables=variables, operation_name=operation_name, extensions=extensions
    )


QUERY_STRINGS_KEPT = 1024
QUERY_STRING_KEPT_BYTES = 8192
"""Query strings up to this long have their parse memoised (a GET's document rides in it)."""


def query_params_of(request: Request) -> Mapping[str, str]:
    """The request's query parameters, parsed once per distinct query string.

    Clients repeat the same GET (that is what makes it cacheable), and parsing a document out of
    a URL costs more than answering it from the cache. The parse is immutable, so it is shared.
    """
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > QUERY_STRING_KEPT_BYTES:
        return request.query_params
    return _query_params(raw)


@lru_cache(maxsize=QUERY_STRINGS_KEPT)
def _query_params(raw: bytes) -> QueryParams:
    return QueryParams(raw)


def get_params_of(request: Request) -> GraphQLRequestData:
    """A GET request's parameters; those of a plain document (nothing but text) parsed once.

    Parameters with variables or extensions are made anew each time: they hold dicts, which a
    request must not share with another.
    """
    raw: bytes = request.scope.get("query_string", b"")
    found = _plain_gets.get(raw)
    if found is not None:
        return found
    params = get_params(query_params_of(request))
    if (
        params.variables is None
        and params.extensions is None
        and len(raw) <= QUERY_STRING_KEPT_BYTES
    ):
        if len(_plain_gets) >= QUERY_STRINGS_KEPT:
            _plain_gets.pop(next(iter(_plain_gets)))
        _plain_gets[raw] = params
    return params


_plain_gets: dict[bytes, GraphQLRequestData] = {}


def get_params(query: Mapping[str, str | None]) -> GraphQLRequestData:
    """The parameters of a GET request: `variables` and `extensions` are JSON; empty is absent."""
    params: dict[str, Any] = dict(query)
    for name in ("variables", "extensions"):
        if name in params:
            raw = params[name]
            params[name] = decode_json(raw, f"`{name}` parameter") if raw else None
    return request_params(params)


def decode_json(raw: str | bytes, what: str = "request body") -> object:
    """JSON from a client, or RequestError; orjson also refuses absurd nesting, without recursing."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(400, f"the {what} is not valid JSON") from exc
