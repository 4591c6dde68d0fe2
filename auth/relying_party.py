"""The pages as an OAuth client: sign a person in at an issuer with the authorization code and PKCE.

The citizen's page (/my-data) is a backend-for-frontend, as the OAuth for browser-based apps BCP
recommends: the browser only ever holds a session cookie, the code is exchanged here, and the
access token never reaches JavaScript. The issuer is found by its URL alone (OpenID discovery, then
RFC 8414), and the metadata must name that same issuer. `state` ties the callback to the browser
that started, PKCE (S256) ties the code to this exchange, RFC 9207's `iss` (when the issuer sends
it) to this issuer, and RFC 8707's `resource` asks for a token for this API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

METADATA_TTL_S = 600.0


class SignInFailed(Exception):
    """The sign-in cannot complete; `description` is safe to show (never a token or a code)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True, slots=True)
class Pending:
    """What the browser's session keeps between the redirect out and the callback."""

    state: str
    verifier: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The result: an access token for this API, and when it expires (epoch seconds)."""

    access_token: str
    expires_at: float


def challenge_of(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class RelyingParty:
    """One issuer, one client of it, one redirect URI."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        resource: str,
        http: httpx.AsyncClient,
        client_secret: str | None = None,
        scope: str = "openid self open-data",
        timeout_s: float = 5.0,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.resource = resource
        self.scope = scope
        self.http = http
        self.timeout_s = timeout_s
        self._metadata: tuple[float, Mapping[str, Any]] | None = None

    def discovery_urls(self) -> list[str]:
        parts = urlsplit(self.issuer)
        origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
        return [
            f"{origin}{path}/.well-known/openid-configuration",
            f"{origin}/.well-known/oauth-authorization-server{path}",
        ]

    async def metadata(self) -> Mapping[str, Any]:
        """The issuer's metadata (cached), checked to name this issuer and both endpoints."""
        if self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_TTL_S:
            return self._metadata[1]
        for url in self.discovery_urls():
            try:
                response = await self.http.get(url, timeout=self.timeout_s)
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                continue
            try:
                document = response.json()
            except ValueError:
                continue
            if not isinstance(document, dict):
                continue
            if document.get("issuer") != self.issuer:
                raise SignInFailed("the identity provider's metadata names another issuer")
            for name in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(document.get(name), str):
                    raise SignInFailed(f"the identity provider offers no {name}")
            self._metadata = (time.monotonic(), document)
            return document
        raise SignInFailed("the identity provider cannot be reached")

    async def start(self) -> tuple[str, Pending]:
        """The URL to send the browser to, and what to keep until it comes back."""
        metadata = await self.metadata()
        pending = Pending(state=secrets.token_urlsafe(24), verifier=secrets.token_urlsafe(48))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scope,
                "state": pending.state,
                "code_challenge": challenge_of(pending.verifier),
                "code_challenge_method": "S256",
                "resource": self.resource,
            }
        )
        endpoint = str(metadata["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", pending

    async def finish(self, pending: Pending, params: Mapping[str, str]) -> SignedIn:
        """Exchange the callback's code for an access token, after checking where it comes from."""
        if not hmac.compare_digest(params.get("state", ""), pending.state):
            raise SignInFailed("this sign-in was not started here (state mismatch)")
        metadata = await self.metadata()
        iss_expected = metadata.get("authorization_response_iss_parameter_supported")
        if ("iss" in params or iss_expected) and params.get("iss") != self.issuer:
            raise SignInFailed("the answer does not come from the expected issuer")
        if "error" in params:
            raise SignInFailed(f"the identity provider said: {params['error'][:64]}")
        code = params.get("code")
        if not code:
            raise SignInFailed("the identity provider sent no code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": pending.verifier,
            "resource": self.resource,
        }
        endpoint = str(metadata["token_endpoint"])
        try:
            if self.client_secret:
                response = await self.http.post(
                    endpoint,
                    data=form,
                    auth=(self.client_id, self.client_secret),
                    timeout=self.timeout_s,
                )
            else:
                form["client_id"] = self.client_id
                response = await self.http.post(endpoint, data=form, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise SignInFailed("the identity provider cannot be reached") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", response.status_code) if isinstance(body, dict) else ""
            raise SignInFailed(f"the identity provider refused the code ({error})")
        token, expires_in = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(token, str) or not isinstance(expires_in, int | float):
            raise SignInFailed("the identity provider's answer has no access token")
        return SignedIn(access_token=token, expires_at=time.time() + float(expires_in))
