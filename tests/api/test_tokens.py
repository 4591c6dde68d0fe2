"""Tiers through the real app: tokens from the built-in server, 401s, purposes, citizens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from auth.keys import KeyStore
from auth.server import sign_access_token
from tests.api.conftest import RESIDENTS, bike_stations, city_of, on_app_loop, seed

BASE = "http://127.0.0.1:8000"
RESIDENTS_Q = {"query": "{ residents { totalCount nodes { id familyName } } }"}
STATIONS_Q = {"query": "{ bikeStations { totalCount } }"}


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, environment=Environment.TEST, public_url=BASE)
    # loopback host and client: the token endpoint accepts plain HTTP only there
    with TestClient(create_app(settings), base_url=BASE, client=("127.0.0.1", 50000)) as client:
        on_app_loop(client, seed, city_of(client))
        yield client


def person_token(client: TestClient, tmp_path: Path, scopes: list[str], **extra: Any) -> str:
    """A token for a person, signed with the app's own keys (what `citygraph token` prints)."""
    keys = KeyStore(tmp_path / "keys").signing_keys()
    lifetime = extra.pop("lifetime", 600)
    return sign_access_token(
        keys=keys,
        issuer=BASE,
        audience=BASE,
        subject="agent-7",
        client_id="citygraph-dev",
        scopes=scopes,
        lifetime_s=lifetime,
        extra=extra,
        now=extra.pop("now", None),
    )


def ask(client: TestClient, body: dict[str, Any], token: str | None = None, **headers: str) -> Any:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/graphql", json=body, headers=headers)


def codes(response: Any) -> list[str]:
    return sorted(e["extensions"]["code"] for e in response.json().get("errors", []))


def test_an_app_registers_gets_a_token_and_reads_open_data(app_client: TestClient) -> None:
    registered = app_client.post(
        "/oauth/register", json={"client_name": "Vélo Paris", "scope": "open-data"}
    )
    assert registered.status_code == 201, registered.text
    credentials = registered.json()
    token = app_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "open-data"},
        auth=(credentials["client_id"], credentials["client_secret"]),
    )
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    assert ask(app_client, STATIONS_Q, access).json()["data"]["bikeStations"]["totalCount"] == len(
        bike_stations()
    )
    denied = ask(app_client, RESIDENTS_Q, access)
    assert denied.json()["data"] == {"residents": None}
    assert codes(denied) == ["FORBIDDEN"]


def test_a_bad_token_is_a_401_with_a_challenge_not_anonymous(app_client: TestClient) -> None:
    response = ask(app_client, STATIONS_Q, "not.a.token")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "data" not in response.json()
    assert codes(response) == ["UNAUTHENTICATED"]


def test_an_expired_token_is_refused(app_client: TestClient, tmp_path: Path) -> None:
    token = person_token(
        app_client, tmp_path, ["registry:read"], lifetime=60, now=time.time() - 3600
    )
    assert ask(app_client, STATIONS_Q, token).status_code == 401


def test_staff_read_the_registry_with_a_purpose_only(
    app_client: TestClient, tmp_path: Path
) -> None:
    token = person_token(app_client, tmp_path, ["registry:read"])
    without = ask(app_client, RESIDENTS_Q, token)
    assert codes(without) == ["PURPOSE_REQUIRED"]
    purpose = {"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=EC-2026-118"}
    with_purpose = ask(app_client, RESIDENTS_Q, token, **purpose)
    assert with_purpose.json()["data"]["residents"]["totalCount"] == len(RESIDENTS)
    wrong = {"Citygraph-Purpose": "legal-basis=CU-L423-1; case=PC-1"}
    assert codes(ask(app_client, RESIDENTS_Q, token, **wrong)) == ["FORBIDDEN"]


def test_an_unknown_legal_basis_is_a_bad_request(app_client: TestClient, tmp_path: Path) -> None:
    token = person_token(app_client, tmp_path, ["registry:read"])
    response = ask(
        app_client, RESIDENTS_Q, token, **{"Citygraph-Purpose": "legal-basis=NOPE; case=1"}
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_a_citizen_reads_only_themself(app_client: TestClient, tmp_path: Path) -> None:
    own = RESIDENTS[0]["id"]
    token = person_token(app_client, tmp_path, ["self"], resident_id=own)
    response = ask(app_client, RESIDENTS_Q, token)
    assert response.json()["data"]["residents"]["nodes"] == [
        {"id": own, "familyName": RESIDENTS[0]["family_name"]}
    ]


def test_the_metadata_is_published(app_client: TestClient) -> None:
    metadata = app_client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == BASE
    assert metadata["token_endpoint"] == f"{BASE}/oauth/token"
    keys = app_client.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    assert all("d" not in k for k in keys)  # public keys only
    resource = app_client.get("/.well-known/oauth-protected-resource").json()
    assert resource["resource"] == BASE


def test_a_self_registered_app_cannot_obtain_a_personal_scope(app_client: TestClient) -> None:
    refused = app_client.post(
        "/oauth/register", json={"client_name": "Snoop", "scope": "open-data registry:read"}
    )
    assert refused.status_code == 400
    registered = app_client.post(
        "/oauth/register", json={"client_name": "Snoop", "scope": "open-data"}
    ).json()
    token = app_client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry:read"},
        auth=(registered["client_id"], registered["client_secret"]),
    )
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_scope"
