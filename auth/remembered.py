"""Verified tokens remembered for a short while: a client sends the same token with every request.

Verifying an access token costs a signature check (an RSA verification, tens of µs) and three
JSON decodes; a staff frontend or an app sends the same token hundreds of times a minute. A
token verified once is taken as verified again, without its signature checked, until the
earlier of its `exp` and `ttl_s` after it was verified. Only verified tokens are remembered: a
bad one is checked, and refused, every time. What a token stands for is still decided on every
request (the client's registration, revocation included, and the purpose: auth.resolve).

The bound is the price: a key the issuer withdraws stops a token it signed within `ttl_s`, not
at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from auth.tokens import AccessToken, Verifier

TTL_S = 30.0
CAPACITY = 4096


class RememberedTokens:
    """A Verifier that remembers, for up to `ttl_s`, the tokens another one verified."""

    def __init__(
        self,
        verifier: Verifier,
        *,
        ttl_s: float = TTL_S,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifier = verifier
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._clock = clock
        self._verified: OrderedDict[str, tuple[AccessToken, float]] = OrderedDict()

    def __contains__(self, token: str) -> bool:
        """Whether `token` is remembered as verified now."""
        found = self._verified.get(token)
        return found is not None and self._clock() < found[1]

    async def verify(self, token: str) -> AccessToken:
        now = self._clock()
        found = self._verified.get(token)
        if found is not None:
            access, until = found
            if now < until:
                return access
            del self._verified[token]
        access = await self.verifier.verify(token)
        exp = access.claims.get("exp")
        until = now + self.ttl_s
        if isinstance(exp, int | float) and not isinstance(exp, bool):
            until = min(until, float(exp))  # then the full check, with its leeway, decides
        if until > now:
            self._verified[token] = (access, until)
            if len(self._verified) > self.capacity:
                self._verified.popitem(last=False)
        return access
