"""Rate limits by GCRA (the generic cell rate algorithm), in Redis (one Lua script) or in-process.

A policy allows `limit` units per `period_s`, in bursts of up to `limit`. GCRA keeps one number per
key, the theoretical arrival time (TAT): each request of cost `c` moves it `c * T` later
(`T = period_s / limit`), and a request is refused when the new TAT would lie more than `period_s`
ahead of now. The Redis version runs as one script (atomic: two processes can never both take the
last unit) on the server's clock (processes need not agree on time), through EVALSHA with a
fallback to EVAL when the server does not know the script yet. The in-process version has the same
semantics, on the monotonic clock.

A refusal does not consume: a client that keeps retrying is not punished beyond the limit.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import redis.asyncio as redis
from redis.exceptions import NoScriptError

from storage.redis_client import RedisLink, RedisUnavailable

KEY_PREFIX = "citygraph:rate:"

# KEYS[1]: the key; ARGV: emission interval T (µs), period (µs), cost (units).
# Returns {allowed (0/1), remaining units, retry after (µs), reset (µs)}.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - period
if allow_at > now then
  return {0, math.floor((period - (tat - now)) / interval), allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((period - (new_tat - now)) / interval), 0, new_tat - now}
"""


@dataclass(frozen=True, slots=True)
class Policy:
    """`limit` units per `period_s` seconds."""

    limit: int
    period_s: float = 60.0

    @property
    def interval_s(self) -> float:
        return self.period_s / self.limit


class Decision(NamedTuple):
    """The answer for one request, with what the RateLimit headers say.

    A named tuple: one is made per request and per budget, and a frozen dataclass's
    `__init__` costs several times a tuple's.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    """Seconds until the bucket is full again."""
    retry_after_s: float
    """Seconds until this request would be allowed (0 when allowed)."""

    def headers(self) -> dict[str, str]:
        """IETF draft `RateLimit-*` headers (and `Retry-After` on a refusal)."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.remaining)),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The `RateLimit-*` headers of an allowed request, as ASGI sends them."""
        return [
            (b"ratelimit-limit", b"%d" % self.limit),
            (b"ratelimit-remaining", b"%d" % max(0, self.remaining)),
            (b"ratelimit-reset", b"%d" % math.ceil(self.reset_s)),
        ]


class RateLimiter(Protocol):
    """Takes `cost` units from `key`'s bucket under `policy`, or refuses."""

    async def take(self, key: str, policy: Policy, cost: int = 1) -> Decision: ...


class LocalRateLimiter:
    """GCRA in this process: the same answers as the Redis script, for one process."""

    def __init__(
        self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: OrderedDict[str, float] = OrderedDict()

    async def take(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        return self.take_now(key, policy, cost)

    def take_now(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        """`take`, synchronously."""
        now = self.clock()
        interval, period = policy.interval_s, policy.period_s
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval * cost
        allow_at = new_tat - period
        if allow_at > now + 1e-9:
            remaining = math.floor((period - (tat - now)) / interval + 1e-9)
            return Decision(False, policy.limit, remaining, tat - now, allow_at - now)
        self._tat[key] = new_tat
        self._tat.move_to_end(key)
        while len(self._tat) > self.max_keys:  # the oldest keys have long been full again
            self._tat.popitem(last=False)
        remaining = math.floor((period - (new_tat - now)) / interval + 1e-9)
        return Decision(True, policy.limit, remaining, new_tat - now, 0.0)


class RedisRateLimiter:
    """GCRA in Redis, shared by every process; `fallback` decides while Redis is unavailable.

    The fallback is a per-process limiter: with N processes a client may get up to N times its
    limit while Redis is down, which is the price of answering at all.
    """

    def __init__(self, link: RedisLink, *, fallback: LocalRateLimiter) -> None:
        self.link = link
        self.fallback = fallback
        self._sha: str | None = None

    async def _run(self, key: str, args: tuple[int, int, int]) -> list[int]:
        async def script(r: redis.Redis) -> list[int]:
            if self._sha is None:
                self._sha = str(await r.script_load(GCRA_LUA))
            try:
                return await r.evalsha(self._sha, 1, key, *args)  # type: ignore[no-any-return]
            except NoScriptError:  # the server restarted or flushed its scripts
                return await r.eval(GCRA_LUA, 1, key, *args)  # type: ignore[no-any-return]

        return await self.link.call(script)

    async def take(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        interval = max(1, round(policy.interval_s * 1_000_000))
        args = (interval, round(policy.period_s * 1_000_000), cost)
        try:
            allowed, remaining, retry_us, reset_us = await self._run(KEY_PREFIX + key, args)
        except RedisUnavailable:
            return self.fallback.take_now(key, policy, cost)
        return Decision(bool(allowed), policy.limit, int(remaining), reset_us / 1e6, retry_us / 1e6)
