"""Dataset versions: what a cached answer depends on, and whether it is still current.

The response cache (api.traffic) keeps, with every entry, the version of each dataset its
execution read; an entry is served only while those versions are current.
"""

from __future__ import annotations

import hashlib
import time

import orjson
import structlog

from schema.city import City
from storage.cache import CachedResponse

log = structlog.get_logger("citygraph.traffic")


ALL_DATASETS = "*"
"""The version key of a response that read no dataset by name (the catalog): any load changes it."""


class DatasetVersions:
    """The current version of every dataset: its last recorded load, plus local bumps.

    The loads table (storage.loads) lives in each department's database, which every process
    shares, and every import, generation and publication writes it: so all processes agree on
    versions without Redis, within `ttl_s` (how long a process trusts what it read). An import
    in this process (City.record_loads) bumps its datasets at once.
    """

    def __init__(self, city: City, *, ttl_s: float) -> None:
        self.city = city
        self.ttl_s = ttl_s
        self._read_at = -float("inf")
        self._versions: dict[str, str] = {}
        self._bumps: dict[str, int] = {}

    def bump(self, datasets: set[str]) -> None:
        for name in datasets:
            self._bumps[name] = self._bumps.get(name, 0) + 1
        self._read_at = -float("inf")

    def refresh(self, _datasets: set[str] | None = None) -> None:
        """Re-read the loads at the next request: another process announced a load (Redis)."""
        self._read_at = -float("inf")

    async def current(self) -> dict[str, str]:
        if time.monotonic() - self._read_at < self.ttl_s:
            return self._versions
        try:
            loads = await self.city.loaders().loads()
        except Exception:  # a database down: keep what we knew; the request will say the rest
            log.warning("could not read dataset versions", exc_info=True)
            return self._versions
        versions = {
            name: f"{load.loaded_at.timestamp()}:{load.row_count}" for name, load in loads.items()
        }
        for name, count in self._bumps.items():
            versions[name] = f"{versions.get(name, '')}+{count}"
        versions[ALL_DATASETS] = hashlib.sha256(
            orjson.dumps(versions, option=orjson.OPT_SORT_KEYS)
        ).hexdigest()[:16]
        self._versions, self._read_at = versions, time.monotonic()
        return versions

    @staticmethod
    def of(versions: dict[str, str], datasets: set[str]) -> dict[str, str]:
        """The versions a response that read `datasets` depends on."""
        names = datasets or {ALL_DATASETS}
        return {name: versions.get(name, "") for name in names}

    @staticmethod
    def fresh(versions: dict[str, str], entry: CachedResponse) -> bool:
        return all(versions.get(name, "") == v for name, v in entry.versions.items())
