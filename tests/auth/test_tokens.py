"""TokenVerifier on its own: discovery, the JWKS cache, rotation, bounded refetch, a slow or lying IdP.

The external issuer here is a small fake IdP behind httpx.MockTransport (its metadata and JWKS are
what the test says); the built-in server, where used, is the real one through ASGITransport.
"""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from typing import Any

import httpx
import pytest
from joserfc.errors import SecurityWarning
from joserfc.jwk import RSAKey

from auth.issuer_keys import IssuerUnavailable, RemoteKeySource, parse_jwks
from auth.keys import generate_key
from auth.tokens import TokenRejected, TokenVerifier, TrustedIssuers
from tests.auth.conftest import AUDIENCE, IDP, ISSUER, AuthWorld, FakeIdP, b64, claims, forge


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
async def http(idp: FakeIdP) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handle)) as client:
        yield client


def verifier_for(idp: FakeIdP, http: httpx.AsyncClient, **options: Any) -> TokenVerifier:
    return TokenVerifier.from_issuer_url(idp.issuer, audience=AUDIENCE, http=http, **options)


async def test_discovery_then_jwks_then_a_verified_token(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    verifier = verifier_for(idp, http)
    access = await verifier.verify(idp.token(scope="registry:read"))
    assert access.issuer == IDP
    assert access.subject == "alice"
    assert access.client_id == "portal"
    assert access.scopes == {"registry:read"}
    assert not access.builtin
    assert idp.requests == [
        "/realms/city/.well-known/openid-configuration",
        "/realms/city/protocol/openid-connect/certs",
    ]
    # cached: a second token costs no request
    await verifier.verify(idp.token())
    assert len(idp.requests) == 2


async def test_rfc8414_discovery_against_the_builtin_server(world: AuthWorld) -> None:
    # The built-in server is no OpenID provider: discovery falls back to RFC 8414 metadata.
    client = await world.register()
    token = await world.client_token(client)
    transport = world.http._transport
    async with httpx.AsyncClient(transport=transport) as http:
        verifier = TokenVerifier.from_issuer_url(ISSUER, audience=AUDIENCE, http=http)
        access = await verifier.verify(token)
    assert access.client_id == client.record.client_id


async def test_metadata_naming_another_issuer_is_refused(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    idp.metadata_issuer = "https://evil.test"
    with pytest.raises(IssuerUnavailable, match="another issuer"):
        await verifier_for(idp, http).verify(idp.token())


async def test_a_plain_http_jwks_uri_off_loopback_is_refused(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    idp.jwks_uri = "http://idp.test/certs"
    with pytest.raises(IssuerUnavailable, match="jwks_uri"):
        await verifier_for(idp, http).verify(idp.token())


@pytest.mark.parametrize(
    "issuer", ["http://idp.test", "ftp://idp.test", "https://user:pw@idp.test", "idp.test"]
)
def test_issuer_urls_must_be_https_or_loopback(issuer: str) -> None:
    with pytest.raises(ValueError, match="https"):
        RemoteKeySource(issuer, http=httpx.AsyncClient())


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"]
)
def test_plain_http_is_fine_on_loopback(issuer: str) -> None:
    RemoteKeySource(issuer, http=httpx.AsyncClient())


def test_plain_http_reaches_only_the_named_private_hosts() -> None:
    named = frozenset({"citygraph"})
    RemoteKeySource("http://citygraph:8000", http=httpx.AsyncClient(), http_hosts=named)
    for elsewhere in ("http://citygraph.example.org", "http://idp.test", "http://user@citygraph"):
        with pytest.raises(ValueError, match="CITYGRAPH_ISSUER_HTTP_HOSTS"):
            RemoteKeySource(elsewhere, http=httpx.AsyncClient(), http_hosts=named)


async def test_rotated_keys_are_picked_up_on_an_unknown_kid(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    verifier = verifier_for(idp, http, monotonic=clock, min_refetch_interval_s=30)
    old_token = idp.token()
    await verifier.verify(old_token)
    clock.now += 31
    idp.rotate()
    await verifier.verify(idp.token())  # new kid: refetched
    await verifier.verify(old_token)  # the previous key is still published
    assert idp.jwks_fetches() == 2


async def test_unknown_kids_refetch_at_a_bounded_rate(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    verifier = verifier_for(idp, http, monotonic=clock, min_refetch_interval_s=30)
    await verifier.verify(idp.token())
    stranger = generate_key("RS256")
    forged = [
        forge({"alg": "RS256", "typ": "at+jwt", "kid": f"kid-{i}"}, claims(iss=IDP), key=stranger)
        for i in range(50)
    ]
    clock.now += 31
    for token in forged:
        with pytest.raises(TokenRejected, match="no key"):
            await verifier.verify(token)
    assert idp.jwks_fetches() == 2  # the first, and one refetch for fifty unknown kids
    clock.now += 31
    with pytest.raises(TokenRejected):
        await verifier.verify(forged[0])
    assert idp.jwks_fetches() == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    idp.delay_s = 0.05
    verifier = verifier_for(idp, http)
    results = await asyncio.gather(*(verifier.verify(idp.token()) for _ in range(20)))
    assert len(results) == 20
    assert idp.jwks_fetches() == 1


async def test_keys_expire_from_the_cache(idp: FakeIdP, http: httpx.AsyncClient) -> None:
    clock = Clock()
    verifier = verifier_for(idp, http, monotonic=clock, keys_ttl_s=600)
    await verifier.verify(idp.token())
    clock.now += 601
    await verifier.verify(idp.token())
    assert idp.jwks_fetches() == 2


async def test_an_idp_outage_keeps_the_cached_keys(idp: FakeIdP, http: httpx.AsyncClient) -> None:
    clock = Clock()
    verifier = verifier_for(idp, http, monotonic=clock, keys_ttl_s=600)
    await verifier.verify(idp.token())
    idp.down = True
    clock.now += 601
    await verifier.verify(idp.token())  # stale but trusted a moment ago


async def test_without_any_keys_the_issuer_is_unavailable_not_the_token_invalid(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    idp.down = True
    verifier = verifier_for(idp, http)
    for _ in range(3):
        with pytest.raises(IssuerUnavailable):
            await verifier.verify(idp.token())
    assert len(idp.requests) == 2  # both discovery URLs once; then no retry storm


async def test_a_slow_idp_fails_fast(idp: FakeIdP, http: httpx.AsyncClient) -> None:
    idp.delay_s = 5
    verifier = TokenVerifier.from_issuer_url(IDP, audience=AUDIENCE, http=http, timeout_s=0.1)
    started = time.monotonic()
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(idp.token())
    assert time.monotonic() - started < 1.5


async def test_redirects_are_not_followed() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": IDP, "jwks_uri": f"{IDP}/certs"})
        return httpx.Response(302, headers={"Location": "https://evil.test/jwks"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(IssuerUnavailable, match="302"):
            await TokenVerifier.from_issuer_url(IDP, audience=AUDIENCE, http=http).verify(
                FakeIdP().token()
            )


async def test_an_oversized_jwks_is_refused() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": IDP, "jwks_uri": f"{IDP}/certs"})
        return httpx.Response(200, content=b"{" + b" " * (300 * 1024) + b"}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(IssuerUnavailable, match="more than"):
            await TokenVerifier.from_issuer_url(IDP, audience=AUDIENCE, http=http).verify(
                FakeIdP().token()
            )


async def test_a_symmetric_key_in_the_jwks_is_never_used(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    secret = b"published-by-mistake"
    idp.extra_jwks = [{"kty": "oct", "k": b64(secret), "kid": "shared", "alg": "HS256"}]
    import hashlib
    import hmac

    header = {"alg": "HS256", "typ": "at+jwt", "kid": "shared"}
    signing_input = f"{b64(header)}.{b64(claims(iss=IDP))}"
    token = (
        f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
    )
    with pytest.raises(TokenRejected, match="algorithm"):
        await verifier_for(idp, http).verify(token)
    # and even with an allowed alg in the header, an oct key is no candidate
    rs_header = {"alg": "RS256", "typ": "at+jwt", "kid": "shared"}
    with pytest.raises(TokenRejected, match="no key"):
        await verifier_for(idp, http).verify(
            forge(rs_header, claims(iss=IDP), signature=b"x" * 256)
        )


def test_parse_jwks_keeps_public_parameters_and_strong_keys_only() -> None:
    strong = generate_key("RS256")
    ec = generate_key("ES256")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # the weakness is the point
        weak = RSAKey.generate_key(1024, parameters={"use": "sig"}, auto_kid=True)
    keys = parse_jwks(
        {
            "keys": [
                dict(strong.as_dict(private=True)),  # private parts published by mistake
                dict(ec.as_dict(private=False)),
                dict(weak.as_dict(private=False)),
                {**dict(generate_key("RS256").as_dict(private=False)), "use": "enc"},
                {"kty": "OKP", "crv": "Ed25519", "x": "abc"},
                {"kty": "RSA", "n": "not-base64!", "e": "AQAB"},
                "not a key",
            ]
        }
    )
    assert [k.kid for k in keys] == [strong.kid, ec.kid]
    assert not any(k.is_private for k in keys)


async def test_the_verifier_itself_refuses_json_serialization(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    unsigned = json.dumps({"payload": b64(claims(iss=IDP)), "signatures": []})
    with pytest.raises(TokenRejected, match="compact serialization"):
        await verifier_for(idp, http).verify(unsigned)
    assert idp.requests == []  # refused before any key was fetched


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
async def test_typ_is_compared_as_a_media_type(
    idp: FakeIdP, http: httpx.AsyncClient, typ: str
) -> None:
    header = {"alg": "RS256", "typ": typ, "kid": idp.key.kid}
    token = forge(header, claims(iss=IDP, sub="alice", client_id="portal"), key=idp.key)
    await verifier_for(idp, http).verify(token)


@pytest.mark.parametrize("typ", ["jwt", "at+jwt2", "at+jwt ", "application/jwt", "text/at+jwt"])
async def test_other_types_are_refused(idp: FakeIdP, http: httpx.AsyncClient, typ: str) -> None:
    header = {"alg": "RS256", "typ": typ, "kid": idp.key.kid}
    with pytest.raises(TokenRejected, match="typ"):
        await verifier_for(idp, http).verify(forge(header, claims(iss=IDP), key=idp.key))


async def test_es256_and_ps256_are_accepted(http: httpx.AsyncClient, idp: FakeIdP) -> None:
    ec = generate_key("ES256")
    idp.keys = [idp.key, ec]
    verifier = verifier_for(idp, http)
    await verifier.verify(
        forge({"alg": "ES256", "typ": "at+jwt", "kid": ec.kid}, claims(iss=IDP), key=ec)
    )
    rsa_no_alg = {**dict(idp.key.as_dict(private=False))}
    assert rsa_no_alg["alg"] == "RS256"  # a key that names its alg is used for that alg only
    with pytest.raises(TokenRejected, match="no key"):
        await verifier.verify(
            forge(
                {"alg": "PS256", "typ": "at+jwt", "kid": idp.key.kid}, claims(iss=IDP), key=idp.key
            )
        )


async def test_a_token_without_kid_needs_an_issuer_with_a_single_key(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    header = {"alg": "RS256", "typ": "at+jwt"}
    await verifier_for(idp, http).verify(forge(header, claims(iss=IDP), key=idp.key))
    idp.rotate()
    with pytest.raises(TokenRejected, match="no key"):
        await verifier_for(idp, http).verify(forge(header, claims(iss=IDP), key=idp.key))


@pytest.mark.parametrize("leeway", [-1, 61, 3600])
def test_leeway_is_bounded(leeway: float) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(
            issuer=IDP,
            audience=AUDIENCE,
            keys=RemoteKeySource(IDP, http=httpx.AsyncClient()),
            leeway_s=leeway,
        )


def test_only_asymmetric_algorithms_can_be_allowed() -> None:
    with pytest.raises(ValueError, match="algorithms"):
        TokenVerifier(
            issuer=IDP,
            audience=AUDIENCE,
            keys=RemoteKeySource(IDP, http=httpx.AsyncClient()),
            algorithms=["RS256", "HS256"],
        )


async def test_trusted_issuers_route_by_exact_issuer(http: httpx.AsyncClient, idp: FakeIdP) -> None:
    other = FakeIdP("https://other-idp.test")
    async with httpx.AsyncClient(transport=httpx.MockTransport(other.handle)) as other_http:
        issuers = TrustedIssuers([verifier_for(idp, http), verifier_for(other, other_http)])
        assert (await issuers.verify(idp.token())).issuer == IDP
        assert (await issuers.verify(other.token())).issuer == "https://other-idp.test"
        # a token that claims one issuer but is signed by the other fails on the signature
        crossed = forge(
            {"alg": "RS256", "typ": "at+jwt", "kid": idp.key.kid}, claims(iss=IDP), key=other.key
        )
        with pytest.raises(TokenRejected, match="signature"):
            await issuers.verify(crossed)
        with pytest.raises(TokenRejected, match="do not trust"):
            await issuers.verify(idp.token(iss=IDP + ".evil.test"))
    with pytest.raises(ValueError, match="twice"):
        TrustedIssuers([verifier_for(idp, http), verifier_for(idp, http)])
