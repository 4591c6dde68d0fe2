"""Persisted queries: documents by their SHA-256, automatic (Apollo's APQ) and registered (allow-list).

Automatic persisted queries: a client sends `extensions.persistedQuery.sha256Hash` alone; when the
server knows the document it runs it, else it answers `PersistedQueryNotFound` and the client sends
hash and document together, which the server checks and keeps. `RedisPersistedQueries` shares the
documents between processes with a local LRU in front; while Redis is unavailable it keeps them
locally, so a client at worst sends its document once more per process.

Registered documents come from an Apollo persisted-query manifest (`apollo-persisted-query-manifest`,
version 1: `operations[]` with `id` = SHA-256 of `body`); clients in allow-list mode may run those
and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import orjson

from storage.redis_client import RedisLink, RedisUnavailable

KEY_PREFIX = b"citygraph:apq:"


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


class PersistedQueries(Protocol):
    """Documents by the hex SHA-256 of their text."""

    def peek(self, sha256: str) -> str | None:
        """The document if this process holds it (no I/O), marked as recently used."""
        ...

    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, document: str) -> None: ...


class LocalPersistedQueries:
    """An in-process LRU of documents."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._docs: OrderedDict[str, str] = OrderedDict()

    def peek(self, sha256: str) -> str | None:
        doc = self._docs.get(sha256)
        if doc is not None:
            self._docs.move_to_end(sha256)
        return doc

    def keep(self, sha256: str, document: str) -> None:
        self._docs[sha256] = document
        self._docs.move_to_end(sha256)
        while len(self._docs) > self.max_entries:
            self._docs.popitem(last=False)

    async def get(self, sha256: str) -> str | None:
        return self.peek(sha256)

    async def put(self, sha256: str, document: str) -> None:
        self.keep(sha256, document)


class RedisPersistedQueries:
    """Documents shared through Redis (kept `ttl_s`, refreshed on use), a local LRU in front."""

    def __init__(
        self, link: RedisLink, *, local: LocalPersistedQueries, ttl_s: int = 7 * 86_400
    ) -> None:
        self.link = link
        self.local = local
        self.ttl_s = ttl_s

    def peek(self, sha256: str) -> str | None:
        return self.local.peek(sha256)

    async def get(self, sha256: str) -> str | None:
        doc = self.local.peek(sha256)
        if doc is not None:
            return doc
        try:
            raw = await self.link.call(
                lambda r: r.getex(KEY_PREFIX + sha256.encode(), ex=self.ttl_s)
            )
        except RedisUnavailable:
            return None
        if raw is None:
            return None
        doc = raw.decode() if isinstance(raw, bytes) else str(raw)
        self.local.keep(sha256, doc)
        return doc

    async def put(self, sha256: str, document: str) -> None:
        self.local.keep(sha256, document)
        # on failure it is kept locally; another process asks the client once more
        with contextlib.suppress(RedisUnavailable):
            await self.link.call(
                lambda r: r.set(KEY_PREFIX + sha256.encode(), document.encode(), ex=self.ttl_s)
            )


def load_manifest(path: Path) -> dict[str, str]:
    """The documents of an Apollo persisted-query manifest, by id; ValueError when an id lies."""
    data = orjson.loads(path.read_bytes())
    if data.get("format") != "apollo-persisted-query-manifest" or data.get("version") != 1:
        raise ValueError(f"{path}: not an apollo-persisted-query-manifest, version 1")
    documents: dict[str, str] = {}
    for op in data.get("operations", []):
        body, op_id = op["body"], op["id"]
        if sha256_hex(body) != op_id:
            raise ValueError(
                f"{path}: operation {op.get('name')!r} has an id that is not its SHA-256"
            )
        documents[op_id] = body
    return documents
