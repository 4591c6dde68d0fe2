"""The Redis connection of a citygraph process: short timeouts, no retries, one breaker.

redis-py's defaults (seconds of timeout, retries with backoff) made one call to a frozen server
take 59 s to fail (FIELD-NOTES); here every call is bounded by `timeout_s` (50 ms by default)
and is never retried, and the breaker (storage.breaker) stops calling a server that failed
`failure_threshold` times in a row until a probe succeeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from storage.breaker import Breaker

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis did not answer in time, failed, or its breaker is open."""


def connect(url: str, *, timeout_s: float = 0.05, max_connections: int = 64) -> redis.Redis:
    """A client whose every call fails within `timeout_s`, never retried."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
        health_check_interval=0,
        max_connections=max_connections,
        decode_responses=False,
    )


class RedisLink:
    """A client and its breaker: `call` runs one command or raises RedisUnavailable at once."""

    def __init__(self, client: redis.Redis, breaker: Breaker, *, timeout_s: float = 0.05) -> None:
        self.client = client
        self.breaker = breaker
        # a hard bound over the whole call (pool wait included), beside the socket timeouts
        self.deadline_s = 2 * timeout_s

    async def call(self, command: Callable[[redis.Redis], Awaitable[T]]) -> T:
        """Run `command(client)` unless the breaker is open; a failure feeds the breaker."""
        if not self.breaker.allow():
            raise RedisUnavailable("breaker open")
        try:
            async with asyncio.timeout(self.deadline_s):
                result = await command(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failure()
            raise RedisUnavailable(type(exc).__name__) from exc
        except asyncio.CancelledError:  # the request went away: no verdict, but free the probe
            self.breaker.abandon()
            raise
        self.breaker.success()
        return result

    async def close(self) -> None:
        await self.client.aclose()
