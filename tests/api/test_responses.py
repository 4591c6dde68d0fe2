"""A `/graphql` answer carries exactly the headers Starlette's own way gave it (api.responses)."""

from __future__ import annotations

import pytest
from starlette.background import BackgroundTask
from starlette.responses import Response

from api.responses import SubResponse, answer_of


def starlettes_way(
    body: bytes, status: int, media_type: str, set_on_sub: list[tuple[str, str]]
) -> Response:
    """What the view did before: strawberry's sub-response, and a Response built from it."""
    sub = Response()
    sub.status_code = None  # type: ignore[assignment]
    del sub.headers["content-length"]
    for name, value in set_on_sub:
        sub.headers.append(name, value)
    response = Response(body, status_code=status, media_type=media_type)
    response.headers.raw.extend(sub.headers.raw)
    response.headers["Vary"] = "Accept"
    return response


def ours(body: bytes, status: int, media_type: str, set_on_sub: list[tuple[str, str]]) -> Response:
    sub = SubResponse(media_type)
    for name, value in set_on_sub:
        sub.headers.append(name, value)
    return answer_of(body, status, sub, media_type)


@pytest.mark.parametrize(
    ("status", "media_type", "set_on_sub"),
    [
        (200, "application/json", []),
        (200, "application/graphql-response+json", []),
        (400, "application/json", [("Cache-Control", "no-store")]),
        (200, "application/json", [("Vary", "Origin"), ("X-Request-Id", "r1")]),
        (200, "application/json", [("Vary", "Origin"), ("Link", "<x>"), ("vary", "Cookie")]),
        (200, "text/plain", []),
        (204, "application/json", []),
    ],
)
def test_the_same_headers_in_the_same_order(
    status: int, media_type: str, set_on_sub: list[tuple[str, str]]
) -> None:
    body = b'{"data":{"a":1}}'
    expected = starlettes_way(body, status, media_type, set_on_sub)
    got = ours(body, status, media_type, set_on_sub)
    assert got.raw_headers == expected.raw_headers
    assert (got.status_code, bytes(got.body)) == (expected.status_code, bytes(expected.body))


def test_a_sub_response_takes_what_resolvers_set() -> None:
    sub = SubResponse("application/json")
    status: int | None = sub.status_code
    assert status is None  # strawberry's "not set"
    sub.headers["X-Custom"] = "1"
    sub.background = task = BackgroundTask(lambda: None)
    response = answer_of(b"{}", 200, sub, "application/json")
    assert (b"x-custom", b"1") in response.raw_headers
    assert response.background is task
    assert response.headers["content-length"] == "2"
    assert response.headers.getlist("vary") == ["Accept"]
