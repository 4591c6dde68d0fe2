"""Whole-response cache: encoded public responses by key, in-process (LRU) or in Redis behind one.

An entry keeps the response bytes, its ETag and the version of every dataset the response read;
whoever reads an entry compares those versions with the current ones (api.traffic), so an import
invalidates exactly the responses that read the imported dataset, in every process, without a
scan or a purge. Personal data never reaches this module: only responses whose execution read no
restricted field are stored (api.traffic decides).

`RedisCache` keeps a `LocalCache` in front (a hit there costs no network and ~no CPU) and treats
Redis as an accelerator: when Redis fails or its breaker is open, `get` is a miss and `set` keeps
the entry locally, so public traffic flows on from the local cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from storage.redis_client import RedisLink, RedisUnavailable

KEY_PREFIX = b"citygraph:response:"


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """One encoded response and what it depends on."""

    body: bytes
    etag: str
    versions: dict[str, str]
    """Dataset name -> its version when the response was computed."""

    def encode(self) -> bytes:
        head = orjson.dumps({"e": self.etag, "v": self.versions})
        return len(head).to_bytes(4, "big") + head + self.body

    @classmethod
    def decode(cls, raw: bytes) -> CachedResponse:
        size = int.from_bytes(raw[:4], "big")
        head = orjson.loads(raw[4 : 4 + size])
        return cls(body=raw[4 + size :], etag=str(head["e"]), versions=dict(head["v"]))

    @property
    def size(self) -> int:
        return len(self.body) + 64 + 32 * len(self.versions)


class ResponseCache(Protocol):
    """Where encoded responses are kept between requests."""

    async def get(self, key: str) -> CachedResponse | None: ...

    async def set(self, key: str, entry: CachedResponse, *, ttl_s: float) -> None: ...

    async def close(self) -> None: ...


class LocalCache:
    """An in-process LRU bounded by bytes, each entry with its own expiry."""

    def __init__(
        self,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_entry_bytes: int = 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, CachedResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: str) -> CachedResponse | None:
        """The live entry under `key` (synchronously), marked as recently used."""
        found = self._entries.get(key)
        if found is None:
            return None
        expires, entry = found
        if expires <= self.clock():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CachedResponse, *, ttl_s: float) -> None:
        """Keep `entry` for `ttl_s` seconds, evicting the least recently used beyond the bound."""
        if entry.size > self.max_entry_bytes or ttl_s <= 0:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (self.clock() + ttl_s, entry)
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        _, entry = self._entries.pop(key)
        self.bytes -= entry.size

    async def get(self, key: str) -> CachedResponse | None:
        return self.peek(key)

    async def set(self, key: str, entry: CachedResponse, *, ttl_s: float) -> None:
        self.put(key, entry, ttl_s=ttl_s)

    async def close(self) -> None:
        self._entries.clear()
        self.bytes = 0


class RedisCache:
    """Entries shared by every process through Redis, with a `LocalCache` in front."""

    def __init__(self, link: RedisLink, *, local: LocalCache, local_ttl_s: float = 5.0) -> None:
        self.link = link
        self.local = local
        self.local_ttl_s = local_ttl_s
        """How long a copy fetched from Redis is served locally (versions are checked anyway)."""

    async def get(self, key: str) -> CachedResponse | None:
        entry = self.local.peek(key)
        if entry is not None:
            return entry
        try:
            raw = await self.link.call(lambda r: r.get(KEY_PREFIX + key.encode()))
        except RedisUnavailable:
            return None
        if not isinstance(raw, bytes):
            return None
        entry = CachedResponse.decode(raw)
        self.local.put(key, entry, ttl_s=self.local_ttl_s)
        return entry

    async def set(self, key: str, entry: CachedResponse, *, ttl_s: float) -> None:
        # the local copy lives briefly while Redis holds the entry, and fully while it cannot
        self.local.put(key, entry, ttl_s=min(ttl_s, self.local_ttl_s))
        if entry.size > self.local.max_entry_bytes:
            return
        millis = max(1, int(ttl_s * 1000))
        try:
            await self.link.call(
                lambda r: r.set(KEY_PREFIX + key.encode(), entry.encode(), px=millis)
            )
        except RedisUnavailable:
            self.local.put(key, entry, ttl_s=ttl_s)  # this process serves it on its own

    async def close(self) -> None:
        await self.local.close()
