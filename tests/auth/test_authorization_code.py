"""The demo's authorization-code grant: PKCE S256 required, exact redirect URI, codes used once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from authlib.oauth2 import OAuth2Error
from starlette.datastructures import Headers

from auth.authorization_code import DemoResident, PagesClient
from auth.clients import ClientRegistry
from auth.keys import KeyStore
from auth.relying_party import challenge_of
from auth.server import CityAuthorizationServer, StarletteOAuth2Request
from storage.engines import make_engine

CALLBACK = "https://city.example/my-data/callback"
VERIFIER = "v" * 50


@pytest.fixture
def server(tmp_path: Path) -> CityAuthorizationServer:
    return CityAuthorizationServer(
        issuer="https://city.example",
        audience="https://city.example",
        keystore=KeyStore(tmp_path / "keys"),
        clients=ClientRegistry(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")),
        pages_client=PagesClient("citygraph-pages", CALLBACK),
    )


def request(params: dict[str, str]) -> StarletteOAuth2Request:
    return StarletteOAuth2Request(
        method="GET", uri="https://city.example/oauth/authorize", headers=Headers(),
        form=params, clients={},
    )  # fmt: skip


def authorize(**overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "citygraph-pages",
        "redirect_uri": CALLBACK,
        "scope": "self open-data",
        "state": "st",
        "code_challenge": challenge_of(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"code_challenge": ""},
        {"code_challenge_method": "plain"},
        {"redirect_uri": "https://evil.example/cb"},
        {"client_id": "someone-else"},
        {"scope": "registry:read"},
    ],
)
def test_a_bad_authorization_request_is_refused_before_any_redirect(
    server: CityAuthorizationServer, bad: dict[str, str]
) -> None:
    with pytest.raises(OAuth2Error):
        server.get_consent_grant(request(authorize(**bad)))


def token_request(
    server: CityAuthorizationServer, code: str, verifier: str
) -> tuple[int, dict[str, Any]]:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
            "client_id": "citygraph-pages", "code_verifier": verifier}  # fmt: skip
    oauth = StarletteOAuth2Request(
        method="POST", uri="https://city.example/oauth/token", headers=Headers(), form=form,
        clients={"citygraph-pages": server.pages_client},  # type: ignore[dict-item]
    )  # fmt: skip
    response: Any = server.create_token_response(oauth)
    import json

    return response.status_code, json.loads(response.body)


def code_for(server: CityAuthorizationServer, resident: str) -> str:
    response = server.authorize(request(authorize()), DemoResident(resident))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    assert "state=st" in location
    return location.split("code=")[1].split("&")[0]


def test_a_code_with_the_right_verifier_is_a_citizen_token_once(
    server: CityAuthorizationServer,
) -> None:
    code = code_for(server, "R0000042")
    status, body = token_request(server, code, VERIFIER)
    assert status == 200, body
    from joserfc import jwt

    claims = jwt.decode(body["access_token"], server.keystore.signing_keys().current).claims
    assert claims["resident_id"] == "R0000042"
    assert claims["sub"] == "demo-resident:R0000042"
    assert set(claims["scope"].split()) == {"self", "open-data"}
    again, _ = token_request(server, code, VERIFIER)
    assert again == 400  # used once


def test_a_code_with_another_verifier_is_refused(server: CityAuthorizationServer) -> None:
    code = code_for(server, "R0000042")
    status, body = token_request(server, code, "w" * 50)
    assert status == 400
    assert body["error"] == "invalid_grant"
