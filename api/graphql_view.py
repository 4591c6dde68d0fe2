"""The `/graphql` endpoint: strawberry's ASGI view, adjusted to the GraphQL-over-HTTP spec.

- Answers `application/graphql-response+json` when the client accepts it (the spec's media type),
  and then request errors (unparsable body, invalid document) are 400 without `data`.
- Bodies over the configured size get a 413 with a GraphQL error body.
- Results are encoded with orjson.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from auth.principal import ANONYMOUS
from schema.city import City
from schema.context import CityContext

GRAPHQL_RESPONSE = "application/graphql-response+json"


class CityGraphQL(GraphQL[CityContext, None]):
    """strawberry's ASGI GraphQL app with citygraph's context and encoding."""

    def __init__(self, *args: Any, city: City, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.city = city

    async def get_context(self, request: Request, response: Any) -> CityContext:  # type: ignore[override]
        return CityContext(
            loaders=self.city.loaders(),
            principal=ANONYMOUS,
            request_id=request.headers.get("x-request-id") or uuid.uuid4().hex,
            request=request,
            response=response,
        )

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        return orjson.dumps(data)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:  # type: ignore[override]
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [e.formatted for e in result.errors]
        if result.extensions:
            response["extensions"] = result.extensions
        return response


def wants_graphql_response(request: Request) -> bool:
    """True when the Accept header prefers the spec's media type (or names it at all)."""
    return GRAPHQL_RESPONSE in request.headers.get("accept", "")


def json_error(message: str, *, code: str, status: int, media_type: str = "application/json") -> Response:
    """A GraphQL-shaped error response for failures before execution."""
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(body, status_code=status, media_type=media_type)
