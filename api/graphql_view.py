"""The `/graphql` endpoint: strawberry's ASGI view, held to the GraphQL-over-HTTP spec.

- The response media type follows the Accept header: `application/graphql-response+json` when the
  client prefers it, else `application/json` (also for `*/*` or no Accept, as the spec asks while
  clients migrate). With the former, request errors (unparsable or invalid documents, variables
  that do not coerce) are 400 without `data`; with the latter they are 200, as the spec says.
- Every refusal has a GraphQL error body with `extensions.code`, never a plain-text page or a
  stack trace: malformed JSON, a body that is not one JSON object (batches included), a missing
  or mistyped parameter, oversize variables (400); a mutation over GET (405); an unsupported
  content type (415). Anything unexpected is logged and answered 500 INTERNAL_SERVER_ERROR.
- Every error leaving the view has a code, and no "Did you mean" hint: graphql-core adds hints to
  variable coercion errors too, and a hint names fields and types (restricted ones included).
- GraphiQL is served to browsers (GET with Accept text/html and no query).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType

from api.accept import accepted
from api.limits import BodyTooLarge, VariablesTooLarge, check_variables, error_body
from audit.hook import RequestAudit, Started, error_codes
from audit.records import next_request_id
from auth.principal import ANONYMOUS, Principal
from schema.city import City
from schema.context import CityContext

if TYPE_CHECKING:
    from api.traffic import Traffic

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
INTERNAL = "INTERNAL_SERVER_ERROR"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")

log = structlog.get_logger("citygraph.http")

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
        found = request.scope[EXCHANGE] = _exchange(request, Started.now())
    return found


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
"""A request id a client or router may give: what tracing headers and UUIDs are made of, bounded."""


def _exchange(request: Request, started: Started) -> Exchange:
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


def error_code(error: GraphQLError, *, pre_execution: bool, request_error: bool) -> str:
    """The code of an error as sent: its own, else one by where it happened."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    if isinstance(error, GraphQLSyntaxError):
        return "GRAPHQL_PARSE_FAILED"
    if request_error and not pre_execution:
        # no path and no data, yet past validation: graphql-core refused the variables
        return "BAD_USER_INPUT"
    return INTERNAL


def format_errors(result: ExecutionResult) -> tuple[list[dict[str, Any]], bool]:
    """The errors of a result as sent (coded, without hints), and whether they are request errors."""
    errors = result.errors or []
    pre_execution = isinstance(result, PreExecutionError)
    # an error without a path happened before any field ran: the request itself is wrong
    request_error = bool(errors) and result.data is None and all(e.path is None for e in errors)
    formatted = []
    for error in errors:
        entry: dict[str, Any] = dict(error.formatted)
        entry["message"] = _SUGGESTION.sub("", error.message)
        code = error_code(error, pre_execution=pre_execution, request_error=request_error)
        entry["extensions"] = {**(error.extensions or {}), "code": code}
        formatted.append(entry)
    return formatted, request_error


class CityGraphQL(GraphQL[CityContext, None]):
    """strawberry's ASGI GraphQL app with citygraph's context, encoding and HTTP semantics."""

    traffic: Traffic | None = None
    """Limits, persisted queries and the response cache (api.traffic), set by create_app."""

    def __init__(
        self,
        *args: Any,
        city: City,
        principal_of: Callable[[Request], Awaitable[Principal]] | None = None,
        audit: RequestAudit | None = None,
        compiled: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.principal_of = principal_of
        self.city = city
        self.audit = audit
        self.compiled = compiled
        """Whether root fields may take the compiled path (schema.compiled), when the schema has one."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        started = Started(time.perf_counter())
        scope[EXCHANGE] = _exchange(request, started)
        codes: list[str] = []  # of a request refused before execution (audit record)
        try:
            response = await self.serve(request)
        except RequestError as exc:
            codes = [exc.code]
            response = error_response(exc, negotiate(request.headers.get("accept")))
        except HTTPException as exc:  # strawberry's own refusals, should one slip through
            refused = RequestError(exc.status_code, exc.reason)
            response = error_response(refused, negotiate(request.headers.get("accept")))
        except BodyTooLarge:
            raise  # api.limits.BodySizeLimit answers 413
        except Exception:
            log.error("unhandled error in /graphql", exc_info=True)
            refused = RequestError(500, "Unexpected error.", code=INTERNAL)
            response = error_response(refused, negotiate(request.headers.get("accept")))
        if self.audit is not None:
            self.audit_response(request, response, started, codes)
        await response(scope, receive, send)

    # Audit (DESIGN section 4) ---------------------------------------------------------------

    def record_refused(self, scope: Scope, status: int, code: str) -> None:
        """Record a `/graphql` request that a middleware refused before it reached the view."""
        if self.audit is None or scope.get("path") != "/graphql":
            return
        request = Request(scope)
        self.audit_response(
            request, Response(status_code=status), exchange_of(request).started, [code]
        )

    def audit_response(
        self, request: Request, response: Response, started: Started, codes: list[str]
    ) -> None:
        """Spool the request's access record, unless it was committed before execution ended.

        Runs before the response is sent: a crash after this loses no record of a sent response.
        """
        if self.audit is None:
            return
        exchange = exchange_of(request)
        context = exchange.context
        if context is not None and context.audit_committed:
            return
        if not codes and response.status_code >= 500:
            codes = [INTERNAL]
        self.audit.spool(
            self.audit.record(
                context=context,
                status=response.status_code,
                started=started,
                client_ip=request.client.host if request.client else None,
                codes=codes,
                request_id=exchange.request_id,
                principal=exchange.principal,
                datasets=exchange.cached_datasets,
            )
        )

    async def audit_execution(
        self,
        request: Request,
        context: CityContext,
        result: ExecutionResult,
        rerun: Callable[[], Awaitable[ExecutionResult]],
    ) -> ExecutionResult:
        """After execution, before any byte is sent: a restricted read's record is committed now.

        If it cannot be, the operation runs again with every restricted read refused
        (AUDIT_UNAVAILABLE, schema.access), so public fields are still served, and the record of
        that second run is spooled like any other.
        """
        if self.audit is None:
            return result
        context.error_codes = error_codes(result.errors)
        if not context.restricted:
            return result
        if await self.audit.secure(context, 200, exchange_of(request).started):
            context.audit_committed = True
            return result
        context.restricted, context.audit_unavailable = False, True
        context.subjects.clear()
        context.fields_read.clear()
        context.denials.clear()
        result = await rerun()
        context.error_codes = error_codes(result.errors)
        return result

    async def serve(self, request: Request) -> Response:
        """The response: through api.traffic (limits, persisted queries, cache) when it is set."""
        if self.traffic is None:
            return await self.run(request)
        return await self.traffic.serve(
            request, principal_of=self.principal, parse_params=self.parse_params, run=self.run
        )

    async def parse_params(self, request: Request) -> GraphQLRequestData:
        """The request's GraphQL parameters, from its query string (GET) or its body."""
        if request.method == "GET":
            return get_params_of(request)
        return await self.parse_http_body(self.request_adapter_class(request))

    async def principal(self, request: Request) -> Principal:
        """The request's principal, decided once (api.traffic may have asked first)."""
        exchange = exchange_of(request)
        if exchange.principal is not None:
            return exchange.principal
        # a bad token raises RequestError (401 with WWW-Authenticate): never a silent anonymous
        principal = ANONYMOUS if self.principal_of is None else await self.principal_of(request)
        exchange.principal = principal
        return principal

    async def get_context(self, request: Request, response: Any) -> CityContext:  # type: ignore[override]
        context = CityContext(
            loaders=self.city.loaders(),
            principal=await self.principal(request),
            request_id=exchange_of(request).request_id,
            request=request,
            response=response,
            compiled=self.compiled,
        )
        exchange_of(request).context = context  # what the execution read: audit, cache
        return context

    async def get_sub_response(self, request: Request) -> Response:  # type: ignore[override]
        sub_response = await super().get_sub_response(request)
        # the negotiated type travels with the sub-response to create_response
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def is_request_allowed(self, request: Any) -> bool:
        if request.method not in ("GET", "POST"):
            raise RequestError(
                405, "GraphQL is served over GET and POST", headers={"Allow": "GET, POST"}
            )
        return True

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        prepared = PREPARED.get()
        if prepared is not None:
            return prepared
        if request.method == "GET":
            return get_params(request.query_params)
        content_type, options = parse_content_type(request.content_type or "")
        if content_type != JSON:
            raise RequestError(415, "send the request as application/json")
        if options.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise RequestError(415, "send the request as UTF-8 JSON")
        body = await request.get_body()
        if not body.strip():
            raise RequestError(400, "the request body is empty")
        return request_params(decode_json(body))

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: CityContext,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        variables = request_data.variables
        if self.audit is not None:
            context.operation_name = request_data.operation_name
            context.document = request_data.query
            context.audit_engine = self.audit.engine
            # the fail-closed second run needs the variables as sent: a run may change them
            # (strawberry's `_entities` takes `__typename` out of each representation)
            variables = copy.deepcopy(variables) if variables else variables
        try:
            result = await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=OperationType.from_http(method),
                operation_extensions=request_data.extensions,
            )
        except InvalidOperationTypeError as exc:
            if method == "GET":
                raise RequestError(
                    405, "mutations must be sent with POST", headers={"Allow": "POST"}
                ) from exc
            raise RequestError(400, exc.as_http_error_reason(method)) from exc
        except CannotGetOperationTypeError as exc:
            raise RequestError(400, exc.as_http_error_reason()) from exc
        except MissingQueryError as exc:
            raise RequestError(400, "the request has no `query`") from exc
        if self.audit is None:
            return result

        async def rerun() -> ExecutionResult:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=OperationType.from_http(method),
                operation_extensions=request_data.extensions,
            )

        return await self.audit_execution(request, context, result, rerun)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        errors, request_error = format_errors(result)
        response: GraphQLHTTPResponse = {}
        # the spec's media type answers a request error without `data`; plain JSON keeps `data: null`
        if not (request_error and negotiate(request.headers.get("accept")) == GRAPHQL_RESPONSE):
            response["data"] = result.data
        if errors:
            response["errors"] = list[object](errors)
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        status = sub_response.status_code or 200
        if isinstance(response_data, dict) and "data" not in response_data:
            codes = {e["extensions"]["code"] for e in response_data.get("errors") or ()}  # type: ignore[index]
            status = 500 if INTERNAL in codes else 400
        response = Response(
            self.encode_json(response_data),
            status_code=status,
            media_type=sub_response.media_type or JSON,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        response.headers["Vary"] = "Accept"
        if sub_response.background:
            response.background = sub_response.background
        return response
