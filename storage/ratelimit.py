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
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Protocol

from storage.redis_client import RedisLink, RedisUnavailable
from storage.resp import Packed, ReplyError

KEY_PREFIX = "citygraph:rate:"

# KEYS: the keys of a batch; ARGV: per key, emission interval T (µs), period (µs), cost (units),
# and whether it is chained (1) to the key before it: a chained take is made only if the take
# before it was allowed (a request's cost budget, after its rate). Returns one string: per key
# in order, "allowed remaining retry_after_us reset_us" (allowed 0, 1, or 2 for a chained take
# not made), the keys' answers joined by ",". One bulk reply: redis-py read an array element by
# element, in Python, which cost more than the script. Keys are taken in order, so a key twice
# in one batch sees its first take.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[4 * i - 3])
  local period = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  if ARGV[4 * i] == '1' and allowed ~= 1 then
    out[i] = '2 0 0 0'
    allowed = 2
  else
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    local new_tat = tat + interval * cost
    local allow_at = new_tat - period
    if allow_at > now then
      out[i] = string.format('0 %d %d %d', math.floor((period - (tat - now)) / interval),
        allow_at - now, tat - now)
      allowed = 0
    else
      redis.call('SET', key, new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
      out[i] = string.format('1 %d 0 %d', math.floor((period - (new_tat - now)) / interval),
        new_tat - now)
      allowed = 1
    end
  end
end
return table.concat(out, ',')
"""

GCRA_SHA = hashlib.sha1(GCRA_LUA.encode(), usedforsecurity=False).hexdigest().encode()
"""The script's name for EVALSHA: its SHA-1, as the server computes it."""

MAX_BATCH = 512
"""Requests' takes sent in one script call at most (a bigger wave goes in several)."""

Take = tuple[str, "Policy", int]
"""A key, its policy and the units to take from it."""


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

    async def take_all(self, takes: tuple[Take, ...]) -> list[Decision | None]:
        """Each take in order, made only while those before it were allowed (None: not made)."""
        ...


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

    async def take_all(self, takes: tuple[Take, ...]) -> list[Decision | None]:
        return self.take_all_now(takes)

    def take_all_now(self, takes: tuple[Take, ...]) -> list[Decision | None]:
        """`take_all`, synchronously."""
        decisions: list[Decision | None] = []
        for key, policy, cost in takes:
            if decisions and (decisions[-1] is None or not decisions[-1].allowed):
                decisions.append(None)
            else:
                decisions.append(self.take_now(key, policy, cost))
        return decisions

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
    script call, sent at the next turn (what ioredis calls auto-pipelining), over the link's lean
    connection (storage.resp). Under load, the requests in flight share a round trip instead of
    paying one each; alone, a take waits one loop turn more. Only one call is out at a time:
    takes asked meanwhile go together when it is answered, so waves grow with the load.

    The fallback is a per-process limiter: with N processes a client may get up to N times its
    limit while Redis is down, which is the price of answering at all.
    """

    def __init__(self, link: RedisLink, *, fallback: LocalRateLimiter) -> None:
        self.link = link
        self.fallback = fallback
        self._waiting: list[tuple[tuple[Take, ...], asyncio.Future[list[Decision | None]]]] = []
        self._sending: asyncio.Task[None] | None = None
        self._scheduled = False
        self.calls = 0
        """Script calls made: a counter for tests and metrics."""

    async def take(self, key: str, policy: Policy, cost: int = 1) -> Decision:
        (decision,) = await self.take_all(((key, policy, cost),))
        if decision is None:  # pragma: no cover - the first take of a request is always made
            raise RuntimeError("a first take was not made")
        return decision

    async def take_all(self, takes: tuple[Take, ...]) -> list[Decision | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Decision | None]] = loop.create_future()
        self._waiting.append((takes, future))
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

    async def _send(
        self, batch: list[tuple[tuple[Take, ...], asyncio.Future[list[Decision | None]]]]
    ) -> None:
        keys: list[str] = []
        args: list[Packed] = []
        for takes, _ in batch:
            chained = 0
            for key, policy, cost in takes:
                keys.append(KEY_PREFIX + key)
                args.append(_script_args(policy, cost, chained))
                chained = 1
        try:
            replies = await self._run(keys, args)
            answers = _decisions(batch, replies.split(b","), len(keys))
        except RedisUnavailable:
            for takes, future in batch:
                if not future.done():  # a request that went away asks nothing more
                    future.set_result(self.fallback.take_all_now(takes))
            return
        except asyncio.CancelledError:  # shutting down: the requests must not hang
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a bug: each request answers 500, none hangs
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), decisions in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(decisions)

    async def _run(self, keys: list[str], args: list[Packed]) -> bytes:
        self.calls += 1
        try:
            reply = await self.link.execute(b"EVALSHA", GCRA_SHA, len(keys), *keys, *args)
        except ReplyError as exc:
            if exc.kind != "NOSCRIPT":
                raise
            # the server does not know the script yet (restarted, flushed): EVAL caches it
            reply = await self.link.execute(b"EVAL", GCRA_LUA, len(keys), *keys, *args)
        if not isinstance(reply, bytes):
            raise TypeError(f"the rate limit script answered {reply!r}")
        return reply


@lru_cache(maxsize=4096)
def _script_args(policy: Policy, cost: int, chained: int) -> Packed:
    """A take's arguments to the script, encoded once: a policy and a cost repeat."""
    interval = max(1, round(policy.interval_s * 1_000_000))
    return Packed.of(interval, round(policy.period_s * 1_000_000), cost, chained)


def _decisions(
    batch: list[tuple[tuple[Take, ...], asyncio.Future[list[Decision | None]]]],
    replies: list[bytes],
    keys: int,
) -> list[list[Decision | None]]:
    """Each request's decisions from the script's answers, one per key in the batch's order."""
    if len(replies) != keys:
        raise RuntimeError(f"the rate limit script answered {len(replies)} takes of {keys}")
    answers = iter(replies)
    out = []
    for takes, _ in batch:
        decisions: list[Decision | None] = []
        for (_, policy, _), reply in zip(takes, answers, strict=False):
            allowed, remaining, retry_us, reset_us = map(int, reply.split())
            decisions.append(
                None
                if allowed == 2
                else Decision(allowed == 1, policy.limit, remaining, reset_us / 1e6, retry_us / 1e6)
            )
        out.append(decisions)
    return out
