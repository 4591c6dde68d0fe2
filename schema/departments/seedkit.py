"""What the demo city's generators share: a fixed clock, seeded streams, chunked writes and reads.

Synthetic tables are replaced wholesale inside one transaction, in chunks of `executemany` inserts
of plain tuples. `Repository.upsert` builds a multi-row VALUES statement per chunk (over 100 µs a
row on SQLite) and Core's `execute(insert, dicts)` spends about 6 µs a row building parameters;
the statement compiled once per table, with each column's bind processor applied by hand, leaves
mostly the database's own work. Rows come from generators, so a million residents never sit in
memory.
"""

from __future__ import annotations

import asyncio
import operator
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Row, Table, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

T = TypeVar("T")

REFERENCE_DATE = date(2024, 12, 31)
"""The demo city's "today": ages, case statuses and pending permits never depend on the build day."""

GENERATED = "citygraph demo generator"
"""The source a generated dataset's versions name."""

CHUNK = 10_000
"""Rows per insert: large enough to amortise a round trip, small enough to keep memory flat."""

Rows = list[dict[str, Any]]


def department_rng(seed: int, department: str) -> random.Random:
    """A stream of its own for each department, so that one generator's draws never shift another's."""
    # A str seed is hashed with SHA-512 by `random.seed`, never with Python's salted hash().
    return random.Random(f"citygraph-demo/{seed}/{department}")  # noqa: S311 - demo data, not secrets


def age_on(birth: date, day: date = REFERENCE_DATE) -> int:
    """Age in whole years on a given day."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True, slots=True)
class _Insert:
    """An INSERT compiled for one dialect, and how to turn a row dict into its parameters."""

    sql: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def compile(cls, table: Table, dialect: Dialect) -> _Insert:
        compiled = table.insert().compile(dialect=dialect)
        names = compiled.positiontup
        if not names or len(names) < 2:
            raise ValueError(
                f"{table.name}: bulk inserts need a positional dialect and two columns"
            )
        processors = []
        for index, name in enumerate(names):
            column_type = table.c[name].type
            processor = column_type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((index, processor))
        return cls(compiled.string, operator.itemgetter(*names), tuple(processors))

    def parameters(self, rows: Rows) -> list[tuple[Any, ...]]:
        values = self.values
        if not self.processors:
            return [values(row) for row in rows]
        processed: list[tuple[Any, ...]] = []
        for row in rows:
            items = list(values(row))
            for index, processor in self.processors:
                items[index] = processor(items[index])
            processed.append(tuple(items))
        return processed


ADULTS_BORN_BY = years_before(REFERENCE_DATE, 18)
"""Residents born on or before this day are adults: only they have cases, property or permits."""


def adults_only(city: City) -> ColumnElement[bool]:
    """The filter on residents that keeps adults (readers skip minors in SQL, not in Python)."""
    return city.repository("residents").table.c.birth_date <= ADULTS_BORN_BY


class Rewrite:
    """Inserts into tables that one transaction emptied; counts the rows per dataset."""

    def __init__(self, city: City, conn: AsyncConnection) -> None:
        self._city = city
        self._conn = conn
        self._pending: asyncio.Task[Any] | None = None
        self._inserts: dict[str, _Insert] = {}
        self.counts: Counter[str] = Counter()

    async def insert(self, dataset: str, rows: Rows) -> None:
        """Insert one chunk; the database works on it while the caller generates the next one."""
        if not rows:
            return
        await self.drain()
        statement = self._inserts.get(dataset)
        if statement is None:
            table = self._city.repository(dataset).table
            statement = self._inserts[dataset] = _Insert.compile(table, self._conn.dialect)
        parameters = statement.parameters(rows)
        self._pending = asyncio.ensure_future(self._conn.exec_driver_sql(statement.sql, parameters))
        # Let the task hand the statement to the driver's thread, so that the database's work
        # overlaps with the caller's generation of the next chunk.
        await asyncio.sleep(0)
        self.counts[dataset] += len(rows)

    async def insert_all(self, dataset: str, rows: Iterable[dict[str, Any]]) -> None:
        """Insert every row of an iterable, chunk by chunk."""
        chunk: Rows = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= CHUNK:
                await self.insert(dataset, chunk)
                chunk = []
        await self.insert(dataset, chunk)

    async def drain(self) -> None:
        """Wait for the insert in flight, if any."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


@asynccontextmanager
async def rewriting(city: City, *datasets: str, version: bool = True) -> AsyncIterator[Rewrite]:
    """Empty the datasets' tables and refill them, all in one transaction: a failed build leaves
    the previous rows in place, and a rebuild never mixes old rows with new ones.

    Each public dataset's new version is recorded in that transaction too, unless `version` is
    False (emptying a table that an import refills at once is no version of its own).
    """
    engines = {id(city.repository(name).engine) for name in datasets}
    if len(engines) != 1:
        raise ValueError(
            f"datasets {datasets} live in different databases; rewrite them one by one"
        )
    engine = city.repository(datasets[0]).engine
    async with engine.begin() as conn:
        for name in datasets:
            await conn.execute(city.repository(name).table.delete())
        rewrite = Rewrite(city, conn)
        try:
            yield rewrite
        finally:
            await rewrite.drain()
        for name in datasets if version else ():
            finish = city.versioning(name, origin="generated", source=GENERATED)
            if finish is not None:
                await finish(conn)


async def replace_dataset(city: City, dataset: str, rows: Iterable[dict[str, Any]]) -> int:
    """Make a dataset hold exactly `rows` (a generator is fine: it is consumed chunk by chunk)."""
    async with rewriting(city, dataset) as rewrite:
        await rewrite.insert_all(dataset, rows)
    return rewrite.counts[dataset]


async def stream_rows(
    city: City,
    dataset: str,
    columns: Sequence[str],
    *,
    where: ColumnElement[bool] | None = None,
    chunk: int = CHUNK,
) -> AsyncIterator[Sequence[Row[Any]]]:
    """Some columns of a dataset in primary-key order (a stable order, so draws are reproducible),
    a chunk at a time."""
    repository = city.repository(dataset)
    table = repository.table
    statement = select(*(table.c[name] for name in columns)).order_by(
        *(table.c[key] for key in repository.primary_key)
    )
    if where is not None:
        statement = statement.where(where)
    async with repository.engine.connect() as conn:
        result = await conn.stream(statement)
        async for part in result.partitions(chunk):
            yield part


async def count_rows(city: City, dataset: str, *, where: ColumnElement[bool] | None = None) -> int:
    """How many rows a dataset holds (that match `where`)."""
    repository = city.repository(dataset)
    statement = select(func.count()).select_from(repository.table)
    if where is not None:
        statement = statement.where(where)
    async with repository.engine.connect() as conn:
        return int((await conn.execute(statement)).scalar_one())


async def tracked_async(
    items: AsyncIterator[T], progress: Progress | None, description: str, total: int | None = None
) -> AsyncIterator[T]:
    """`schema.ingest.tracked` for an async iterator: advance a progress bar per item."""
    if progress is None:
        async for item in items:
            yield item
        return
    task = progress.add_task(description, total=total)
    seen = 0
    async for item in items:
        yield item
        seen += 1
        progress.advance(task)
    # The total was an estimate: end the bar full rather than at 97%.
    progress.update(task, total=seen, completed=seen)
