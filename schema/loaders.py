"""Per-request DataLoaders: wherever a list meets a relation, one statement per level, not per row."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from storage.loads import Load, read_loads
from storage.repository import Page, PageQuery, Repository
from storage.versions import Version, read_versions


class Loaders:
    """The loaders of one request, created on first use and cached by what they load."""

    def __init__(self, repositories: Mapping[str, Repository]) -> None:
        self.repositories = repositories
        self._loaders: dict[Hashable, DataLoader[Any, Any]] = {}
        self._loads: dict[str, Load] | None = None
        self._versions: dict[str, list[Version]] | None = None

    def row(
        self, dataset: str, column: str, version: int | None = None
    ) -> DataLoader[Hashable, Any]:
        """Loads rows of `dataset` (of one version) by a unique `column`, batched per tick."""
        key = ("row", dataset, column, version)
        loader = self._loaders.get(key)
        if loader is None:
            repo = self.repositories[dataset]

            async def load(keys: Sequence[Hashable]) -> list[Any]:
                found = await repo.by_keys(column, keys, version=version)
                return [found.get(k) for k in keys]

            loader = self._loaders[key] = DataLoader(load_fn=load)
        return loader

    async def loads(self) -> dict[str, Load]:
        """Where every dataset's rows came from, read once per request from each database."""
        if self._loads is None:
            engines = {id(r.engine): r.engine for r in self.repositories.values()}
            found: dict[str, Load] = {}
            for engine in engines.values():
                found.update(await read_loads(engine))
            self._loads = found
        return self._loads

    async def versions(self) -> dict[str, list[Version]]:
        """Every dataset's versions, oldest first, read once per request from each database."""
        if self._versions is None:
            engines = {id(r.engine): r.engine for r in self.repositories.values()}
            found: dict[str, list[Version]] = {}
            for engine in engines.values():
                for version in await read_versions(engine):
                    if version.dataset in self.repositories:
                        found.setdefault(version.dataset, []).append(version)
            self._versions = found
        return self._versions

    def page(self, dataset: str, column: str, query: PageQuery) -> DataLoader[Hashable, Page]:
        """Loads the same window of `dataset` rows for many parents, by the parent key `column`."""
        key = ("page", dataset, column, query)
        loader = self._loaders.get(key)
        if loader is None:
            repo = self.repositories[dataset]

            async def load(parents: Sequence[Hashable]) -> list[Page]:
                pages = await repo.pages_by(column, parents, query)
                return [pages[p] for p in parents]

            loader = self._loaders[key] = DataLoader(load_fn=load)
        return loader
