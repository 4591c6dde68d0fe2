"""Page sessions: an encrypted, authenticated cookie, and the CSRF token of the pages' forms.

The session is the whole state (a JWE, `dir` + A256GCM, under a key of the server's), so any
worker can read it and nothing is stored server-side. It is HttpOnly, SameSite=Lax, Secure in
production (then named `__Host-...`, which browsers accept only with Secure and Path=/, no
Domain), and expires: it holds at most a developer's client id, a citizen's short-lived access
token, and a sign-in in progress. The API never reads it: tokens travel in the Authorization header.

Every form carries the session's CSRF token; a POST is accepted only if the token matches and the
Origin header, when the browser sends one, is this site's.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import orjson
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from starlette.requests import Request
from starlette.responses import Response

LIFETIME_S = 3600
HEADER = {"alg": "dir", "enc": "A256GCM"}
MAX_COOKIE_CHARS = 3800  # browsers keep 4096 bytes per cookie, name and attributes included


class CsrfRefused(Exception):
    """A form post without this session's CSRF token, or from another origin."""


class Session(dict[str, Any]):
    """The session's data; `changed` says whether the cookie must be written again."""

    changed = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.changed = True
        super().__setitem__(key, value)

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.changed = True
        return super().pop(key, default)

    @property
    def csrf(self) -> str:
        """The token the session's forms carry (made on first use)."""
        token = self.get("csrf")
        if not isinstance(token, str):
            token = self["csrf"] = secrets.token_urlsafe(24)
        return token


class Sessions:
    """Reads and writes the session cookie with one key."""

    def __init__(self, key: bytes, *, secure: bool, origins: frozenset[str]) -> None:
        self.key = OctKey.import_key(key[:32])
        self.secure = secure
        self.cookie = "__Host-citygraph" if secure else "citygraph_session"
        self.origins = origins

    def load(self, request: Request) -> Session:
        """The request's session, or a new empty one (a bad or expired cookie is a new session)."""
        cached: Session | None = request.scope.get("citygraph.session")
        if cached is not None:
            return cached
        session = Session()
        raw = request.cookies.get(self.cookie)
        if raw and len(raw) <= MAX_COOKIE_CHARS:
            try:
                data = orjson.loads(jwe.decrypt_compact(raw, self.key).plaintext or b"{}")
            except (JoseError, ValueError):
                data = None
            if isinstance(data, dict) and data.get("exp", 0) > time.time():
                session.update(data)
        request.scope["citygraph.session"] = session
        return session

    def save(self, request: Request, response: Response) -> None:
        """Write the session's cookie on the response if it changed."""
        session = self.load(request)
        if not session.changed:
            return
        if not session:
            response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True)
            return
        data = {**session, "exp": int(time.time()) + LIFETIME_S}
        value = jwe.encrypt_compact(HEADER, orjson.dumps(data), self.key)
        response.set_cookie(
            self.cookie,
            value,
            max_age=LIFETIME_S,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
        response.headers["Cache-Control"] = "no-store"

    def check_form(self, request: Request, form: dict[str, str]) -> None:
        """CsrfRefused unless the form carries the session's token and comes from this site."""
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.url.netloc}"
        if origin is not None and origin != own and origin not in self.origins:
            raise CsrfRefused("the form was sent from another site")
        expected = self.load(request).get("csrf")
        given = form.get("csrf", "")
        if not isinstance(expected, str) or not hmac.compare_digest(given, expected):
            raise CsrfRefused("the form has expired; reload the page and try again")
