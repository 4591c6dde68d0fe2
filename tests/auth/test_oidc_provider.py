"""An independent OpenID provider (npm oidc-provider) on loopback issues the tokens; we only verify them.

Nothing of ours signs here: discovery, JWKS and the token come from a certified implementation, so
this is the test that our resource server works with a standard issuer configured by its URL alone.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from auth.clients import AUTH_DEPARTMENT, ClientRegistry
from auth.purposes import PurposeRegistry
from auth.tokens import TokenVerifier
from storage.engines import make_engine
from storage.migrate import upgrade
from tests.auth.conftest import AUDIENCE, build_app
from tests.services import free_port

pytestmark = pytest.mark.slow

CLIENT_ID, CLIENT_SECRET = "bike-app", "bike-app-secret"
STARTUP_TIMEOUT_S = 90
"""How long the provider may take to listen: a bound on a hang, not a wait (it ends at the line)."""


@dataclass
class Provider:
    issuer: str
    kid: str
    popen: subprocess.Popen[bytes]


@contextlib.contextmanager
def run_provider(
    node_tools: Path,
    workdir: Path,
    *,
    attempts: int = 3,
    audience: str = AUDIENCE,
    extra: list[str] | None = None,
) -> Iterator[Provider]:
    """Start tools/node/oidc-provider.mjs on a free loopback port; stop it (by pid) afterwards."""
    for attempt in range(attempts):
        port = free_port()
        stderr_path = workdir / f"oidc-{port}.log"
        with stderr_path.open("wb") as stderr:
            popen = subprocess.Popen(
                ["node", str(node_tools / "oidc-provider.mjs"), "--port", str(port),
                 "--audience", audience, "--client", f"{CLIENT_ID}:{CLIENT_SECRET}",
                 *(extra or ["--scopes", "open-data registry:read"])],
                cwd=node_tools, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True,  # Ctrl-C goes to pytest, not to the provider
            )  # fmt: skip
        try:
            # the provider prints its first line once listening; under a full suite on two cores
            # loading its modules and making its RSA key once took over 20 s
            line = _first_line(popen, timeout_s=STARTUP_TIMEOUT_S)
            if line is None:
                code = popen.poll()
                if code == 3 and attempt + 1 < attempts:  # port taken meanwhile: try another
                    continue
                raise RuntimeError(
                    f"oidc-provider did not start (exit {code}):\n{stderr_path.read_text()}"
                )
            started = json.loads(line)
            yield Provider(issuer=started["issuer"], kid=started["kid"], popen=popen)
            return
        finally:
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
                try:
                    popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    popen.kill()
                    popen.wait()
            if popen.stdout is not None:
                popen.stdout.close()
    raise RuntimeError(f"oidc-provider found no free port in {attempts} attempts")


def _first_line(popen: subprocess.Popen[bytes], *, timeout_s: float) -> str | None:
    assert popen.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(popen.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline and popen.poll() is None:
            if selector.select(timeout=0.1):
                line = popen.stdout.readline().decode().strip()
                return line or None
    return None


@pytest.fixture
def provider(node_tools: Path, tmp_path: Path) -> Iterator[Provider]:
    with run_provider(node_tools, tmp_path) as running:
        yield running


@pytest.fixture
def other_provider(node_tools: Path, tmp_path: Path) -> Iterator[Provider]:
    with run_provider(node_tools, tmp_path) as running:
        yield running


async def client_credentials_token(issuer: str, *, scope: str = "open-data") -> str:
    """What any app does: ask the provider's token endpoint, found by discovery."""
    async with httpx.AsyncClient(timeout=10) as http:
        metadata = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
        response = await http.post(
            metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": scope, "resource": AUDIENCE},
            auth=(CLIENT_ID, CLIENT_SECRET),
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
async def citygraph(provider: Provider, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Our echo app trusting `provider` by its issuer URL alone."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'clients.db'}")
    await upgrade(engine, [AUTH_DEPARTMENT])
    async with httpx.AsyncClient() as idp_http:
        verifier = TokenVerifier.from_issuer_url(provider.issuer, audience=AUDIENCE, http=idp_http)
        app = build_app(
            server=None,
            verifier=verifier,
            registry=ClientRegistry(engine),
            purposes=PurposeRegistry.default(),
            authorization_servers=[provider.issuer],
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://citygraph.test"
        ) as http:
            yield http
    await engine.dispose()


async def test_a_token_from_an_independent_provider_is_accepted(
    provider: Provider, citygraph: httpx.AsyncClient
) -> None:
    token = await client_credentials_token(provider.issuer)
    response = await citygraph.get("/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tier"] == "app"
    assert body["client_id"] == CLIENT_ID
    assert body["scopes"] == ["open-data"]


async def test_the_provider_token_is_rfc9068(provider: Provider) -> None:
    token = await client_credentials_token(provider.issuer)
    async with httpx.AsyncClient() as http:
        verifier = TokenVerifier.from_issuer_url(provider.issuer, audience=AUDIENCE, http=http)
        access = await verifier.verify(token)
    assert access.issuer == provider.issuer
    assert access.claims["aud"] == AUDIENCE
    assert access.subject == access.client_id == CLIENT_ID


async def test_a_token_from_another_provider_is_refused(
    provider: Provider, other_provider: Provider, citygraph: httpx.AsyncClient
) -> None:
    assert other_provider.issuer != provider.issuer
    token = await client_credentials_token(other_provider.issuer)
    response = await citygraph.get("/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_personal_scopes_the_idp_gave_an_app_are_not_ours_to_honour(
    provider: Provider, citygraph: httpx.AsyncClient
) -> None:
    token = await client_credentials_token(provider.issuer, scope="open-data registry:read")
    response = await citygraph.get("/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "no administrator granted" in response.json()["error_description"]
