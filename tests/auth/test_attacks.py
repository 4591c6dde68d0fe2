"""Attack tokens against the real pieces (keys on disk, verifier, registry, `authenticate`) over HTTP.

Every forged token must be a 401 with `WWW-Authenticate: Bearer ... error="invalid_token"`, never a
downgrade to anonymous, and never an answer that quotes the token back. A correctly signed token of
a registered client passes the same path (the control), so a refusal is the check's doing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from auth.keys import SigningKey, generate_key
from tests.auth.conftest import ISSUER, AuthWorld, b64, claims, forge

ATTACKER = generate_key("RS256")
ATTACKER_EC = generate_key("ES256")

Attack = Callable[[AuthWorld, str], str]
"""(world, client_id of a registered app) -> token"""


def _hs256_with(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def _public_pem(key: SigningKey) -> bytes:
    return key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _app(world: AuthWorld, app_id: str, /, **overrides: Any) -> dict[str, Any]:
    """App-token claims for this client; None removes a claim."""
    return claims(**({"sub": app_id, "client_id": app_id} | overrides))


def _alg_none(variant: str, signature: bytes) -> Attack:
    def attack(world: AuthWorld, client_id: str) -> str:
        return forge(world.header(alg=variant), _app(world, client_id), signature=signature)

    return attack


ATTACKS: dict[str, Attack] = {
    # --- algorithm
    **{
        f"alg-{variant}-{kind}": _alg_none(variant, signature)
        for variant in ("none", "None", "NONE", "nOnE")
        for kind, signature in (("blank-signature", b""), ("junk-signature", b"x"))
    },
    "hs256-with-public-key-pem": lambda w, c: _hs256_with(
        _public_pem(w.key), w.header(alg="HS256"), _app(w, c)
    ),
    "hs256-with-public-jwk-json": lambda w, c: _hs256_with(
        json.dumps(w.keystore.signing_keys().jwks()["keys"][0]).encode(),
        w.header(alg="HS256"),
        _app(w, c),
    ),
    "rs512-not-allowed": lambda w, c: forge(
        w.header(alg="RS512"), _app(w, c), signature=b"x" * 256
    ),
    "rs256-header-but-ps256-signature": lambda w, c: forge(
        w.header(alg="RS256"), _app(w, c), key=w.key, alg="PS256"
    ),
    "es256-claimed-for-an-rsa-kid": lambda w, c: forge(
        w.header(alg="ES256"), _app(w, c), key=ATTACKER_EC
    ),
    # --- keys chosen by the token
    # (an EC key: small enough that the header size cap is not what stops it)
    "embedded-jwk": lambda w, c: forge(
        w.header(alg="ES256", jwk=dict(ATTACKER_EC.as_dict(private=False))),
        _app(w, c),
        key=ATTACKER_EC,
    ),
    "embedded-jwk-without-kid": lambda w, c: forge(
        w.header(alg="ES256", kid=None, jwk=dict(ATTACKER_EC.as_dict(private=False))),
        _app(w, c),
        key=ATTACKER_EC,
    ),
    "embedded-rsa-jwk": lambda w, c: forge(
        w.header(jwk=dict(ATTACKER.as_dict(private=False))), _app(w, c), key=ATTACKER
    ),
    "jku": lambda w, c: forge(
        w.header(jku="https://evil.test/jwks.json", kid=ATTACKER.kid), _app(w, c), key=ATTACKER
    ),
    "x5u": lambda w, c: forge(w.header(x5u="https://evil.test/cert.pem"), _app(w, c), key=ATTACKER),
    "x5c": lambda w, c: forge(w.header(x5c=["MIIBIjANBgkq"]), _app(w, c), key=ATTACKER),
    "attackers-key-with-our-kid": lambda w, c: forge(w.header(), _app(w, c), key=ATTACKER),
    "attackers-key-with-its-own-kid": lambda w, c: forge(
        w.header(kid=ATTACKER.kid), _app(w, c), key=ATTACKER
    ),
    "no-kid-and-attackers-key": lambda w, c: forge(w.header(kid=None), _app(w, c), key=ATTACKER),
    "kid-path-traversal": lambda w, c: forge(
        w.header(kid="../../../../../../dev/null"), _app(w, c), key=w.key
    ),
    "kid-absolute-path": lambda w, c: forge(w.header(kid="/etc/passwd"), _app(w, c), key=w.key),
    "kid-sql-injection": lambda w, c: forge(w.header(kid="x' OR '1'='1"), _app(w, c), key=w.key),
    "kid-not-a-string": lambda w, c: forge(w.header(kid=["a"]), _app(w, c), key=w.key),
    # --- time
    "expired": lambda w, c: w.sign(_app(w, c, exp=int(time.time()) - 120)),
    "not-yet-valid": lambda w, c: w.sign(_app(w, c, nbf=int(time.time()) + 120)),
    "issued-in-the-future": lambda w, c: w.sign(_app(w, c, iat=int(time.time()) + 600)),
    "no-exp": lambda w, c: w.sign(_app(w, c, exp=None)),
    "no-iat": lambda w, c: w.sign(_app(w, c, iat=None)),
    "exp-as-string": lambda w, c: w.sign(_app(w, c, exp=str(int(time.time()) + 300))),
    "exp-as-boolean": lambda w, c: w.sign(_app(w, c, exp=True)),
    # --- issuer and audience
    "wrong-issuer": lambda w, c: w.sign(_app(w, c, iss="https://evil.test")),
    "issuer-prefix-trick": lambda w, c: w.sign(_app(w, c, iss=ISSUER + ".evil.test")),
    "issuer-with-trailing-slash": lambda w, c: w.sign(_app(w, c, iss=ISSUER + "/")),
    "issuer-with-userinfo": lambda w, c: w.token(
        **_app(w, c, iss="https://citygraph.test@evil.test")
    ),
    "issuer-upper-case": lambda w, c: w.sign(_app(w, c, iss=ISSUER.upper())),
    "no-issuer": lambda w, c: w.sign(_app(w, c, iss=None)),
    "wrong-audience": lambda w, c: w.sign(_app(w, c, aud="https://other-api.test")),
    "audience-list-without-ours": lambda w, c: w.token(
        **_app(w, c, aud=["https://a.test", "https://b.test"])
    ),
    "audience-prefix": lambda w, c: w.sign(_app(w, c, aud=ISSUER + ".evil.test")),
    "no-audience": lambda w, c: w.sign(_app(w, c, aud=None)),
    # --- token type
    "missing-typ": lambda w, c: forge(w.header(typ=None), _app(w, c), key=w.key),
    "typ-jwt-an-id-token": lambda w, c: forge(w.header(typ="JWT"), _app(w, c), key=w.key),
    "typ-dpop": lambda w, c: forge(w.header(typ="dpop+jwt"), _app(w, c), key=w.key),
    # --- header tricks
    "crit-header": lambda w, c: forge(
        w.header(crit=["http://example.invalid/ext"], **{"http://example.invalid/ext": True}),
        _app(w, c),
        key=w.key,
    ),
    "crit-naming-a-known-parameter": lambda w, c: forge(
        w.header(crit=["kid"]), _app(w, c), key=w.key
    ),
    "b64-false": lambda w, c: forge(w.header(b64=False, crit=["b64"]), _app(w, c), key=w.key),
    "cty-nested-jwt": lambda w, c: forge(w.header(cty="JWT"), _app(w, c), key=w.key),
    "unknown-header-parameter": lambda w, c: forge(w.header(foo="bar"), _app(w, c), key=w.key),
    "huge-header": lambda w, c: forge(w.header(x5t="A" * 4000), _app(w, c), key=w.key),
    "huge-token": lambda w, c: w.sign(_app(w, c, padding="x" * 9000)),
    "duplicate-alg-in-header": lambda w, c: _raw(
        '{"alg":"RS256","typ":"at+jwt","kid":"%s","alg":"none"}' % w.kid,  # noqa: UP031
        _app(w, c),
        w,
    ),
    "duplicate-iss-in-payload": lambda w, c: _raw_payload(
        w, json.dumps(_app(w, c))[:-1] + ', "iss": "https://evil.test"}'
    ),
    "header-not-an-object": lambda w, c: f"{b64(b'[1]')}.{b64(_app(w, c))}.{b64(b'sig')}",
    # --- serialization
    "unsigned-json-serialization": lambda w, c: json.dumps(
        {"payload": b64(_app(w, c)), "signatures": []}
    ),
    "flattened-json-with-unprotected-header": lambda w, c: json.dumps(
        {"payload": b64(_app(w, c)), "header": {"alg": "none"}, "signature": ""}
    ),
    "two-segments": lambda w, c: ".".join(w.sign(_app(w, c)).split(".")[:2]),
    "four-segments": lambda w, c: w.sign(_app(w, c)) + ".e30",
    "jwe-five-segments": lambda w, c: ".".join(
        [b64({"alg": "dir", "enc": "A128GCM"})] + ["e30"] * 4
    ),
    # --- integrity
    "tampered-scope": lambda w, c: _tamper(w.sign(_app(w, c)), scope="open-data registry:read"),
    "tampered-subject": lambda w, c: _tamper(w.sign(_app(w, c)), sub="someone-else"),
    "truncated-signature": lambda w, c: w.sign(_app(w, c))[:-10],
    "not-a-jwt-at-all": lambda w, c: "abcdef",
    # --- semantics
    "unregistered-client-of-ours": lambda w, c: w.sign(_app(w, "cg_never_registered")),
    "app-token-claiming-registry-scope": lambda w, c: w.token(
        **_app(w, c, scope="open-data registry:read")
    ),
    "app-token-claiming-self": lambda w, c: w.sign(_app(w, c, scope="self", resident_id="R1")),
    "no-client-id": lambda w, c: w.sign(_app(w, c, client_id=None, sub=None)),
    "citizen-without-resident-link": lambda w, c: w.user_token("alice", "self"),
    "purpose-with-unknown-legal-basis": lambda w, c: w.user_token(
        "alice",
        "registry:read",
        purpose={"legal_basis": "MADE-UP-1", "case_reference": "C-1"},
    ),
}


# Why each attack must fail: a refusal for another reason would hide a check that does not work.
NOT_COMPACT = "not a signed JWT in compact serialization"
ALG = "algorithm is not allowed"
HEADER_PARAMS = "header has parameters we do not accept"
SIGNATURE = "signature does not verify"
NO_KEY = "no key of the issuer matches"
ISSUER_ = "issued by another issuer"
AUDIENCE_ = "meant for another audience"
TYP = "not an access token"
KID = "kid is malformed"
MALFORMED_BEARER = "bearer token is missing or malformed"

REASONS: dict[str, str] = {
    **{f"alg-{v}-blank-signature": NOT_COMPACT for v in ("none", "None", "NONE", "nOnE")},
    **{f"alg-{v}-junk-signature": ALG for v in ("none", "None", "NONE", "nOnE")},
    "hs256-with-public-key-pem": ALG,
    "hs256-with-public-jwk-json": ALG,
    "rs512-not-allowed": ALG,
    "rs256-header-but-ps256-signature": SIGNATURE,
    "es256-claimed-for-an-rsa-kid": NO_KEY,
    "embedded-jwk": HEADER_PARAMS + " (jwk)",
    "embedded-jwk-without-kid": HEADER_PARAMS + " (jwk)",
    "embedded-rsa-jwk": "header is too large",
    "jku": HEADER_PARAMS + " (jku)",
    "x5u": HEADER_PARAMS + " (x5u)",
    "x5c": HEADER_PARAMS + " (x5c)",
    "attackers-key-with-our-kid": SIGNATURE,
    "attackers-key-with-its-own-kid": NO_KEY,
    "no-kid-and-attackers-key": SIGNATURE,
    "kid-path-traversal": KID,
    "kid-absolute-path": KID,
    "kid-sql-injection": KID,
    "kid-not-a-string": KID,
    "expired": "has expired",
    "not-yet-valid": "not valid yet",
    "issued-in-the-future": "issued in the future",
    "no-exp": "no exp claim",
    "no-iat": "no iat claim",
    "exp-as-string": "exp claim is not a number",
    "exp-as-boolean": "exp claim is not a number",
    "wrong-issuer": ISSUER_,
    "issuer-prefix-trick": ISSUER_,
    "issuer-with-trailing-slash": ISSUER_,
    "issuer-with-userinfo": ISSUER_,
    "issuer-upper-case": ISSUER_,
    "no-issuer": ISSUER_,
    "wrong-audience": AUDIENCE_,
    "audience-list-without-ours": AUDIENCE_,
    "audience-prefix": AUDIENCE_,
    "no-audience": AUDIENCE_,
    "missing-typ": TYP,
    "typ-jwt-an-id-token": TYP,
    "typ-dpop": TYP,
    "crit-header": HEADER_PARAMS + " (crit)",
    "crit-naming-a-known-parameter": HEADER_PARAMS + " (crit)",
    "b64-false": HEADER_PARAMS + " (b64, crit)",
    "cty-nested-jwt": HEADER_PARAMS + " (cty)",
    "unknown-header-parameter": HEADER_PARAMS,
    "huge-header": "header is too large",
    "huge-token": "token is too large",
    "duplicate-alg-in-header": "header is not a JSON object without duplicate members",
    "duplicate-iss-in-payload": "payload is not a JSON object without duplicate members",
    "header-not-an-object": "header is not a JSON object",
    # JSON serializations never get past the bearer syntax (RFC 6750 b64token); the verifier's
    # own refusal of them is tested in test_tokens.py.
    "unsigned-json-serialization": MALFORMED_BEARER,
    "flattened-json-with-unprotected-header": MALFORMED_BEARER,
    "two-segments": NOT_COMPACT,
    "four-segments": NOT_COMPACT,
    "jwe-five-segments": NOT_COMPACT,
    "tampered-scope": SIGNATURE,
    "tampered-subject": SIGNATURE,
    "truncated-signature": SIGNATURE,
    "not-a-jwt-at-all": NOT_COMPACT,
    "unregistered-client-of-ours": "client of this token is not registered",
    "app-token-claiming-registry-scope": "personal scopes that no administrator granted",
    "app-token-claiming-self": "cannot act for a resident",
    "no-client-id": "names no client",
    "citizen-without-resident-link": "must name its resident_id",
    "purpose-with-unknown-legal-basis": "unknown legal basis",
}


def test_every_attack_says_why_it_must_fail() -> None:
    assert set(REASONS) == set(ATTACKS)


def _raw(header_json: str, payload: dict[str, Any], world: AuthWorld) -> str:
    from tests.auth.conftest import sign_with

    signing_input = f"{b64(header_json)}.{b64(payload)}"
    return f"{signing_input}.{b64(sign_with(world.key, 'RS256', signing_input.encode()))}"


def _raw_payload(world: AuthWorld, payload_json: str) -> str:
    from tests.auth.conftest import sign_with

    signing_input = f"{b64(world.header())}.{b64(payload_json)}"
    return f"{signing_input}.{b64(sign_with(world.key, 'RS256', signing_input.encode()))}"


def _tamper(token: str, **changes: Any) -> str:
    import base64

    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    return f"{header}.{b64(data)}.{signature}"


@pytest.fixture
async def client_id(world: AuthWorld) -> str:
    return (await world.register("open-data")).record.client_id


async def test_the_control_token_passes(world: AuthWorld, client_id: str) -> None:
    response = await world.echo(world.sign(_app(world, client_id)))
    assert response.status_code == 200, response.text
    assert response.json()["tier"] == "app"


async def test_expiry_within_the_leeway_still_passes(world: AuthWorld, client_id: str) -> None:
    token = world.sign(_app(world, client_id, exp=int(time.time()) - 10))
    assert (await world.echo(token)).status_code == 200


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_attack_token_is_refused_with_401(
    world: AuthWorld, client_id: str, name: str
) -> None:
    token = ATTACKS[name](world, client_id)
    response = await world.http.get("/echo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="citygraph"')
    assert 'error="invalid_token"' in challenge
    assert "resource_metadata=" in challenge
    assert response.json()["error"] == "invalid_token"
    assert REASONS[name] in response.json()["error_description"]
    for part in token.split("."):
        if len(part) > 8:  # never quoted back, not even a piece
            assert part not in response.text
            assert part not in challenge


async def test_a_token_of_a_revoked_client_is_refused(world: AuthWorld) -> None:
    client = await world.register()
    token = await world.client_token(client)
    assert (await world.echo(token)).status_code == 200
    await world.registry.revoke(client.record.client_id)
    response = await world.echo(token)
    assert response.status_code == 401
    assert "revoked" in response.headers["www-authenticate"]


async def test_a_revocation_by_another_process_is_seen_after_the_cache_ttl(
    world: AuthWorld,
) -> None:
    from auth.clients import revoke_client

    client = await world.register()
    token = await world.client_token(client)
    assert (await world.echo(token)).status_code == 200
    await revoke_client(engine=world.registry.engine, client_id=client.record.client_id)
    world.registry.cache_ttl_s = 0  # as if the TTL had passed
    assert (await world.echo(token)).status_code == 401


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic Y2dfYXBwOnNlY3JldA==",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer <script>",
        "Token abc.def.ghi",
        "bearer",
    ],
)
async def test_a_malformed_authorization_header_is_401_not_anonymous(
    world: AuthWorld, authorization: str
) -> None:
    response = await world.http.get("/echo", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_two_authorization_headers_are_400(world: AuthWorld, client_id: str) -> None:
    token = world.sign(_app(world, client_id))
    response = await world.http.get(
        "/echo",
        headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
    )
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
