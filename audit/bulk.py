"""Chained rows into the log's tables in one hop, whatever the database.

An append holds its chain's lock from reading the head to the commit and, on SQLite, the file's
write lock from BEGIN IMMEDIATE to COMMIT. Through SQLAlchemy's async driver every statement was a
hop from the event loop to aiosqlite's thread and back, and between two hops the loop ran other
requests (a GraphQL page takes tens of milliseconds): the file stayed locked that long, and
another process's append (the shipper's) could wait out SQLite's 5 s busy timeout. So:

- SQLite (`sqlite_file`): the whole transaction is one call on a worker thread, on a connection
  opened for it with the engine's pragmas (storage.engines.sqlite_connect); nothing of the loop
  runs while the file is locked.
- PostgreSQL (`recordset_insert`): one statement takes the log's rows as one JSON array
  (`INSERT ... SELECT ... FROM json_populate_recordset(...)`), and makes each record's access
  rows from its body (audit.store.postgresql_append), sent in autocommit through asyncpg
  (storage.direct_reads):
  one round trip, atomic as any single statement is, however many records the group holds.
- Anything else: SQLAlchemy Core (`insert_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class DriverInsert:
    """An INSERT compiled once per dialect, fed positional rows straight to the driver.

    The flush writes thousands of rows a second; SQLAlchemy's per-row work on a Core insert
    with dict parameters (key lookups, type processing per column) cost as much as the
    database's own. The column types' bind processors still run, so the stored values are
    exactly what a Core insert stores (SQLite's DateTime text, for one).
    """

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def rows(self, dicts: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        columns = self.columns
        if not any(self.processors):
            return [tuple([row[name] for name in columns]) for row in dicts]
        pairs = tuple(zip(columns, self.processors, strict=True))
        return [
            tuple([row[name] if proc is None else proc(row[name]) for name, proc in pairs])
            for row in dicts
        ]


@cache
def driver_insert(table: Table, dialect: Dialect) -> DriverInsert | None:
    """`table`'s INSERT for this dialect, or None where its driver's parameters are not positional."""
    compiled = table.insert().compile(dialect=dialect)
    if not compiled.positional or compiled.positiontup is None:
        return None
    columns = tuple(compiled.positiontup)
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    return DriverInsert(str(compiled), columns, processors)


async def insert_rows(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` into `table` in one round trip, through the driver where it can."""
    fast = driver_insert(table, conn.dialect)
    if fast is None:
        await conn.execute(table.insert(), rows)
    else:
        await conn.exec_driver_sql(fast.sql, fast.rows(rows))


@cache
def recordset_insert(table: Table, dialect: Dialect) -> str:
    """PostgreSQL: the INSERT of `table`'s rows given as one JSON array (`$1`).

    The statement's text depends on the table alone, so asyncpg prepares it once per
    connection; a group of 1 or of 500 records is the same statement. The rows go as one JSON
    array (`json_populate_recordset` types them by the table's own row type): one orjson call,
    where column arrays made asyncpg check every value of every row in Python.
    """
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in table.columns)
    name = quote(table.name)
    # our own table's name, quoted; the rows are the parameter
    return (
        f"INSERT INTO {name} ({names}) SELECT {names} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{name}, $1::json)"
    )


def recordset(rows: Sequence[dict[str, Any]]) -> str:
    """`recordset_insert`'s parameter: the rows as a JSON array."""
    return orjson.dumps(rows).decode()


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL, or None (not SQLite, or a database in memory that a connection
    of its own would not see)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or url.query.get("mode") == "memory":
        return None
    return database
