"""A cached answer as sent: its prepared headers, its ETag check, and what may be kept.

A hit is the hottest path of the server, so its headers are built once per (cache control, ETag,
hit, media type) and sent as they are; a 304 answers `If-None-Match`. Only a body without
`errors` is ever kept: a partial or failed answer is never cached.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from starlette.responses import Response


class PreparedResponse(Response):
    """A response sent with headers built beforehand: a cached answer's, the same for every hit."""

    def __init__(
        self, body: bytes, raw_headers: list[tuple[bytes, bytes]], status_code: int = 200
    ) -> None:
        # Response.__init__ would build the same list from a dict again, header by header
        self.status_code = status_code
        self.body = body
        self.background = None
        self.raw_headers = raw_headers


@lru_cache(maxsize=1024)
def answer_headers(
    cache_control: str, etag: str | None, hit: bool, media: str | None
) -> tuple[tuple[bytes, bytes], ...]:
    """The headers of a cached answer (all but its length; no type on a 304)."""
    headers = [
        (b"vary", b"Accept"),
        (b"x-cache", b"HIT" if hit else b"MISS"),
        (b"cache-control", cache_control.encode("latin-1")),
    ]
    if etag is not None:
        headers.append((b"etag", etag.encode("latin-1")))
    if media is not None:
        headers.append((b"content-type", media.encode("latin-1")))
    return tuple(headers)


def without_errors(body: bytes) -> bool:
    """Whether a response body has no `errors` (a partial or failed answer is never cached)."""
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(decoded, dict) and "errors" not in decoded


def etags(header: str | None) -> set[str]:
    if not header:
        return set()
    return {t.strip().removeprefix("W/") for t in header.split(",")}
