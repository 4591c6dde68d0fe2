"""Verified tokens remembered for a short while (auth.remembered).

Given a real verifier for an issuer (its discovery and JWKS served by FakeIdP), when a token is
verified once, then it is taken again without a signature check until the earlier of its expiry
and the remembered time; a bad token is checked, and refused, every time.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from auth.remembered import RememberedTokens
from auth.tokens import TokenRejected, TokenVerifier
from tests.auth.conftest import AUDIENCE, FakeIdP


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
async def http(idp: FakeIdP) -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(idp.handle)) as client:
        yield client


def remembered(idp: FakeIdP, http: httpx.AsyncClient, clock: Clock) -> RememberedTokens:
    # keys refetched whenever the verifier wants them: the issuer's withdrawal shows at once
    verifier = TokenVerifier.from_issuer_url(
        idp.issuer, audience=AUDIENCE, http=http, keys_ttl_s=0, min_refetch_interval_s=0
    )
    return RememberedTokens(verifier, ttl_s=30, clock=clock)


async def test_a_verified_token_is_remembered_until_the_ttl(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    tokens = remembered(idp, http, clock)
    token = idp.token(scope="registry:read")
    first = await tokens.verify(token)
    idp.keys = []  # the issuer withdraws its key
    clock.now += 29
    assert await tokens.verify(token) is first  # remembered: no signature check
    clock.now += 2
    with pytest.raises(TokenRejected):
        await tokens.verify(token)  # checked again, against the issuer's keys of now


async def test_a_token_is_not_remembered_past_its_expiry(
    idp: FakeIdP, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    tokens = remembered(idp, http, clock)
    token = idp.token(exp=int(clock.now) + 10)
    await tokens.verify(token)
    assert token in tokens
    clock.now += 11  # within the ttl, past `exp`: the full check decides, with its leeway
    assert token not in tokens
    await tokens.verify(token)  # the verifier's leeway (30 s) admits it, on its own clock...
    assert token not in tokens  # ...and it is not remembered: each request checks it again


async def test_a_refused_token_is_refused_every_time(idp: FakeIdP, http: httpx.AsyncClient) -> None:
    tokens = remembered(idp, http, Clock())
    bad = idp.token(aud="someone-else")
    for _ in range(2):
        with pytest.raises(TokenRejected):
            await tokens.verify(bad)
    assert bad not in tokens
