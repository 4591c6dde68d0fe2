"""authenticate(): the tier comes from the token alone; purposes are validated, never dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers

from auth.clients import ClientRegistry
from auth.http import insufficient_scope_response
from auth.keys import KeyStore
from auth.policy import DenialCode, can_read
from auth.principal import Principal, Purpose, Tier
from auth.purposes import PurposeRegistry
from auth.resolve import authenticate
from auth.scopes import Scope
from auth.server import CityAuthorizationServer, sign_access_token
from auth.tokens import TokenVerifier, TrustedIssuers
from tests.auth.conftest import AUDIENCE, IDP, ISSUER, AuthWorld, FakeIdP, build_app, claims

PURPOSE = "legal-basis=CGCT-L2122-32; case=DOSSIER-2026-001"


# --- tiers ------------------------------------------------------------------------------------


async def test_no_authorization_is_anonymous(world: AuthWorld) -> None:
    body = (await world.echo()).json()
    assert body == {
        "tier": "anonymous",
        "subject": None,
        "client_id": None,
        "scopes": [],
        "purpose": None,
        "resident_id": None,
    }


async def test_a_client_credentials_token_is_an_app(world: AuthWorld) -> None:
    client = await world.register()
    body = (await world.echo(await world.client_token(client))).json()
    assert body["tier"] == "app"
    assert body["subject"] == body["client_id"] == client.record.client_id
    assert body["scopes"] == ["open-data"]


async def test_an_app_with_admin_granted_personal_scopes_stays_an_app(world: AuthWorld) -> None:
    client = await world.register("open-data registry:read", admin=True)
    token = await world.client_token(client, scope="open-data registry:read")
    body = (await world.echo(token)).json()
    assert body["tier"] == "app"  # never staff, whatever it was granted
    assert body["scopes"] == ["open-data", "registry:read"]


async def test_an_app_token_claiming_scopes_never_granted_is_refused(world: AuthWorld) -> None:
    # Granted registry:read, the app got a token; a token claiming tax:read it was never granted
    # (signed by a compromised or misconfigured issuer) is refused, not trimmed.
    client = await world.register("open-data registry:read", admin=True)
    cid = client.record.client_id
    token = world.token(sub=cid, client_id=cid, scope="registry:read tax:read")
    response = await world.echo(token)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("scopes", "tier", "kept"),
    [
        ("registry:read open-data", "staff", ["open-data", "registry:read"]),
        ("social:read tax:read", "staff", ["social:read", "tax:read"]),
        ("openid profile urbanism:read", "staff", ["urbanism:read"]),
        ("audit:read", "auditor", ["audit:read"]),
        ("audit:read registry:read", "auditor", ["audit:read"]),
        ("open-data", "app", ["open-data"]),
        ("openid", "app", []),
    ],
)
async def test_user_tokens_get_the_tier_of_their_scopes(
    world: AuthWorld, scopes: str, tier: str, kept: list[str]
) -> None:
    body = (await world.echo(world.user_token("alice", scopes))).json()
    assert body["tier"] == tier
    assert body["scopes"] == kept
    assert body["subject"] == "alice"
    assert body["client_id"] == "citygraph-dev-cli"


async def test_a_citizen_is_linked_to_a_resident_by_the_token(world: AuthWorld) -> None:
    body = (
        await world.echo(world.user_token("fc-1234", "self registry:read", resident_id="R1"))
    ).json()
    assert body["tier"] == "citizen"
    assert body["resident_id"] == "R1"
    assert body["scopes"] == ["self"]  # a citizen token reads as a citizen, nothing more


@pytest.mark.parametrize("resident_id", ["", "R 1", "R1\n", "x" * 65, 42, None])
async def test_a_citizen_without_a_proper_resident_link_is_refused(
    world: AuthWorld, resident_id: object
) -> None:
    extra = {} if resident_id is None else {"resident_id": resident_id}
    response = await world.echo(world.user_token("fc-1234", "self", **extra))
    assert response.status_code == 401


async def test_gty_client_credentials_makes_an_app_whatever_the_subject(world: AuthWorld) -> None:
    # Auth0-style client-credentials tokens: sub is "<client>@clients", gty says what they are.
    client = await world.register()
    cid = client.record.client_id
    token = world.token(sub=f"{cid}@clients", client_id=cid, gty="client-credentials")
    body = (await world.echo(token)).json()
    assert body["tier"] == "app"
    token = world.token(
        sub=f"{cid}@clients", client_id=cid, gty="client-credentials", scope="registry:read"
    )
    assert (await world.echo(token)).status_code == 401


# --- production-like: the built-in server for apps, an external IdP for people -----------------


@dataclass
class Deployment:
    http: httpx.AsyncClient
    idp: FakeIdP
    world_keystore: KeyStore
    registry: ClientRegistry


@pytest.fixture
async def deployment(engine: AsyncEngine, keystore: KeyStore) -> AsyncIterator[Deployment]:
    idp = FakeIdP()
    registry = ClientRegistry(engine)
    server = CityAuthorizationServer(
        issuer=ISSUER, audience=AUDIENCE, keystore=keystore, clients=registry
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handle)) as idp_http:
        verifier = TrustedIssuers(
            [
                # production: the built-in server signs app tokens only
                TokenVerifier.from_keystore(
                    keystore, issuer=ISSUER, audience=AUDIENCE, accept_user_tokens=False
                ),
                TokenVerifier.from_issuer_url(IDP, audience=AUDIENCE, http=idp_http),
            ]
        )
        app = build_app(
            server=server,
            verifier=verifier,
            registry=registry,
            purposes=PurposeRegistry.default(),
            authorization_servers=[ISSUER, IDP],
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://citygraph.test"
        ) as http:
            yield Deployment(http=http, idp=idp, world_keystore=keystore, registry=registry)


async def _echo(deployment: Deployment, token: str) -> httpx.Response:
    return await deployment.http.get("/echo", headers={"Authorization": f"Bearer {token}"})


async def test_staff_tokens_come_from_the_city_idp(deployment: Deployment) -> None:
    body = (await _echo(deployment, deployment.idp.token(scope="registry:read"))).json()
    assert body["tier"] == "staff"
    assert body["subject"] == "alice"


async def test_the_builtin_server_signs_no_person_in_production(deployment: Deployment) -> None:
    token = sign_access_token(
        keys=deployment.world_keystore.signing_keys(),
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="alice",
        client_id="citygraph-dev-cli",
        scopes=["registry:read"],
        lifetime_s=300,
    )
    response = await _echo(deployment, token)
    assert response.status_code == 401
    assert "not trusted for user tokens" in response.json()["error_description"]


async def test_idp_app_tokens_are_apps_with_open_data_only(deployment: Deployment) -> None:
    idp = deployment.idp
    app_token = idp.token(sub="mobility-app", client_id="mobility-app", scope="open-data openid")
    body = (await _echo(deployment, app_token)).json()
    assert body["tier"] == "app"
    assert body["scopes"] == ["open-data"]
    # the IdP may have given the app a department scope; no administrator of ours granted it
    personal = idp.token(sub="mobility-app", client_id="mobility-app", scope="registry:read")
    assert (await _echo(deployment, personal)).status_code == 401


async def test_an_idp_client_sharing_an_id_with_ours_inherits_nothing(
    deployment: Deployment,
) -> None:
    ours = await deployment.registry.create(
        name="ours", scopes=["open-data", "registry:read"], admin_granted=True
    )
    cid = ours.record.client_id
    token = deployment.idp.token(sub=cid, client_id=cid, scope="registry:read")
    assert (await _echo(deployment, token)).status_code == 401
    await deployment.registry.revoke(cid)
    open_data = deployment.idp.token(sub=cid, client_id=cid, scope="open-data")
    assert (await _echo(deployment, open_data)).status_code == 200  # our revocation is not theirs


async def test_keycloak_style_tokens_name_the_client_in_azp(deployment: Deployment) -> None:
    token = deployment.idp.token(client_id=None, azp="staff-portal", scope="social:read")
    body = (await _echo(deployment, token)).json()
    assert body["tier"] == "staff"
    assert body["client_id"] == "staff-portal"


async def test_both_issuers_are_advertised(deployment: Deployment) -> None:
    metadata = (await deployment.http.get("/.well-known/oauth-protected-resource")).json()
    assert metadata["authorization_servers"] == [ISSUER, IDP]


async def test_a_token_for_the_idp_but_our_audience_missing_is_refused(
    deployment: Deployment,
) -> None:
    token = deployment.idp.token(aud="https://another-api.test", scope="registry:read")
    assert (await _echo(deployment, token)).status_code == 401


async def test_claims_helper_defaults_are_ours() -> None:
    # guards the fixtures themselves: a wrong default would make every negative test vacuous
    assert claims()["iss"] == ISSUER
    assert claims()["aud"] == AUDIENCE


# --- purposes ---------------------------------------------------------------------------------


async def test_a_purpose_header_is_carried(world: AuthWorld) -> None:
    token = world.user_token("alice", "registry:read")
    body = (await world.echo(token, **{"Citygraph-Purpose": PURPOSE})).json()
    assert body["purpose"] == {
        "legal_basis": "CGCT-L2122-32",
        "case_reference": "DOSSIER-2026-001",
        # the registry's scopes for that legal basis, which can_read checks
        "covers": ["registry:read"],
    }


async def test_a_quoted_case_reference_may_hold_separators(world: AuthWorld) -> None:
    token = world.user_token("alice", "registry:read")
    header = 'case="Dossier 12; pièce \\"B\\""; legal-basis=CASF-L133-3'
    response = await world.http.get(
        "/echo",
        headers=[
            (b"authorization", f"Bearer {token}".encode()),
            (b"citygraph-purpose", header.encode()),
        ],
    )
    assert response.json()["purpose"] == {
        "legal_basis": "CASF-L133-3",
        "case_reference": 'Dossier 12; pièce "B"',
        "covers": ["registry:read", "social:read"],
    }


@pytest.mark.parametrize(
    "header",
    [
        "legal-basis=NOT-IN-REGISTRY; case=C-1",
        "legal-basis=cgct-l2122-32; case=C-1",  # codes are exact
        "legal-basis=CGCT-L2122-32",
        "case=C-1",
        "legal-basis=CGCT-L2122-32; case=",
        "legal-basis=CGCT-L2122-32; case=C-1; extra=1",
        "legal-basis=CGCT-L2122-32; legal-basis=CASF-L133-3; case=C-1",
        'legal-basis=CGCT-L2122-32; case="unterminated',
        "legal-basis=CGCT-L2122-32; case=" + "x" * 129,
        "nonsense",
    ],
)
async def test_a_bad_purpose_header_is_400_not_dropped(world: AuthWorld, header: str) -> None:
    token = world.user_token("alice", "registry:read")
    response = await world.echo(token, **{"Citygraph-Purpose": header})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


async def test_a_control_character_in_the_case_reference_is_refused(world: AuthWorld) -> None:
    token = world.user_token("alice", "registry:read")
    response = await world.http.get(
        "/echo",
        headers=[
            (b"authorization", f"Bearer {token}".encode()),
            (b"citygraph-purpose", b'legal-basis=CGCT-L2122-32; case="a\x1b[31mb"'),
        ],
    )
    assert response.status_code == 400


async def test_a_bad_token_is_reported_before_a_bad_purpose(world: AuthWorld) -> None:
    token = world.token(iss="https://evil.test")
    response = await world.echo(token, **{"Citygraph-Purpose": "legal-basis=NOPE; case=1"})
    assert response.status_code == 401


async def test_two_purpose_headers_are_400(world: AuthWorld) -> None:
    token = world.user_token("alice", "registry:read")
    response = await world.http.get(
        "/echo",
        headers=[
            ("Authorization", f"Bearer {token}"),
            ("Citygraph-Purpose", PURPOSE),
            ("Citygraph-Purpose", "legal-basis=CASF-L133-3; case=OTHER"),
        ],
    )
    assert response.status_code == 400


async def test_a_purpose_in_the_token_binds(world: AuthWorld) -> None:
    claim = {"legal_basis": "CASF-L133-3", "case_reference": "AIDE-77"}
    token = world.user_token("alice", "social:read", purpose=claim)
    bound = {**claim, "covers": ["registry:read", "social:read"]}
    assert (await world.echo(token)).json()["purpose"] == bound
    # repeating it in the header is fine
    same = "legal-basis=CASF-L133-3; case=AIDE-77"
    assert (await world.echo(token, **{"Citygraph-Purpose": same})).json()["purpose"] == bound
    # changing it is not
    other = await world.echo(
        token, **{"Citygraph-Purpose": "legal-basis=CASF-L133-3; case=AIDE-78"}
    )
    assert other.status_code == 400
    assert "differs" in other.json()["error_description"]


@pytest.mark.parametrize(
    "claim",
    [
        {"legal_basis": "NOPE", "case_reference": "C"},
        {"legal_basis": "CASF-L133-3"},
        {"legal_basis": "CASF-L133-3", "case_reference": "C", "extra": 1},
        "CASF-L133-3",
        ["CASF-L133-3", "C"],
    ],
)
async def test_a_bad_purpose_claim_invalidates_the_token(world: AuthWorld, claim: object) -> None:
    response = await world.echo(world.user_token("alice", "social:read", purpose=claim))
    assert response.status_code == 401


async def test_an_anonymous_purpose_is_still_checked(world: AuthWorld) -> None:
    body = (await world.echo(**{"Citygraph-Purpose": PURPOSE})).json()
    assert body["tier"] == "anonymous"
    assert body["purpose"]["legal_basis"] == "CGCT-L2122-32"
    bad = await world.echo(**{"Citygraph-Purpose": "legal-basis=NOPE; case=1"})
    assert bad.status_code == 400


async def test_the_registry_says_which_scopes_a_purpose_justifies(world: AuthWorld) -> None:
    purpose = Purpose(legal_basis="CASF-L133-3", case_reference="A")
    assert world.purposes.justifies(purpose, Scope.SOCIAL_READ)
    assert not world.purposes.justifies(purpose, Scope.TAX_READ)
    assert not world.purposes.justifies(Purpose("NOPE", "A"), Scope.SOCIAL_READ)


async def test_an_unreachable_idp_is_503_not_an_invalid_token(deployment: Deployment) -> None:
    deployment.idp.down = True
    response = await _echo(deployment, deployment.idp.token(scope="registry:read"))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"] == "temporarily_unavailable"
    # the built-in server's own tokens are unaffected
    new = await deployment.registry.create(name="x", scopes=["open-data"], admin_granted=False)
    cid = new.record.client_id
    app_token = sign_access_token(
        keys=deployment.world_keystore.signing_keys(),
        issuer=ISSUER,
        audience=AUDIENCE,
        subject=cid,
        client_id=cid,
        scopes=["open-data"],
        lifetime_s=300,
    )
    assert (await _echo(deployment, app_token)).status_code == 200


def test_insufficient_scope_is_403_with_a_challenge() -> None:
    response = insufficient_scope_response(["registry:read"], resource_metadata="https://x/m")
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="registry:read"' in challenge


# --- what can_read makes of the principals we build --------------------------------------------


async def _principal(world: AuthWorld, token: str, purpose: str | None = None) -> Principal:
    headers = Headers(
        {"authorization": f"Bearer {token}"} | ({"citygraph-purpose": purpose} if purpose else {})
    )
    return await authenticate(
        headers, verifier=world_verifier(world), clients=world.registry, purposes=world.purposes
    )


def world_verifier(world: AuthWorld) -> TokenVerifier:
    return TokenVerifier.from_keystore(
        world.keystore, issuer=ISSUER, audience=AUDIENCE, accept_user_tokens=True
    )


async def test_staff_read_with_a_covering_purpose_and_not_without(world: AuthWorld) -> None:
    token = world.user_token("agent", "registry:read")
    with_purpose = await _principal(world, token, PURPOSE)
    assert can_read(with_purpose, Scope.REGISTRY_READ.value) is None
    denied = can_read(await _principal(world, token), Scope.REGISTRY_READ.value)
    assert denied is not None
    assert denied.code is DenialCode.PURPOSE_REQUIRED
    # a legal basis for tax does not open social-services cases
    tax = await _principal(
        world, world.user_token("agent", "social:read"), "legal-basis=CGI-1380; case=T"
    )
    denied = can_read(tax, Scope.SOCIAL_READ.value)
    assert denied is not None
    assert denied.code is DenialCode.FORBIDDEN


async def test_an_admin_granted_app_reads_its_scope_with_a_purpose_only(world: AuthWorld) -> None:
    # a department's back office, registered for the scope by an administrator
    client = await world.register("open-data registry:read", admin=True)
    token = await world.client_token(client, scope="open-data registry:read")
    app = await _principal(world, token, PURPOSE)
    assert app.tier is Tier.APP
    assert can_read(app, Scope.REGISTRY_READ.value) is None
    bare = await _principal(world, token)
    denied = can_read(bare, Scope.REGISTRY_READ.value)
    assert denied is not None
    assert denied.code is DenialCode.PURPOSE_REQUIRED
    assert can_read(app, Scope.TAX_READ.value) is not None


async def test_a_citizen_reads_own_rows_only(world: AuthWorld) -> None:
    citizen = await _principal(world, world.user_token("fc-1", "self", resident_id="R1"))
    assert can_read(citizen, Scope.REGISTRY_READ.value, owner="R1") is None
    assert can_read(citizen, Scope.REGISTRY_READ.value, owner="R2") is not None
