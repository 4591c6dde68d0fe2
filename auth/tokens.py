"""The resource server's token check: RFC 9068 JWT access tokens from issuers we trust by URL alone.

`TokenVerifier` checks one issuer's tokens. Its keys come from the issuer's JWKS, found through
discovery (OpenID Connect, then RFC 8414 metadata), or from the built-in server's own key folder
(auth.issuer_keys); the token is first taken apart structurally by auth.jws_compact.
Keys are cached for `keys_ttl_s`; a token whose `kid` is unknown triggers a refetch, at most once per
`min_refetch_interval_s`, so that a flood of forged kids cannot turn us into a flood on the IdP.

What a token must be (each check has a negative test in tests/auth):
- the JWS compact serialization only (the JSON serialization, with its unprotected headers and
  unsigned variants, is refused before any parsing), with a bounded size and header size;
- a header of known parameters only (alg, typ, kid, x5t, x5t#S256): `jwk`, `jku`, `x5u`, `x5c`
  would let the token choose its own key, `crit` would oblige us to understand extensions we do
  not implement, so they are refused rather than ignored; no duplicate JSON members anywhere;
- `alg` exactly RS256, ES256 or PS256 (case-sensitive: "none", "None" and HS256 all fail), and the
  key picked must be of that algorithm's type: an HS256 token "signed with the public key" fails;
- `typ` "at+jwt" (RFC 9068), compared case-insensitively and with an optional "application/"
  prefix, because RFC 7515 section 4.1.9 makes media types case-insensitive and the prefix
  optional; a missing `typ` fails (authlib's own validator lets it through);
- `kid`, when present, of a plain charset (no path separators) and at most 128 characters;
- `iss` exactly our configured issuer (no prefix or normalisation), `aud` containing our audience,
  `exp` and `iat` present, `nbf` if present, all within a leeway of at most 60 s.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import httpx
import structlog
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from auth.issuer_keys import (
    IssuerUnavailable,
    KeySource,
    LocalKeySource,
    PublicKey,
    RemoteKeySource,
)
from auth.jws_compact import TokenRejected, json_object, split_token, unverified_issuer
from auth.keys import KeyStore

__all__ = [
    "AccessToken",
    "IssuerUnavailable",
    "TokenRejected",
    "TokenVerifier",
    "TrustedIssuers",
    "Verifier",
]

log = structlog.get_logger("citygraph.auth")

ALLOWED_ALGS = ("RS256", "ES256", "PS256")
MAX_LEEWAY_S = 60
ALLOWED_HEADER_PARAMS = frozenset({"alg", "typ", "kid", "x5t", "x5t#S256"})
# Named in the error because a client (or its library) that sends them should know why it fails.
NAMED_HEADER_PARAMS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc", "cty"})
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
KID_PATTERN = re.compile(r"[A-Za-z0-9._~+=:-]{1,128}")


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A verified access token: its claims, and what we know of the issuer that signed it."""

    issuer: str
    claims: Mapping[str, Any]
    builtin: bool
    """Signed by citygraph's own authorization server."""
    user_tokens: bool
    """Whether tokens of this issuer may stand for a person (staff, auditor, citizen)."""

    @property
    def subject(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None

    @property
    def client_id(self) -> str:
        # RFC 9068 requires client_id; Keycloak before version 24 names the client in `azp` only.
        value = self.claims.get("client_id") or self.claims.get("azp")
        return str(value)

    @property
    def scopes(self) -> frozenset[str]:
        scope = self.claims.get("scope")
        if isinstance(scope, str):
            return frozenset(scope.split())
        if isinstance(scope, list):
            return frozenset(s for s in scope if isinstance(s, str))
        return frozenset()


class Verifier(Protocol):
    """Anything that turns a bearer token into a verified AccessToken or raises TokenRejected."""

    async def verify(self, token: str) -> AccessToken: ...


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise TokenRejected(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRejected(f"the {name} claim is not a number")
    return float(value)


class TokenVerifier:
    """Verifies the access tokens of one issuer for one audience."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: KeySource,
        builtin: bool = False,
        accept_user_tokens: bool = True,
        algorithms: Iterable[str] = ALLOWED_ALGS,
        leeway_s: float = 30.0,
        keys_ttl_s: float = 600.0,
        min_refetch_interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY_S} s")
        self.algorithms = frozenset(algorithms)
        if not self.algorithms or not self.algorithms <= set(ALLOWED_ALGS):
            raise ValueError(f"algorithms must be among {', '.join(ALLOWED_ALGS)}")
        if not issuer or not audience:
            raise ValueError("issuer and audience are required")
        self.issuer = issuer
        self.audience = audience
        self.builtin = builtin
        self.accept_user_tokens = accept_user_tokens
        self.leeway_s = leeway_s
        self.keys_ttl_s = keys_ttl_s
        self.min_refetch_interval_s = min_refetch_interval_s
        self._source = keys
        self._clock = clock
        self._monotonic = monotonic
        self._keys: list[PublicKey] = []
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_failure = "not fetched yet"
        self._lock = anyio.Lock()

    @classmethod
    def from_issuer_url(
        cls,
        issuer: str,
        *,
        audience: str,
        http: httpx.AsyncClient,
        timeout_s: float = 3.0,
        http_hosts: frozenset[str] = frozenset(),
        **options: Any,
    ) -> TokenVerifier:
        """A verifier for an external issuer, configured by its URL alone (discovery + JWKS)."""
        keys = RemoteKeySource(issuer, http=http, timeout_s=timeout_s, http_hosts=http_hosts)
        return cls(issuer=issuer, audience=audience, keys=keys, **options)

    @classmethod
    def from_keystore(
        cls,
        keystore: KeyStore,
        *,
        issuer: str,
        audience: str,
        accept_user_tokens: bool,
        **options: Any,
    ) -> TokenVerifier:
        """A verifier for the built-in server's tokens, reading its keys from disk."""
        # Local keys cost a stat to re-check: follow a rotation by another process within a second.
        options.setdefault("keys_ttl_s", 5.0)
        options.setdefault("min_refetch_interval_s", 1.0)
        return cls(
            issuer=issuer,
            audience=audience,
            keys=LocalKeySource(keystore),
            builtin=True,
            accept_user_tokens=accept_user_tokens,
            **options,
        )

    async def verify(self, token: str) -> AccessToken:
        """The verified token, or TokenRejected; IssuerUnavailable when the keys cannot be had."""
        header, _payload = split_token(token)
        alg, kid = self._check_header(header)
        candidates = await self._keys_for(kid, alg)
        payload = self._verify_signature(token, candidates, alg)
        claims = json_object(payload, "payload")
        self._check_claims(claims)
        return AccessToken(
            issuer=self.issuer,
            claims=claims,
            builtin=self.builtin,
            user_tokens=self.accept_user_tokens,
        )

    def _check_header(self, header: Mapping[str, Any]) -> tuple[str, str | None]:
        extra = set(header) - ALLOWED_HEADER_PARAMS
        if extra:
            named = sorted(extra & NAMED_HEADER_PARAMS)
            which = f" ({', '.join(named)})" if named else ""
            raise TokenRejected(f"the token header has parameters we do not accept{which}")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise TokenRejected(
                f"the token algorithm is not allowed (allowed: {', '.join(sorted(self.algorithms))})"
            )
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise TokenRejected('the token is not an access token (typ must be "at+jwt")')
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid)):
            raise TokenRejected("the token kid is malformed")
        return alg, kid

    async def _keys_for(self, kid: str | None, alg: str) -> list[PublicKey]:
        if self._stale():
            await self._refresh(forced=False)
        found = self._select(kid, alg)
        if not found:
            # Maybe the issuer rotated its keys: refetch, but at a bounded rate.
            await self._refresh(forced=True)
            found = self._select(kid, alg)
        if not found:
            raise TokenRejected("no key of the issuer matches the token (kid and alg)")
        return found

    def _stale(self) -> bool:
        return self._fetched_at is None or self._monotonic() - self._fetched_at > self.keys_ttl_s

    async def _refresh(self, *, forced: bool) -> None:
        async with self._lock:
            now = self._monotonic()
            recently = (
                self._attempted_at is not None
                and now - self._attempted_at < self.min_refetch_interval_s
            )
            if not recently and (forced or self._stale()):
                self._attempted_at = now
                try:
                    self._keys = await self._source.fetch()
                    self._fetched_at = now
                except IssuerUnavailable as exc:
                    # Stale keys keep serving while the issuer is away (they were trusted a moment
                    # ago); without any, nothing can be verified.
                    self._last_failure = str(exc)
                    log.warning("issuer keys unavailable", issuer=self.issuer, reason=str(exc))
            if self._fetched_at is None:
                raise IssuerUnavailable(
                    f"the keys of {self.issuer} could not be fetched ({self._last_failure})"
                )

    def _select(self, kid: str | None, alg: str) -> list[PublicKey]:
        def usable(key: PublicKey) -> bool:
            if key.get("alg") not in (None, alg):
                return False
            if alg == "ES256":
                return isinstance(key, ECKey) and key.get("crv") == "P-256"
            return isinstance(key, RSAKey)  # RS256, PS256

        if kid is not None:
            return [key for key in self._keys if key.kid == kid and usable(key)]
        # No kid: acceptable only when the issuer has a single key it could be.
        usable_keys = [key for key in self._keys if usable(key)]
        return usable_keys if len(usable_keys) == 1 else []

    def _verify_signature(self, token: str, candidates: list[PublicKey], alg: str) -> bytes:
        registry = JWSRegistry(algorithms=[alg])
        for key in candidates:
            try:
                signed = jws.deserialize_compact(token, key, algorithms=[alg], registry=registry)
            except JoseError:
                continue
            if signed.payload is not None:
                return signed.payload
        raise TokenRejected("the token signature does not verify")

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise TokenRejected("the token was issued by another issuer")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in [a for a in audiences if isinstance(a, str)]:
            raise TokenRejected("the token is meant for another audience")
        now = self._clock()
        exp = _number(claims, "exp", required=True)
        if exp is not None and now > exp + self.leeway_s:
            raise TokenRejected("the token has expired")
        nbf = _number(claims, "nbf", required=False)
        if nbf is not None and now < nbf - self.leeway_s:
            raise TokenRejected("the token is not valid yet")
        iat = _number(claims, "iat", required=True)
        if iat is not None and iat > now + self.leeway_s:
            raise TokenRejected("the token was issued in the future")
        client_id = claims.get("client_id", claims.get("azp"))
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 256:
            raise TokenRejected("the token names no client (client_id)")
        sub = claims.get("sub")
        if sub is not None and (not isinstance(sub, str) or not 0 < len(sub) <= 256):
            raise TokenRejected("the token subject is malformed")
        scope = claims.get("scope")
        if scope is not None and not (
            isinstance(scope, str)
            or (isinstance(scope, list) and all(isinstance(s, str) for s in scope))
        ):
            raise TokenRejected("the token scope claim is malformed")


class TrustedIssuers:
    """Several issuers at once (the built-in server for apps, the city IdP for staff)."""

    def __init__(self, verifiers: Iterable[TokenVerifier]) -> None:
        self._by_issuer: dict[str, TokenVerifier] = {}
        for verifier in verifiers:
            if verifier.issuer in self._by_issuer:
                raise ValueError(f"issuer {verifier.issuer} is configured twice")
            self._by_issuer[verifier.issuer] = verifier
        if not self._by_issuer:
            raise ValueError("at least one issuer is required")

    @property
    def issuers(self) -> list[str]:
        """The trusted issuer URLs."""
        return list(self._by_issuer)

    async def verify(self, token: str) -> AccessToken:
        """Verify with the verifier of the issuer the token names (exact match, else refused)."""
        verifier = self._by_issuer.get(unverified_issuer(token) or "")
        if verifier is None:
            raise TokenRejected("the token was issued by an issuer we do not trust")
        return await verifier.verify(token)
