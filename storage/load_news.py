"""News of dataset loads between processes, over Redis pub/sub.

Every process learns of its own loads at once (schema.City's load listeners) and of the others'
through the loads table, which it re-reads every `dataset_versions_ttl_s`: so a response cached
before another process's import can be served for up to that long. With Redis, whoever records
a load (`citygraph import` included) also publishes the datasets' names, and every serving
process subscribed here re-reads the loads table at its next request.

The news is an accelerator, never the source of truth: a message lost while Redis is down or a
subscriber reconnects costs at most the TTL, as without Redis. Publishing is bounded by a short
timeout and never fails a load; the subscriber waits with a timeout of its own (a frozen server
costs it nothing but a quiet second) and reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from storage.background import stop
from storage.redis_client import connect

log = structlog.get_logger("citygraph.cache")

CHANNEL = "citygraph:datasets-loaded"
RECONNECT_MAX_S = 5.0


async def announce(url: str, datasets: Iterable[str], *, timeout_s: float = 0.5) -> bool:
    """Publish that `datasets` were loaded; False (logged) when Redis did not take it."""
    names = sorted(set(datasets))
    if not names:
        return True
    client = connect(url, timeout_s=timeout_s)
    try:
        async with asyncio.timeout(2 * timeout_s):
            await client.publish(CHANNEL, ",".join(names))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning(
            "could not announce a load; others see it within the TTL", error=type(exc).__name__
        )
        return False
    finally:
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(timeout_s):
                await client.aclose()
    return True


class LoadNews:
    """A subscription that calls `on_news(datasets)` for every load another process announces."""

    def __init__(
        self, url: str, on_news: Callable[[set[str]], None], *, wait_s: float = 1.0
    ) -> None:
        self.url = url
        self.on_news = on_news
        self.wait_s = wait_s
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="load-news")

    async def close(self) -> None:
        if self._task is not None:
            await stop(self._task)
            self._task = None

    async def _run(self) -> None:
        backoff = self.wait_s
        while True:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=self.wait_s)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self.wait_s):
                    await pubsub.subscribe(CHANNEL)
                backoff = self.wait_s
                while True:
                    message = await pubsub.get_message(timeout=self.wait_s)
                    if message is not None and isinstance(message.get("data"), bytes):
                        self.received += 1
                        self.on_news(set(message["data"].decode().split(",")))
            except (RedisError, OSError, TimeoutError) as exc:
                log.info("load news unavailable; retrying", error=type(exc).__name__)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    async with asyncio.timeout(self.wait_s):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py
                        await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RECONNECT_MAX_S)
