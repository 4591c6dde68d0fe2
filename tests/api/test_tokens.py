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


# attack tokens through the app itself (tests/auth has the full suite against the same pieces) -----


def _forged(tmp_path: Path, attack: str) -> str:
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    from tests.auth.conftest import b64, forge

    key = KeyStore(tmp_path / "keys").signing_keys().current
    now = int(time.time())
    good = {
        "iss": BASE,
        "aud": BASE,
        "sub": "agent-7",
        "client_id": "citygraph-dev",
        "scope": "registry:read",
        "iat": now,
        "exp": now + 300,
        "jti": "x",
    }
    header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}
    if attack == "alg-none":
        return forge({**header, "alg": "none"}, good, signature=b"")
    if attack == "hs256-with-public-key":
        pem = key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(good)}"
        return (
            f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"
        )
    table: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "missing-typ": ({"typ": None}, {}),
        "wrong-audience": ({}, {"aud": "https://elsewhere.example"}),
        "issuer-prefix": ({}, {"iss": BASE + ".evil.example"}),
        "expired": ({}, {"iat": now - 7200, "exp": now - 3600}),
        "embedded-jwk": ({"jwk": key.as_dict(private=False)}, {}),
        "kid-traversal": ({"kid": "../../../../etc/passwd"}, {}),
        "crit": ({"crit": ["exp"]}, {}),
    }
    changes = table[attack]
    head = {k: v for k, v in {**header, **changes[0]}.items() if v is not None}
    return forge(head, {**good, **changes[1]}, key=key, alg="RS256")


ATTACKS = [
    "alg-none",
    "hs256-with-public-key",
    "missing-typ",
    "wrong-audience",
    "issuer-prefix",
    "expired",
    "embedded-jwk",
    "kid-traversal",
    "crit",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_the_app_refuses_attack_tokens_with_a_401(
    app_client: TestClient, tmp_path: Path, attack: str
) -> None:
    token = _forged(tmp_path, attack)
    response = ask(
        app_client, RESIDENTS_Q, token, **{"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=1"}
    )
    assert response.status_code == 401, (attack, response.text)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "data" not in response.json()
    assert token not in response.text


def test_the_control_token_passes_the_same_path(app_client: TestClient, tmp_path: Path) -> None:
    token = person_token(app_client, tmp_path, ["registry:read"])
    response = ask(
        app_client, RESIDENTS_Q, token, **{"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=1"}
    )
    assert response.status_code == 200
    assert response.json()["data"]["residents"]["totalCount"] == len(RESIDENTS)


# exports obey the same tiers ------------------------------------------------------------------


def test_exports_of_personal_data_follow_the_tiers(app_client: TestClient, tmp_path: Path) -> None:
    other = {**RESIDENTS[0], "id": "R-other", "family_name": "Quelquundautre"}
    on_app_loop(app_client, city_of(app_client).repository("residents").upsert, [other])
    anonymous = app_client.get("/export/residents.csv")
    assert anonymous.status_code == 401
    assert "Quelquundautre" not in anonymous.text
    own = str(RESIDENTS[0]["id"])
    citizen = person_token(app_client, tmp_path, ["self"], resident_id=own)
    mine = app_client.get("/export/residents.csv", headers={"Authorization": f"Bearer {citizen}"})
    assert mine.status_code == 200
    lines = mine.text.strip().splitlines()
    assert len(lines) == 2  # the header and the citizen's own row
    assert own in lines[1]
    staff = person_token(app_client, tmp_path, ["registry:read"])
    no_purpose = app_client.get(
        "/export/residents.csv", headers={"Authorization": f"Bearer {staff}"}
    )
    assert no_purpose.status_code == 403
    assert "Quelquundautre" not in no_purpose.text
    assert "Quelquundautre" not in mine.text
