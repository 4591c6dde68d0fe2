"""The `/graphql` endpoint: strawberry's ASGI view, held to the GraphQL-over-HTTP spec.

- The response media type follows the Accept header: `application/graphql-response+json` when the
  client prefers it, else `application/json` (also for `*/*` or no Accept, as the spec asks while
  clients migrate). With the former, request errors (unparsable or invalid documents, variables
  that do not coerce) are 400 without `data`; with the latter they are 200, as the spec says.
- Every refusal has a GraphQL error body with `extensions.code`, never a plain-text page or a
  stack trace: malformed JSON, a body that is not one JSON object (batches included), a missing
  or mistyped parameter, oversize variables (400); a mutation over GET (405); an unsupported
  content type (415). Anything unexpected is logged and answered 500 INTERNAL_SERVER_ERROR.
- Every error leaving the view has a code, and no "Did you mean" hint (api.graphql_errors).
- Every request leaves an access record, committed before a restricted read's answer leaves
  (api.view_audit).
- An operation the compiled path answered whole is answered again by the compiled lane
  (api.compiled_lane), without GraphQL execution.
- GraphiQL is served to browsers (GET with Accept text/html and no query).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from api.citing import citable
from api.compiled_lane import CompiledLane
from api.exchange import (
    EXCHANGE,
    GRAPHQL_RESPONSE,
    JSON,
    PREPARED,
    RequestError,
    body_params,
    check_json_body,
    error_response,
    exchange_of,
    get_params,
    get_params_of,
    negotiate,
    new_exchange,
)
from api.graphql_errors import CLIENT_CLOSED, CLIENT_CLOSED_STATUS, INTERNAL, format_errors
from api.limits import BodyTooLarge
from api.responses import SubResponse, answer_of
from api.view_audit import secured, spool_record
from audit.hook import RequestAudit, Started
from auth.principal import ANONYMOUS, Principal
from schema.as_of import CURRENT
from schema.city import City
from schema.context import CityContext

if TYPE_CHECKING:
    from api.citing import Citer
    from api.traffic import Traffic

log = structlog.get_logger("citygraph.http")


class CityGraphQL(GraphQL[CityContext, None]):
    """strawberry's ASGI GraphQL app with citygraph's context, encoding and HTTP semantics."""

    traffic: Traffic | None = None
    """Limits, persisted queries and the response cache (api.traffic), set by create_app."""
    citer: Citer | None = None
    """Cites public answers (api.citing), set by create_app when citations are on."""

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
        compiler = getattr(self.schema, "compiler", None)
        self.lane = CompiledLane(compiler, self.schema) if compiled and compiler else None
        """Operations the compiled path answered whole, answered again without execution."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        started = Started(time.perf_counter())
        scope[EXCHANGE] = new_exchange(request, started)
        codes: list[str] = []  # of a request refused before execution (audit record)
        try:
            response = await self.serve(request)
        except ClientDisconnect:
            # gone while sending its request (a dropped mobile link, a proxy's timeout): nobody
            # to answer, and not an error of ours to log with a traceback
            if self.audit is not None:
                spool_record(self.audit, request, CLIENT_CLOSED_STATUS, started, [CLIENT_CLOSED])
            scope.pop(EXCHANGE, None)
            return
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
            spool_record(self.audit, request, response.status_code, started, codes)
        try:
            await response(scope, receive, send)
        finally:
            # the exchange holds the context, which holds the request, which holds the scope:
            # a cycle per request that only the cyclic collector would free (pauses under load)
            scope.pop(EXCHANGE, None)

    # Audit (DESIGN section 4): api.view_audit --------------------------------------------------

    def record_refused(self, scope: Scope, status: int, code: str) -> None:
        """Record a `/graphql` request that a middleware refused before it reached the view."""
        if self.audit is None or scope.get("path") != "/graphql":
            return
        request = Request(scope)
        spool_record(self.audit, request, status, exchange_of(request).started, [code])

    async def serve(self, request: Request) -> Response:
        """The response: through api.traffic (limits, persisted queries, cache) when it is set."""
        if self.traffic is None:
            return await self.untrafficked(request)
        return await self.traffic.serve(
            request, principal_of=self.principal, parse_params=self.parse_params, run=self.answer
        )

    async def untrafficked(self, request: Request) -> Response:
        """A subgraph's response (no limits or cache: the router's): by the compiled lane when
        it knows the operation. Its body is read before its token, as strawberry's run does."""
        if self.lane is None or request.method not in ("GET", "POST"):
            return await self.run(request)
        if request.method == "GET" and "query" not in request.query_params:
            return await self.run(request)
        token = PREPARED.set(await self.parse_params(request))
        try:
            await self.principal(request)
            return await self.answer(request)
        finally:
            PREPARED.reset(token)

    async def answer(self, request: Request) -> Response:
        """The response to an admitted request: by the compiled lane when it knows the
        operation (api.compiled_lane), else by strawberry's execution."""
        if self.lane is not None and request.method in ("GET", "POST"):
            response = await self.lane_answer(request, self.lane)
            if response is not None:
                return response
        return await self.run(request)

    async def lane_answer(self, request: Request, lane: CompiledLane) -> Response | None:
        """A learnt operation's response, audited and cited as `execute_single` does; None
        when the lane does not know it (nothing was recorded or sent: the usual way runs)."""
        params = PREPARED.get()
        exchange = exchange_of(request)
        if params is None or exchange.principal is None:
            return None
        sub_response = await self.get_sub_response(request)
        context = CityContext(
            loaders=self.city.loaders(),
            principal=exchange.principal,
            request_id=exchange.request_id,
            request=request,
            response=sub_response,
            compiled=True,
        )
        data = await lane.answer(params, context)
        if data is None:
            return None
        live = [name for name, number in context.versions_read.items() if number == CURRENT]
        # a dataset with no version yet is cited by no one, as the usual way finds after the answer
        unversioned = bool(live) and all(context.observed.get(n, CURRENT) is None for n in live)
        if self.citer is not None and live and not unversioned:
            return None  # a live read whose version no statement saw: the usual way checks it
        context.operation_name = params.operation_name
        context.document = params.query
        result = ExecutionResult(data=data, errors=None)
        if self.audit is not None:
            context.audit_engine = self.audit.engine
            if context.restricted:
                if not await self.audit.secure(context, 200, exchange.started):
                    return None  # the usual way refuses the restricted reads and records that
                context.audit_committed = True
        exchange.context = context
        if self.citer is not None and not unversioned and citable(context, result):
            versions = {n: v for n, v in context.versions_read.items() if v is not None}
            result = await self.citer.cite(context, result, versions, variables=params.variables)
        lane.answered += 1
        return self.create_response(await self.process_result(request, result), sub_response)

    async def parse_params(self, request: Request) -> GraphQLRequestData:
        """The request's GraphQL parameters, from its query string (GET) or its body."""
        if request.method == "GET":
            return get_params_of(request)
        check_json_body(request.headers.get("content-type", ""))
        return body_params(await request.body())

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
        # the negotiated type travels with the sub-response to create_response
        return SubResponse(negotiate(request.headers.get("accept")))

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
        check_json_body(request.content_type or "")
        return body_params(await request.get_body())

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
        context.operation_name = request_data.operation_name
        context.document = request_data.query
        if self.audit is not None or self.citer is not None:
            # a second run (fail-closed audit, a pinned citation) and the citation need the
            # variables as sent: a run may change them (strawberry's `_entities` takes
            # `__typename` out of each representation)
            variables = copy.deepcopy(variables) if variables else variables
        if self.audit is not None:
            context.audit_engine = self.audit.engine
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
        if self.audit is None and self.citer is None:
            self.learn(request_data, context, result)
            return result

        async def rerun() -> ExecutionResult:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=copy.deepcopy(variables) if variables else variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=OperationType.from_http(method),
                operation_extensions=request_data.extensions,
            )

        if self.audit is not None:
            result = await secured(self.audit, request, context, result, rerun)
        self.learn(request_data, context, result)  # before a citation makes `data` its bytes
        if self.citer is not None:
            result = await self.citer.settle(context, result, rerun, variables=variables)
        return result

    def learn(
        self, request_data: GraphQLRequestData, context: CityContext, result: ExecutionResult
    ) -> None:
        """Let the compiled lane learn an operation the compiled path answered whole."""
        if self.lane is not None and not result.errors:
            self.lane.learn(request_data, context, result.data)

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
        body = self.encode_json(response_data)
        return answer_of(body, status, sub_response, sub_response.media_type or JSON)
