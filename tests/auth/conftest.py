"""A tiny app of our own: the OAuth routes plus a protected /echo that answers with its Principal.

Every HTTP test goes through the real pieces (authlib's server, the client registry on SQLite or
PostgreSQL, the keys on disk, `authenticate`); only the GraphQL schema is left out.
`forge(...)` builds compact JWS by hand, so that attack tokens can carry what no library would emit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.clients import AUTH_DEPARTMENT, ClientRegistry, NewClient, oauth_client
from auth.http import auth_error_response, oauth_routes, well_known_url
from auth.keys import KeyStore, SigningKey, generate_key
from auth.principal import Principal
from auth.purposes import PurposeRegistry
from auth.resolve import InvalidToken, authenticate
from auth.server import CityAuthorizationServer, sign_access_token
from auth.tokens import IssuerUnavailable, TokenVerifier, Verifier
from storage.engines import make_engine
from storage.migrate import upgrade

ISSUER = "https://citygraph.test"
AUDIENCE = "https://citygraph.test"
RESOURCE_METADATA = well_known_url(AUDIENCE, "oauth-protected-resource")
IDP = "https://idp.test/realms/city"


def b64(data: bytes | str | dict[str, Any]) -> str:
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_with(key: SigningKey, alg: str, signing_input: bytes) -> bytes:
    """A raw JWS signature of `signing_input` with a joserfc private key."""
    private = key.private_key
    if alg == "RS256":
        assert isinstance(private, rsa.RSAPrivateKey)
        return private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        assert isinstance(private, rsa.RSAPrivateKey)
        return private.sign(
            signing_input,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    if alg == "ES256":
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raise ValueError(alg)


def claims(**overrides: Any) -> dict[str, Any]:
    """Good app-token claims for our issuer and audience; None removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "cg_app",
        "aud": AUDIENCE,
        "client_id": "cg_app",
        "scope": "open-data",
        "iat": now,
        "exp": now + 300,
        "jti": "j1",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(
    header: dict[str, Any],
    payload: dict[str, Any] | bytes,
    *,
    key: SigningKey | None = None,
    alg: str | None = None,
    signature: bytes | None = None,
) -> str:
    """A compact JWS with exactly this header and payload, signed with `key` (or given `signature`)."""
    signing_input = (
        f"{b64(header)}.{b64(payload if isinstance(payload, bytes) else json.dumps(payload))}"
    )
    if signature is None:
        assert key is not None
        signature = sign_with(key, alg or header["alg"], signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


class FakeIdP:
    """An OIDC-style issuer: metadata at the OIDC location, a JWKS it can rotate, request counts."""

    def __init__(self, issuer: str = IDP) -> None:
        self.issuer = issuer
        self.keys: list[SigningKey] = [generate_key("RS256")]
        self.requests: list[str] = []
        self.metadata_issuer = issuer
        self.jwks_uri = f"{issuer}/protocol/openid-connect/certs"
        self.extra_jwks: list[dict[str, Any]] = []
        self.down = False
        self.delay_s = 0.0

    @property
    def key(self) -> SigningKey:
        return self.keys[0]

    def rotate(self) -> None:
        self.keys = [generate_key("RS256"), *self.keys[:1]]

    def token(self, **overrides: Any) -> str:
        header = {"alg": "RS256", "typ": "at+jwt", "kid": self.key.kid}
        payload = claims(
            **({"iss": self.issuer, "sub": "alice", "client_id": "portal"} | overrides)
        )
        return forge(header, {k: v for k, v in payload.items() if v is not None}, key=self.key)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.down:
            return httpx.Response(503)
        url = str(request.url)
        if url == f"{self.issuer}/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": self.metadata_issuer, "jwks_uri": self.jwks_uri}
            )
        if url == self.jwks_uri:
            keys = [dict(k.as_dict(private=False)) for k in self.keys] + self.extra_jwks
            return httpx.Response(200, json={"keys": keys})
        return httpx.Response(404)

    def jwks_fetches(self) -> int:
        return sum(1 for path in self.requests if path.endswith("/certs"))


@dataclass
class AuthWorld:
    """Everything one test needs: the app's HTTP client and the objects behind it."""

    http: httpx.AsyncClient
    keystore: KeyStore
    registry: ClientRegistry
    server: CityAuthorizationServer
    purposes: PurposeRegistry

    @property
    def key(self) -> SigningKey:
        return self.keystore.signing_keys().current

    @property
    def kid(self) -> str:
        return self.keystore.signing_keys().kid

    def header(self, **overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"alg": "RS256", "typ": "at+jwt", "kid": self.kid}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}

    def token(self, **claim_overrides: Any) -> str:
        """A correctly signed token of ours: good claims with these overrides (None removes)."""
        return self.sign(claims(**claim_overrides))

    def sign(self, payload: dict[str, Any]) -> str:
        """A correctly signed token of ours with exactly this payload."""
        return forge(self.header(), payload, key=self.key)

    def user_token(self, subject: str, scopes: str, **extra: Any) -> str:
        """A person's token, as `citygraph token` mints it."""
        return sign_access_token(
            keys=self.keystore.signing_keys(),
            issuer=ISSUER,
            audience=AUDIENCE,
            subject=subject,
            client_id="citygraph-dev-cli",
            scopes=scopes.split(),
            lifetime_s=600,
            extra=extra,
        )

    async def register(self, scopes: str = "open-data", *, admin: bool = True) -> NewClient:
        return await self.registry.create(
            name="test app", scopes=scopes.split(), admin_granted=admin
        )

    async def client_token(self, client: NewClient, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        response = await self.http.post(
            "/oauth/token", data=form, auth=(client.record.client_id, client.secret)
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def echo(self, token: str | None = None, **headers: str) -> httpx.Response:
        """GET /echo with this bearer token (and extra headers)."""
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.get("/echo", headers=headers)


def principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "tier": principal.tier.value,
        "subject": principal.subject,
        "client_id": principal.client_id,
        "scopes": sorted(principal.scopes),
        "purpose": None
        if principal.purpose is None
        else {
            "legal_basis": principal.purpose.legal_basis,
            "case_reference": principal.purpose.case_reference,
            "covers": sorted(principal.purpose.covers),
        },
        "resident_id": principal.resident_id,
    }


def build_app(
    *,
    server: CityAuthorizationServer | None,
    verifier: Verifier,
    registry: ClientRegistry,
    purposes: PurposeRegistry,
    authorization_servers: list[str],
) -> Starlette:
    async def echo(request: Request) -> Response:
        try:
            principal = await authenticate(
                request.headers, verifier=verifier, clients=registry, purposes=purposes
            )
        except (InvalidToken, IssuerUnavailable) as exc:
            return auth_error_response(exc, resource_metadata=RESOURCE_METADATA)
        return JSONResponse(principal_json(principal))

    routes = oauth_routes(
        resource=AUDIENCE,
        authorization_servers=authorization_servers,
        server=server,
        registrations_per_hour=5,
    )
    return Starlette(routes=[*routes, Route("/echo", echo)])


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="session"
)
def auth_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The client registry's database: a SQLite file, then this session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('auth') / 'clients.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(auth_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the registry database, with an empty oauth_client table."""
    engine = make_engine(auth_database_url)
    await upgrade(engine, [AUTH_DEPARTMENT])
    async with engine.begin() as conn:
        await conn.execute(delete(oauth_client))
    yield engine
    await engine.dispose()


@pytest.fixture
def keystore(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


@pytest.fixture
async def world(engine: AsyncEngine, keystore: KeyStore) -> AsyncIterator[AuthWorld]:
    """The built-in server as issuer, user tokens accepted (development)."""
    registry = ClientRegistry(engine)
    server = CityAuthorizationServer(
        issuer=ISSUER, audience=AUDIENCE, keystore=keystore, clients=registry
    )
    verifier = TokenVerifier.from_keystore(
        keystore, issuer=ISSUER, audience=AUDIENCE, accept_user_tokens=True
    )
    purposes = PurposeRegistry.default()
    app = build_app(
        server=server,
        verifier=verifier,
        registry=registry,
        purposes=purposes,
        authorization_servers=[ISSUER],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://citygraph.test"
    ) as http:
        yield AuthWorld(
            http=http, keystore=keystore, registry=registry, server=server, purposes=purposes
        )


Forge = Callable[..., str]
