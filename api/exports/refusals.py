"""An export refused before its first byte: GraphQL errors without data, and their HTTP status."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from api.exchange import JSON

_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "PURPOSE_REQUIRED": 403,
    "AUDIT_UNAVAILABLE": 503,
    "INTERNAL_SERVER_ERROR": 500,
}


class Refused(Exception):
    """An export answered with GraphQL errors and no data."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.status = status
        self.errors = errors

    @classmethod
    def of(cls, errors: list[dict[str, Any]]) -> Refused:
        """The refusal of coded errors, with the status of the first code that has one (else 400)."""
        codes = [e["extensions"]["code"] for e in errors]
        return cls(next((_STATUS[c] for c in _STATUS if c in codes), 400), errors)

    @property
    def codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code", "BAD_REQUEST") for e in self.errors]

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        body = orjson.dumps({"errors": self.errors})
        return Response(body, status_code=self.status, media_type=JSON, headers=headers)


def bad(message: str) -> Refused:
    """A request that cannot be exported as asked (400 BAD_REQUEST)."""
    return Refused(400, [{"message": message, "extensions": {"code": "BAD_REQUEST"}}])


def coded(code: str, message: str) -> Refused:
    """A refusal with one error of this code, and its status."""
    return Refused.of([{"message": message, "extensions": {"code": code}}])
