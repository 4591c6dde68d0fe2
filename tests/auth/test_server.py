"""The built-in authorization server over HTTP: token endpoint, registration, metadata, keys."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import update

from auth.clients import list_clients, oauth_client
from auth.server import CityAuthorizationServer
from tests.auth.conftest import AUDIENCE, ISSUER, AuthWorld


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- token endpoint ---------------------------------------------------------------------------


async def test_client_secret_basic_gets_an_at_jwt_with_every_rfc9068_claim(
    world: AuthWorld,
) -> None:
    client = await world.register()
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["scope"] == "open-data"
    token = body["access_token"]
    assert _header(token) == {"alg": "RS256", "typ": "at+jwt", "kid": world.kid}
    claims = _payload(token)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["sub"] == claims["client_id"] == client.record.client_id
    assert claims["scope"] == "open-data"
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 5
    # and it verifies against the published JWKS
    jwks = (await world.http.get("/.well-known/jwks.json")).json()
    jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["RS256"])


async def test_client_secret_post_works_too(world: AuthWorld) -> None:
    client = await world.register()
    response = await world.http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.record.client_id,
            "client_secret": client.secret,
        },
    )
    assert response.status_code == 200, response.text
    assert _payload(response.json()["access_token"])["client_id"] == client.record.client_id


@pytest.mark.parametrize("method", ["basic", "post"])
async def test_a_wrong_secret_is_401_with_a_challenge(world: AuthWorld, method: str) -> None:
    client = await world.register()
    form = {"grant_type": "client_credentials"}
    if method == "basic":
        response = await world.http.post(
            "/oauth/token", data=form, auth=(client.record.client_id, client.secret + "x")
        )
    else:
        form |= {"client_id": client.record.client_id, "client_secret": client.secret + "x"}
        response = await world.http.post("/oauth/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert "access_token" not in response.text


async def test_an_unknown_client_and_no_credentials_are_401(world: AuthWorld) -> None:
    unknown = await world.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("cg_nobody", "secret")
    )
    anonymous = await world.http.post("/oauth/token", data={"grant_type": "client_credentials"})
    for response in (unknown, anonymous):
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"
        assert "www-authenticate" in response.headers


async def test_a_revoked_client_gets_no_token(world: AuthWorld) -> None:
    client = await world.register()
    await world.client_token(client)
    assert await world.registry.revoke(client.record.client_id)
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_scopes_beyond_the_clients_are_invalid_scope(world: AuthWorld) -> None:
    client = await world.register("open-data")
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "open-data registry:read"},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_self_service_clients_never_get_personal_scopes_even_if_stored(
    world: AuthWorld,
) -> None:
    # Defence in depth: were a self-service row to hold a personal scope (a bad migration, a
    # hand edit), the token endpoint still would not grant it.
    client = await world.register("open-data", admin=False)
    async with world.registry.engine.begin() as conn:
        await conn.execute(
            update(oauth_client)
            .where(oauth_client.c.client_id == client.record.client_id)
            .values(scopes="open-data registry:read")
        )
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry:read"},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_admin_granted_personal_scopes_only_when_asked(world: AuthWorld) -> None:
    client = await world.register("open-data registry:read", admin=True)
    default = _payload(await world.client_token(client))
    assert default["scope"] == "open-data"
    asked = _payload(await world.client_token(client, scope="open-data registry:read"))
    assert asked["scope"] == "open-data registry:read"


async def test_the_self_scope_is_never_issued_to_a_client(world: AuthWorld) -> None:
    client = await world.register("open-data")
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "self"},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_a_resource_other_than_ours_is_invalid_target(world: AuthWorld) -> None:
    client = await world.register()
    wrong = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": "https://elsewhere.test"},
        auth=(client.record.client_id, client.secret),
    )
    right = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "resource": AUDIENCE},
        auth=(client.record.client_id, client.secret),
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_target"
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {"grant_type": "client_credentials"}}, "invalid_request"),
        ({"content": b"grant_type=client_credentials&grant_type=password"}, "invalid_request"),
        ({"content": b"grant_type=password&username=a&password=b"}, "unsupported_grant_type"),
        ({"content": b"grant_type=authorization_code&code=x"}, "unsupported_grant_type"),
        ({"content": b"grant_type=client_credentials&x=" + b"y" * 9000}, "invalid_request"),
    ],
    ids=["json-body", "repeated-parameter", "password-grant", "code-grant", "huge-body"],
)
async def test_malformed_or_unsupported_requests_are_400(
    world: AuthWorld, kwargs: dict[str, object], error: str
) -> None:
    client = await world.register()
    headers = {} if "json" in kwargs else {"Content-Type": "application/x-www-form-urlencoded"}
    response = await world.http.post(
        "/oauth/token",
        headers=headers,
        auth=(client.record.client_id, client.secret),
        **kwargs,  # type: ignore[arg-type]
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == error


async def test_two_authentication_methods_at_once_are_refused(world: AuthWorld) -> None:
    client = await world.register()
    response = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": client.secret},
        auth=(client.record.client_id, client.secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_credentials_in_the_url_are_refused(world: AuthWorld) -> None:
    client = await world.register()
    response = await world.http.post(
        f"/oauth/token?client_id={client.record.client_id}&client_secret={client.secret}",
        data={"grant_type": "client_credentials"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_get_on_the_token_endpoint_is_405(world: AuthWorld) -> None:
    assert (await world.http.get("/oauth/token")).status_code == 405


async def test_plain_http_is_refused_unless_on_loopback(world: AuthWorld) -> None:
    client = await world.register()
    transport = world.http._transport  # the same app
    for base, client_addr, expected in [
        ("http://city.example", ("203.0.113.9", 5000), 400),
        ("http://127.0.0.1:8000", ("127.0.0.1", 5000), 200),
        ("http://127.0.0.1:8000", ("203.0.113.9", 5000), 400),
    ]:
        app = transport.app  # type: ignore[attr-defined]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client_addr), base_url=base
        ) as http:
            response = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client.record.client_id, client.secret),
            )
        assert response.status_code == expected, (base, client_addr, response.text)


def test_token_lifetime_is_bounded(world: AuthWorld) -> None:
    for lifetime in (0, 10, 3601, 86400 * 10):
        with pytest.raises(ValueError, match="lifetime"):
            CityAuthorizationServer(
                issuer=ISSUER,
                audience=AUDIENCE,
                keystore=world.keystore,
                clients=world.registry,
                token_lifetime_s=lifetime,
            )


# --- registration -----------------------------------------------------------------------------


async def test_self_service_registration_gives_an_open_data_app_in_one_step(
    world: AuthWorld,
) -> None:
    response = await world.http.post("/oauth/register", json={"client_name": "Vélo Paris"})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["scope"] == "open-data"
    assert body["grant_types"] == ["client_credentials"]
    record = await world.registry.get(body["client_id"])
    assert record is not None
    assert not record.admin_granted
    assert body["client_secret"] not in record.secret_hash
    token = await world.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(body["client_id"], body["client_secret"]),
    )
    assert token.status_code == 200
    echo = await world.echo(token.json()["access_token"])
    assert echo.json()["tier"] == "app"


@pytest.mark.parametrize(
    "document",
    [
        {"client_name": "x", "scope": "open-data registry:read"},
        {"client_name": "x", "scope": "self"},
        {"client_name": "x", "grant_types": ["authorization_code"]},
        {"client_name": "x", "redirect_uris": ["https://evil.test/cb"]},
        {"client_name": "x", "token_endpoint_auth_method": "none"},
        {"client_name": ""},
        {"client_name": "x\u0000y"},
        {},
        ["client_name"],
    ],
)
async def test_registration_refuses_anything_but_an_open_data_confidential_app(
    world: AuthWorld, document: object
) -> None:
    response = await world.http.post("/oauth/register", json=document)
    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_client_metadata", "invalid_redirect_uri"}
    assert await list_clients(engine=world.registry.engine) == []  # nothing was registered


async def test_registration_is_capped_per_hour_with_retry_after(world: AuthWorld) -> None:
    for _ in range(5):  # the test app's cap
        assert (
            await world.http.post("/oauth/register", json={"client_name": "a"})
        ).status_code == 201
    response = await world.http.post("/oauth/register", json={"client_name": "a"})
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    # administrators are not capped
    await world.register()


async def test_registration_needs_json(world: AuthWorld) -> None:
    response = await world.http.post("/oauth/register", data={"client_name": "x"})
    assert response.status_code == 400


# --- metadata and keys ------------------------------------------------------------------------


async def test_authorization_server_metadata(world: AuthWorld) -> None:
    metadata = (await world.http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == f"{ISSUER}/oauth/token"
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["registration_endpoint"] == f"{ISSUER}/oauth/register"
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert "self" not in metadata["scopes_supported"]
    assert "open-data" in metadata["scopes_supported"]
    # not an OpenID provider, and it does not pretend to be one
    assert (await world.http.get("/.well-known/openid-configuration")).status_code == 404


async def test_protected_resource_metadata(world: AuthWorld) -> None:
    metadata = (await world.http.get("/.well-known/oauth-protected-resource")).json()
    assert metadata["resource"] == AUDIENCE
    assert metadata["authorization_servers"] == [ISSUER]
    assert metadata["bearer_methods_supported"] == ["header"]
    assert "registry:read" in metadata["scopes_supported"]


async def test_jwks_publishes_public_keys_only_and_the_previous_one_after_rotation(
    world: AuthWorld,
) -> None:
    before = (await world.http.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in before] == [world.kid]
    assert all("d" not in k and "p" not in k for k in before)
    client = await world.register()
    old_token = await world.client_token(client)
    world.keystore.rotate()
    after = (await world.http.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in after] == [world.kid, before[0]["kid"]]
    assert all("d" not in k for k in after)
    new_token = await world.client_token(client)
    assert _header(new_token)["kid"] == world.kid != before[0]["kid"]
    # tokens signed before the rotation still verify, and new ones too
    assert (await world.echo(old_token)).status_code == 200
    assert (await world.echo(new_token)).status_code == 200
