"""What a statistics field may publish: its linked tables read from the database, and their plan.

Each statistics field (schema.statistics) splits one personal dataset by a few axes. Every
grouping it offers is a margin of one finest table, and other fields publish some of the same
figures (a district's population is the registry's count). `Disclosure.tables` reads the finest
cells once, plans the suppression over all the groupings together (schema.suppression), and keeps
the result until the data changes: the same cell gets the same answer on every request, and the
planning is paid once per data load, not per query.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy.exc import SQLAlchemyError

from schema.linked_tables import ALL, Cell, Dimension, Grouping, Leaf, LinkedSet, Pattern
from schema.suppression import plan
from storage.loads import Load
from storage.repository import AggregateQuery, Repository

log = structlog.get_logger("citygraph.statistics")

DISTRICT = "district_code"
"""The level of an axis that splits by arrondissement."""


@dataclass(frozen=True, slots=True)
class Level:
    """One way an axis splits: the column grouped by, and how its values become keys."""

    name: str
    column: str
    kind: Literal["value", "year"] = "value"
    label: Callable[[Any, int], Hashable] | None = None
    """(raw value, reference year) -> key; the age band of a birth year, say."""

    def key(self, raw: Any, year: int) -> Hashable:
        return raw if self.label is None else self.label(raw, year)


@dataclass(frozen=True, slots=True)
class Axis:
    """A dimension of a field, finest level last: the district, then the quartier within it."""

    name: str
    levels: tuple[Level, ...]
    domain: tuple[Hashable, ...] | None = None
    """The finest keys, when fixed (age bands); else the values found."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a field's figures come from: a dataset, whose rows count and whose people."""

    dataset: str
    person: str
    axes: tuple[Axis, ...]
    sums: tuple[str, ...] = ()
    additive_people: bool = False
    """True when each row is a different person (residents): people are the row count."""
    population_axis: str | None = None
    """The axis whose district totals the territory publishes as populations, if any."""


@dataclass(frozen=True, slots=True)
class Figures:
    """A cell's published figures, or None for each when it is withheld."""

    people: int | None
    rows: int | None
    sums: dict[str, float | None]
    suppressed: bool


@dataclass
class Tables:
    """A field's linked set, its plan, and the figures of any cell."""

    source: Source
    linked: LinkedSet
    pattern: Pattern
    sums: dict[Leaf, dict[str, float]] = field(default_factory=dict)
    _rows: dict[Cell, int] = field(default_factory=dict)
    _sums: dict[Cell, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rows: dict[Cell, int] = defaultdict(int)
        sums: dict[Cell, dict[str, float]] = defaultdict(
            lambda: dict.fromkeys(self.source.sums, 0.0)
        )
        dims = self.linked.dimensions
        for leaf, units in self.linked.units.items():
            for grouping in self.linked.groupings:
                cell = (grouping, _key(dims, grouping, leaf))
                rows[cell] += units
                for column, value in self.sums.get(leaf, {}).items():
                    sums[cell][column] += value
        self._rows, self._sums = dict(rows), dict(sums)

    def grouping(self, levels: Mapping[str, str]) -> Grouping:
        """The grouping that splits the named axes at the named levels (the others: ALL)."""
        return tuple(levels.get(d.name, ALL) for d in self.linked.dimensions)

    def table(self, grouping: Grouping) -> list[tuple[dict[str, Hashable], Figures]]:
        """Every cell of one table (zero cells included), with its published figures."""
        dims = self.linked.dimensions
        keys = [d.keys(level) for d, level in zip(dims, grouping, strict=True)]
        out = []
        for key in itertools.product(*keys):
            cell = (grouping, key)
            named = {level: k for level, k in zip(grouping, key, strict=True) if level != ALL}
            out.append((named, self.figures(cell)))
        return out

    def figures(self, cell: Cell) -> Figures:
        if cell in self.pattern:
            return Figures(None, None, dict.fromkeys(self.source.sums), True)
        rows = self._rows.get(cell, 0)
        people = rows if self.linked.people is None else self.linked.people.get(cell, 0)
        sums = self._sums.get(cell, dict.fromkeys(self.source.sums, 0.0))
        return Figures(people, rows, dict(sums), False)


def _key(dims: Sequence[Dimension], grouping: Grouping, leaf: Leaf) -> tuple[Hashable, ...]:
    return tuple(d.key(level, v) for d, level, v in zip(dims, grouping, leaf, strict=True))


def _groupings(axes: Sequence[Axis]) -> tuple[Grouping, ...]:
    return tuple(itertools.product(*((ALL, *(lv.name for lv in a.levels)) for a in axes)))


async def read_tables(
    source: Source,
    *,
    repositories: Mapping[str, Repository],
    threshold: int,
    year: int,
) -> Tables:
    """Read a field's finest cells (and its people per cell when they do not add up), then plan."""
    repo = repositories[source.dataset]
    finest = [lv for axis in source.axes for lv in axis.levels]
    rows = await repo.grouped_people(
        dimensions=[(lv.column, lv.kind) for lv in finest], person=source.person, sums=source.sums
    )
    units: dict[Leaf, int] = defaultdict(int)
    sums: dict[Leaf, dict[str, float]] = defaultdict(lambda: dict.fromkeys(source.sums, 0.0))
    maps: list[dict[str, dict[Hashable, Hashable]]] = [
        {lv.name: {} for lv in a.levels} for a in source.axes
    ]
    for row in rows:
        raw = iter(row[: len(finest)])
        leaf = []
        for axis, levels in zip(source.axes, maps, strict=True):
            keys = [lv.key(next(raw), year) for lv in axis.levels]
            value = keys[-1] if len(keys) == 1 else tuple(keys)
            for lv, k in zip(axis.levels, keys, strict=True):
                levels[lv.name][value] = k
            leaf.append(value)
        units[tuple(leaf)] += int(row.rows)
        for column in source.sums:
            sums[tuple(leaf)][column] += float(getattr(row, f"sum_{column}") or 0)
    dims = tuple(_dimension(a, m) for a, m in zip(source.axes, maps, strict=True))
    groupings = _groupings(source.axes)
    people = None if source.additive_people else await _people(repo, source, groupings, year)
    forced = await _populations(source, dims, units, repositories)
    linked = LinkedSet(dims, groupings, dict(units), people, forced)
    pattern = await asyncio.to_thread(plan, linked, threshold=threshold)
    if pattern.unprotected:
        log.info(
            "statistics cells protected by withholding the breakdown of their area",
            dataset=source.dataset,
            cells=len(pattern.unprotected),
        )
    return Tables(source, linked, pattern, dict(sums))


def _dimension(axis: Axis, maps: dict[str, dict[Hashable, Hashable]]) -> Dimension:
    finest = axis.levels[-1].name
    if axis.domain is not None:
        for key in axis.domain:
            for lv in axis.levels:
                maps[lv.name].setdefault(key, key)
    leaves = tuple(sorted(maps[finest], key=lambda k: (k is None, str(k))))
    if axis.domain is not None:
        leaves = tuple(k for k in axis.domain if k in maps[finest])
    return Dimension(axis.name, leaves, {name: dict(m) for name, m in maps.items()})


async def _people(
    repo: Repository, source: Source, groupings: Sequence[Grouping], year: int
) -> dict[Cell, int]:
    """Distinct people of every cell of every grouping: one grouped count per grouping."""
    people: dict[Cell, int] = defaultdict(int)
    for grouping in groupings:
        levels = [
            next(lv for lv in axis.levels if lv.name == level) if level != ALL else None
            for axis, level in zip(source.axes, grouping, strict=True)
        ]
        used = [lv for lv in levels if lv is not None]
        rows = await repo.grouped_people(
            dimensions=[(lv.column, lv.kind) for lv in used], person=source.person
        )
        for row in rows:
            raw = iter(row[: len(used)])
            key = tuple(ALL if lv is None else lv.key(next(raw), year) for lv in levels)
            # a label merging values (years into an age band) adds people up: each has one value
            people[(grouping, key)] += int(row.people)
    return dict(people)


async def _populations(
    source: Source,
    dims: Sequence[Dimension],
    units: Mapping[Leaf, int],
    repositories: Mapping[str, Repository],
) -> frozenset[Cell]:
    """The district totals the territory publishes as populations, when they are these counts."""
    if source.population_axis is None or "districts" not in repositories:
        return frozenset()
    index = next(i for i, d in enumerate(dims) if d.name == source.population_axis)
    query = AggregateQuery(group_by=("code", "population"), measures=(("count", None),))
    try:
        rows = [(r.code, r.population) for r in await repositories["districts"].aggregate(query)]
    except SQLAlchemyError:
        return frozenset()  # no territory here: nothing published that counts these people
    counts: dict[Hashable, int] = defaultdict(int)
    for leaf, n in units.items():
        counts[dims[index].key(DISTRICT, leaf[index])] += n
    grouping = tuple(DISTRICT if i == index else ALL for i in range(len(dims)))
    forced = set()
    for code, population in rows:
        if population is not None and counts.get(code, 0) == int(population):
            key = tuple(code if i == index else ALL for i in range(len(dims)))
            forced.add((grouping, key))
    return frozenset(forced)


# the cache --------------------------------------------------------------------------------------


@dataclass
class _Entry:
    version: tuple[Any, ...]
    tables: Tables


class Disclosure:
    """Each field's tables, planned once per data load and shared by every request."""

    def __init__(self, *, threshold: int) -> None:
        self.threshold = threshold
        self._cache: weakref.WeakKeyDictionary[Repository, dict[str, _Entry]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[Repository, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def tables(
        self,
        source: Source,
        *,
        repositories: Mapping[str, Repository],
        loads: Mapping[str, Load],
    ) -> Tables:
        """The field's tables for the data as it is now."""
        repo = repositories[source.dataset]
        year = datetime.now(UTC).year  # age bands move on the first of January
        version = (year, *(_stamp(loads.get(n)) for n in (source.dataset, "districts")))
        lock = self._locks.setdefault(repo, asyncio.Lock())
        async with lock:
            entries = self._cache.setdefault(repo, {})
            entry = entries.get(source.dataset)
            if entry is None or entry.version != version:
                tables = await read_tables(
                    source, repositories=repositories, threshold=self.threshold, year=year
                )
                entry = entries[source.dataset] = _Entry(version, tables)
            return entry.tables


def _stamp(load: Load | None) -> tuple[Any, ...] | None:
    return None if load is None else (load.loaded_at, load.row_count)
