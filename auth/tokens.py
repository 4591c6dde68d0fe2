"""The resource server's token check: RFC 9068 JWT access tokens from issuers we trust by URL alone.

`TokenVerifier` checks one issuer's tokens. Its keys come from the issuer's JWKS, found through
discovery (OpenID Connect, then RFC 8414 metadata), or from the built-in server's own key folder.
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

import base64
import ipaddress
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import httpx
import structlog
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from auth.keys import KeyStore

log = structlog.get_logger("citygraph.auth")

ALLOWED_ALGS = ("RS256", "ES256", "PS256")
MAX_TOKEN_CHARS = 8192
MAX_HEADER_CHARS = 512
MAX_LEEWAY_S = 60
MIN_RSA_BITS = 2048
ALLOWED_HEADER_PARAMS = frozenset({"alg", "typ", "kid", "x5t", "x5t#S256"})
# Named in the error because a client (or its library) that sends them should know why it fails.
NAMED_HEADER_PARAMS = frozenset({"jwk", "jku", "x5u", "x5c", "crit", "b64", "zip", "enc", "cty"})
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
KID_PATTERN = re.compile(r"[A-Za-z0-9._~+=:-]{1,128}")
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

PublicKey = RSAKey | ECKey


class TokenRejected(Exception):
    """The token is not acceptable; `description` is safe to send back (it never quotes the token)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class IssuerUnavailable(Exception):
    """The issuer's metadata or keys cannot be fetched, so no token of theirs can be checked now."""


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


class KeySource(Protocol):
    """Where an issuer's public keys come from."""

    async def fetch(self) -> list[PublicKey]: ...


class Verifier(Protocol):
    """Anything that turns a bearer token into a verified AccessToken or raises TokenRejected."""

    async def verify(self, token: str) -> AccessToken: ...


def parse_jwks(document: object) -> list[PublicKey]:
    """The usable signature keys of a JWK Set; anything else in it is skipped."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise IssuerUnavailable("the JWKS is not a JWK Set")
    keys: list[PublicKey] = []
    for entry in document["keys"][:100]:
        key = _public_key(entry)
        if key is not None:
            keys.append(key)
    return keys


def _public_key(entry: object) -> PublicKey | None:
    if not isinstance(entry, Mapping):
        return None
    if entry.get("use", "sig") != "sig":
        return None
    ops = entry.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    kty = entry.get("kty")
    try:
        if kty == "RSA":
            # Public parameters only: a JWKS that (wrongly) carries private ones must not make us
            # hold a signing key.
            data: Any = {k: entry[k] for k in ("kty", "n", "e", "kid", "alg", "use") if k in entry}
            # Weak keys are skipped before import (joserfc would only warn about them).
            n = entry.get("n")
            if not isinstance(n, str) or _modulus_bits(n) < MIN_RSA_BITS:
                return None
            return RSAKey.import_key(data)
        if kty == "EC" and entry.get("crv") == "P-256":
            data = {
                k: entry[k] for k in ("kty", "crv", "x", "y", "kid", "alg", "use") if k in entry
            }
            return ECKey.import_key(data)
    except Exception:  # joserfc raises several types for a malformed JWK; skip that one key
        log.warning("skipping a malformed key in a JWKS", kid=str(entry.get("kid"))[:128])
        return None
    # Symmetric ("oct") keys are never used: a shared secret published next to public keys is
    # how HS256 key confusion starts. OKP and other curves: no algorithm of ours uses them.
    return None


def _modulus_bits(n: str) -> int:
    try:
        return int.from_bytes(_b64decode(n), "big").bit_length()
    except ValueError:
        return 0


def _allowed_url(url: str, http_hosts: frozenset[str] = frozenset()) -> bool:
    """HTTPS, or plain HTTP to a loopback address (tests, a local IdP) or to one of `http_hosts`
    (named hosts of a private network the operator vouches for, such as compose's)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.username or parts.password or not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost" or parts.hostname in http_hosts:
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class RemoteKeySource:
    """An issuer's JWKS, found by discovery from its issuer URL alone."""

    def __init__(
        self,
        issuer: str,
        *,
        http: httpx.AsyncClient,
        timeout_s: float = 3.0,
        metadata_ttl_s: float = 3600.0,
        max_bytes: int = 256 * 1024,
        monotonic: Callable[[], float] = time.monotonic,
        http_hosts: frozenset[str] = frozenset(),
    ) -> None:
        if not _allowed_url(issuer, http_hosts):
            raise ValueError(
                "the issuer URL must be https (plain http only on loopback, or to a host named "
                "in CITYGRAPH_ISSUER_HTTP_HOSTS)"
            )
        self.issuer = issuer
        self._http_hosts = http_hosts
        self._http = http
        self._timeout_s = timeout_s
        self._metadata_ttl_s = metadata_ttl_s
        self._max_bytes = max_bytes
        self._monotonic = monotonic
        self._jwks_uri: tuple[float, str] | None = None

    def discovery_urls(self) -> list[str]:
        """OpenID Connect discovery, then RFC 8414 (path inserted after the host)."""
        parts = urlsplit(self.issuer)
        path = parts.path.rstrip("/")
        origin = f"{parts.scheme}://{parts.netloc}"
        return [
            f"{origin}{path}/.well-known/openid-configuration",
            f"{origin}/.well-known/oauth-authorization-server{path}",
        ]

    async def fetch(self) -> list[PublicKey]:
        """The issuer's current signature keys."""
        jwks_uri = await self._discover()
        try:
            return parse_jwks(await self._get_json(jwks_uri))
        except IssuerUnavailable:
            self._jwks_uri = None  # the metadata may have moved the JWKS: rediscover next time
            raise

    async def _discover(self) -> str:
        now = self._monotonic()
        if self._jwks_uri is not None and now - self._jwks_uri[0] < self._metadata_ttl_s:
            return self._jwks_uri[1]
        reasons = []
        for url in self.discovery_urls():
            try:
                metadata = await self._get_json(url)
            except IssuerUnavailable as exc:
                reasons.append(str(exc))
                continue
            # RFC 8414 section 3.3 and OIDC Discovery 4.3: the document must name the very issuer
            # we asked about, or a metadata mix-up could hand us another issuer's keys.
            if metadata.get("issuer") != self.issuer:
                raise IssuerUnavailable(f"{url} describes another issuer")
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not _allowed_url(jwks_uri, self._http_hosts):
                raise IssuerUnavailable(f"{url} has no usable jwks_uri")
            self._jwks_uri = (now, jwks_uri)
            return jwks_uri
        raise IssuerUnavailable("discovery failed: " + "; ".join(reasons))

    async def _get_json(self, url: str) -> Mapping[str, Any]:
        timeout = httpx.Timeout(self._timeout_s, connect=min(2.0, self._timeout_s))
        body = bytearray()
        try:
            # One deadline for the whole exchange: a server dripping bytes cannot stretch it.
            with anyio.fail_after(self._timeout_s * 2):
                async with self._http.stream(
                    "GET",
                    url,
                    timeout=timeout,
                    follow_redirects=False,
                    headers={"Accept": "application/json"},
                ) as response:
                    if response.status_code != 200:
                        raise IssuerUnavailable(f"{url} answered {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > self._max_bytes:
                            raise IssuerUnavailable(
                                f"{url} answered more than {self._max_bytes} bytes"
                            )
        except (httpx.HTTPError, TimeoutError) as exc:
            raise IssuerUnavailable(f"{url}: {type(exc).__name__}") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise IssuerUnavailable(f"{url} did not answer JSON") from exc
        if not isinstance(document, dict):
            raise IssuerUnavailable(f"{url} did not answer a JSON object")
        return document


class LocalKeySource:
    """The built-in authorization server's keys, read from its key folder."""

    def __init__(self, keystore: KeyStore) -> None:
        self._keystore = keystore

    async def fetch(self) -> list[PublicKey]:
        """The current and previous public keys (re-read when another process rotated them)."""
        return list(self._keystore.signing_keys().public_keys())


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two `alg` (or `iss`) members would be read differently by different parsers; refuse both.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member")
        result[key] = value
    return result


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenRejected(
            f"the token {what} is not a JSON object without duplicate members"
        ) from exc
    if not isinstance(value, dict):
        raise TokenRejected(f"the token {what} is not a JSON object")
    return value


def _number(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise TokenRejected(f"the token has no {name} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRejected(f"the {name} claim is not a number")
    return float(value)


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
        raw_header = _b64decode(header_segment)
    except ValueError as exc:
        raise TokenRejected("the token header is not base64url") from exc
    return _json_object(raw_header, "header"), payload_segment


def unverified_issuer(token: str) -> str | None:
    """The `iss` a token claims, before any verification: only to choose whose keys to try."""
    _header, payload_segment = split_token(token)
    try:
        claims = _json_object(_b64decode(payload_segment), "payload")
    except ValueError as exc:
        raise TokenRejected("the token payload is not base64url") from exc
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


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
        claims = _json_object(payload, "payload")
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
