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

import asyncio
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

# KEYS: the keys of a batch; ARGV: per key, emission interval T (µs), period (µs), cost (units).
# Returns one string: per key in order, "allowed remaining retry_after_us reset_us" (allowed 0 or 1),
# the keys' answers joined by ",". One bulk reply: redis-py reads an array element by element,
# in Python, which cost more than the script. Keys are taken in order, so a key twice in one
# batch sees its first take.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[3 * i - 2])
  local period = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - period
  if allow_at > now then
    out[i] = string.format('0 %d %d %d', math.floor((period - (tat - now)) / interval),
      allow_at - now, tat - now)
  else
    redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
    out[i] = string.format('1 %d 0 %d', math.floor((period - (new_tat - now)) / interval),
      new_tat - now)
  end
end
return table.concat(out, ',')
"""

MAX_BATCH = 512
"""Takes sent in one script call at most (a bigger wave goes in several)."""


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

    Takes are batched: every take asked for in one turn of the event loop goes to Redis in one
    script call, sent at the next turn (what ioredis calls auto-pipelining). Under load, the
    requests in flight share a round trip instead of paying one each (redis-py costs ~70 µs of
    CPU per call, the script a few µs a key); alone, a take waits one loop turn more.

    The fallback is a per-process limiter: with N processes a client may get up to N times its
    limit while Redis is down, which is the price of answering at all.
    """

    def __init__(self, link: RedisLink, *, fallback: LocalRateLimiter) -> None:
        self.link = link
        self.fallback = fallback
        self._sha: str | None = None
        self._waiting: list[tuple[str, Policy, int, asyncio.Future[Decision]]] = []
        self._sending: asyncio.Task[None] | None = None
        self._scheduled = False

    async def take(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._waiting.append((key, policy, cost, future))
        if self._sending is None and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._send_waiting)
        return await future

    def _send_waiting(self) -> None:
        """Send the takes waiting so far; those asked meanwhile go when this call is answered."""
        self._scheduled = False
        if self._sending is not None or not self._waiting:
            return
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        self._sending = asyncio.ensure_future(self._send(batch))
        self._sending.add_done_callback(self._sent)

    def _sent(self, _task: asyncio.Task[None]) -> None:
        self._sending = None
        if self._waiting:
            self._send_waiting()

    async def _send(self, batch: list[tuple[str, Policy, int, asyncio.Future[Decision]]]) -> None:
        keys = [KEY_PREFIX + key for key, _, _, _ in batch]
        args: list[int] = []
        for _, policy, cost, _ in batch:
            interval = max(1, round(policy.interval_s * 1_000_000))
            args += (interval, round(policy.period_s * 1_000_000), cost)
        try:
            replies = await self._run(keys, args)
        except RedisUnavailable:
            for key, policy, cost, future in batch:
                if not future.done():  # a request that went away asks nothing more
                    future.set_result(self.fallback.take_now(key, policy, cost))
            return
        except asyncio.CancelledError:  # shutting down: the requests must not hang
            for *_, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a bug: each request answers 500, none hangs
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, policy, _, future), reply in zip(batch, replies.split(b","), strict=True):
            allowed, remaining, retry_us, reset_us = map(int, reply.split())
            if not future.done():
                future.set_result(
                    Decision(
                        bool(allowed), policy.limit, int(remaining), reset_us / 1e6, retry_us / 1e6
                    )
                )

    async def _run(self, keys: list[str], args: list[int]) -> bytes:
        async def script(r: redis.Redis) -> bytes:
            if self._sha is None:
                self._sha = str(await r.script_load(GCRA_LUA))
            try:
                return await r.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]
            except NoScriptError:  # the server restarted or flushed its scripts
                return await r.eval(GCRA_LUA, len(keys), *keys, *args)  # type: ignore[no-any-return]

        return await self.link.call(script)
