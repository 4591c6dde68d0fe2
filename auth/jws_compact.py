"""The compact JWS, taken apart before any key is tried: size, shape, base64url, strict JSON.

Everything here runs on bytes an attacker chose, before a signature is checked, so each step is
bounded and refuses rather than repairs: a token over `MAX_TOKEN_CHARS`, the JSON serialization,
a header over `MAX_HEADER_CHARS`, or a JSON object with a duplicate member (two `alg` or `iss`
members would be read differently by different parsers).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

MAX_TOKEN_CHARS = 8192
MAX_HEADER_CHARS = 512
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class TokenRejected(Exception):
    """The token is not acceptable; `description` is safe to send back (it never quotes the token)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two `alg` (or `iss`) members would be read differently by different parsers; refuse both.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member")
        result[key] = value
    return result


def json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenRejected(
            f"the token {what} is not a JSON object without duplicate members"
        ) from exc
    if not isinstance(value, dict):
        raise TokenRejected(f"the token {what} is not a JSON object")
    return value


def split_token(token: str) -> tuple[dict[str, Any], str]:
    """The decoded header of a compact JWS after the structural checks, and its payload segment."""
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("the token is too large")
    if token.startswith("{"):
        raise TokenRejected("only the JWS compact serialization is accepted")
    if not _COMPACT.fullmatch(token):
        raise TokenRejected("the token is not a signed JWT in compact serialization")
    header_segment, payload_segment, _signature = token.split(".")
    if len(header_segment) > MAX_HEADER_CHARS:
        raise TokenRejected("the token header is too large")
    try:
        raw_header = b64decode(header_segment)
    except ValueError as exc:
        raise TokenRejected("the token header is not base64url") from exc
    return json_object(raw_header, "header"), payload_segment


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, before any verification: only to choose whose keys to try."""
    _header, payload_segment = split_token(token)
    try:
        claims = json_object(b64decode(payload_segment), "payload")
    except ValueError as exc:
        raise TokenRejected("the token payload is not base64url") from exc
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None
