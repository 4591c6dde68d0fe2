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
from redis.exceptions import NoScriptError, RedisError, ResponseError

from storage.breaker import Breaker
from storage.resp import Arg, Endpoint, Reply, ReplyError, RespConnection, flat

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
    """A client and its breaker: `call` runs one command or raises RedisUnavailable at once.

    `execute` sends one command over a lean connection of its own (storage.resp) where the
    client's endpoint allows one (plain TCP or a Unix socket), and through the client otherwise:
    the same breaker, the same bounds, ~a third of the CPU. The rate limiter, which every
    request calls, uses it; everything else uses `call`.
    """

    def __init__(
        self, client: redis.Redis, breaker: Breaker, *, timeout_s: float = 0.05, lean: bool = True
    ) -> None:
        self.client = client
        self.breaker = breaker
        # a hard bound over the whole call (pool wait included), beside the socket timeouts
        self.deadline_s = 2 * timeout_s
        endpoint = Endpoint.of(client) if lean else None
        self.lean = RespConnection(endpoint, timeout_s=timeout_s) if endpoint else None
        """The connection `execute` uses; None where redis-py's client does the work (TLS)."""

    async def call(self, command: Callable[[redis.Redis], Awaitable[T]]) -> T:
        """Run `command(client)` unless the breaker is open; a failure feeds the breaker."""

        async def bounded() -> T:
            async with asyncio.timeout(self.deadline_s):
                return await command(self.client)

        return await self._guarded(bounded)

    async def execute(self, *args: Arg) -> Reply:
        """One command's reply, unless the breaker is open; ReplyError when the server refuses it.

        A server that answers, even with an error, is up; one that does not answer in time, or
        whose connection fails, feeds the breaker and the caller gets RedisUnavailable.
        """
        if self.lean is None:
            return await self._execute_by_client(args)
        lean = self.lean
        return await self._guarded(lambda: lean.execute(*args))

    async def _guarded(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` through the breaker: refused while it is open, and told how it went."""
        if not self.breaker.allow():
            raise RedisUnavailable("breaker open")
        try:
            result = await attempt()
        except ReplyError:  # the server answered: it is up
            self.breaker.success()
            raise
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.failure()
            raise RedisUnavailable(type(exc).__name__) from exc
        except asyncio.CancelledError:  # the request went away: no verdict, but free the probe
            self.breaker.abandon()
            raise
        self.breaker.success()
        return result

    async def _execute_by_client(self, args: tuple[Arg, ...]) -> Reply:
        """`execute` through redis-py, its errors told apart the same way."""

        async def command(client: redis.Redis) -> Reply | ReplyError:
            try:
                return await client.execute_command(*flat(args))  # type: ignore[no-any-return,no-untyped-call]
            except NoScriptError as exc:  # redis-py strips the code from the message
                return ReplyError(f"NOSCRIPT {exc}")
            except ResponseError as exc:
                return ReplyError(f"ERR {exc}")

        reply = await self.call(command)
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def close(self) -> None:
        if self.lean is not None:
            self.lean.close()
        await self.client.aclose()
