"""Where an issuer's public keys come from: its JWKS found by discovery, or our own key folder.

A JWKS is read defensively: only signature keys, RSA of at least `MIN_RSA_BITS` and EC P-256, with
public parameters only; symmetric keys never (a shared secret published beside public keys is how
HS256 key confusion starts). Discovery follows OpenID Connect, then RFC 8414, and accepts metadata
only when it names the very issuer asked about. Every fetch is bounded in time and size.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import anyio
import httpx
import structlog
from joserfc.jwk import ECKey, RSAKey

from auth.jws_compact import b64decode
from auth.keys import KeyStore

log = structlog.get_logger("citygraph.auth")

MIN_RSA_BITS = 2048

PublicKey = RSAKey | ECKey


class IssuerUnavailable(Exception):
    """The issuer's metadata or keys cannot be fetched, so no token of theirs can be checked now."""


class KeySource(Protocol):
    """Where an issuer's public keys come from."""

    async def fetch(self) -> list[PublicKey]: ...


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
        return int.from_bytes(b64decode(n), "big").bit_length()
    except ValueError:
        return 0


def allowed_url(url: str, http_hosts: frozenset[str] = frozenset()) -> bool:
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
        if not allowed_url(issuer, http_hosts):
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
            if not isinstance(jwks_uri, str) or not allowed_url(jwks_uri, self._http_hosts):
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
