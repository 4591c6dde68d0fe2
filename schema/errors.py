"""Errors the API answers with, each with a stable `extensions.code`.

    CityError (GraphQLError with a code)
    ├── BadInput          BAD_USER_INPUT: an argument the API cannot honour (page size, cursor, filter)
    ├── AccessDenied      UNAUTHENTICATED | FORBIDDEN | PURPOSE_REQUIRED: a field the caller may not read
    └── NotFound          NOT_FOUND

Request-level errors (malformed JSON, invalid documents, limits) are produced by the HTTP view and
the validation extensions with codes BAD_REQUEST, GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
QUERY_TOO_COMPLEX, PAYLOAD_TOO_LARGE. AUDIT_UNAVAILABLE: a restricted field refused because its
access record could not be written (the log store is down); public fields are still served.
Anything else is unexpected: masked as INTERNAL_SERVER_ERROR
for the client and logged (without personal data) for us.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from auth.policy import Denied


class CityError(GraphQLError):
    """A GraphQL error that carries a code; safe to show the client as it is."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, code: str | None = None, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code or self.code, **extensions})


class BadInput(CityError):
    code = "BAD_USER_INPUT"


class AccessDenied(CityError):
    """A field the caller may not read: null in `data`, this error in `errors`."""

    def __init__(self, denied: Denied) -> None:
        super().__init__(denied.reason, code=str(denied.code))


class NotFound(CityError):
    code = "NOT_FOUND"


AUDIT_UNAVAILABLE = "AUDIT_UNAVAILABLE"

EXPOSED_CODES = frozenset(
    {
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "PURPOSE_REQUIRED",
        "NOT_FOUND",
        "BAD_REQUEST",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "QUERY_TOO_COMPLEX",
        "PAYLOAD_TOO_LARGE",
        "PERSISTED_QUERY_NOT_FOUND",
        "RATE_LIMITED",
        AUDIT_UNAVAILABLE,
    }
)
"""Codes whose message the client may see; any other error is masked."""
