"""A `/graphql` answer as it is sent: its sub-response, and the response built from it.

Strawberry gives each request a sub-response that resolvers may set a status, headers or a
background task on, and then builds the real response from the encoded body. Its way, a
Starlette `Response` for each, built its headers and then deleted one again (the sub-response's
`content-length`), copied the sub-response's, and set `Vary` through `MutableHeaders`: about a
twentieth of a small compiled page's CPU. Here both are built from raw headers, with the same
headers in the same order as Starlette's constructor and `MutableHeaders` would give.
"""

from __future__ import annotations

from starlette.responses import Response

VARY_ACCEPT = (b"vary", b"Accept")
"""Every answer's: its body's type follows the request's Accept header (api.exchange.negotiate)."""


class SubResponse(Response):
    """What a request's resolvers may set: a status, headers (`headers`, as on any Response), a
    background task; and the media type the request negotiated. Sent by no one: `answer_of`
    builds the response."""

    def __init__(self, media_type: str) -> None:  # Response's own would build headers to drop
        self.status_code = None  # type: ignore[assignment]  # strawberry's: "not set"
        self.media_type = media_type
        self.background = None
        self.body = b""
        self.raw_headers: list[tuple[bytes, bytes]] = []


def answer_of(body: bytes, status: int, sub_response: Response, media_type: str) -> Response:
    """The response that sends `body` with `status`: the sub-response's headers and background
    task, and `Vary: Accept`."""
    response = Response.__new__(Response)
    response.status_code = status
    response.media_type = media_type
    response.background = sub_response.background
    response.body = body
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"  # as Response's constructor does
    raw = [(b"content-type", media_type.encode("latin-1")), *sub_response.raw_headers]
    if not (status < 200 or status in (204, 304)):  # as Response's constructor does
        raw.insert(0, (b"content-length", b"%d" % len(body)))
    varies = [i for i, (name, _) in enumerate(raw) if name == b"vary"]
    if not varies:
        raw.append(VARY_ACCEPT)
    else:  # a resolver's own Vary is replaced, as `headers["Vary"] = ...` replaces it
        raw[varies[0]] = VARY_ACCEPT
        for i in reversed(varies[1:]):
            del raw[i]
    response.raw_headers = raw
    return response
