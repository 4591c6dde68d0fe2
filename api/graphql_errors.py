"""Errors as `/graphql` sends them: each with a code, none with a "Did you mean" hint.

graphql-core adds hints to validation and variable coercion errors, and a hint names fields and
types (restricted ones included). A code is the error's own, else one by where it happened: a
syntax error, variables refused past validation, anything else unexpected. The view and the
exports' walk (api.exports.walk) send errors this way.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

INTERNAL = "INTERNAL_SERVER_ERROR"
CLIENT_CLOSED = "CLIENT_CLOSED_REQUEST"
"""A request whose client went away before it was read whole: nothing of ours failed."""
CLIENT_CLOSED_STATUS = 499
"""nginx's status for it: the record's, since no response is sent."""
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


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
