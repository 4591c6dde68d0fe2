"""Database engines: one per department URL, SQLite by default, PostgreSQL (asyncpg) in production."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url, processors
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage import direct_reads
from storage.paging import encode_cursor


def _sqlite_lower(value: Any) -> Any:
    # SQLite's own lower() folds ASCII only; PostgreSQL folds every letter. Text filters must give
    # the same rows on both engines, so SQLite gets Python's Unicode lower() under the same name.
    return value.lower() if isinstance(value, str) else value


def _sqlite_real(value: Any) -> str | None:
    # SQLite's JSON functions write floats with 15 digits; Python writes the shortest exact text,
    # and the compiled path (storage.compiled) must answer what today's path answers
    return None if value is None else repr(float(value))


def _sqlite_round9(value: Any) -> float | None:
    # schema.aggregates rounds averages to 9 decimals in Python; the compiled path does the same
    return None if value is None else round(float(value), 9)


def _sqlite_datetime(value: Any, offset: str) -> str | None:
    # a datetime as today's path answers it: the stored text read by SQLAlchemy's own parser
    # (SQLite's DATETIME), written by isoformat(), with the zone the column type gives it back
    # (`offset`: storage.compiled.dialect.utc_offset)
    return None if value is None else processors.str_to_datetime(value).isoformat() + offset


def _sqlite_cursor(kinds: str, *values: Any) -> str:
    # the compiled path's cursors, by the very function today's path uses; a boolean column
    # comes out of SQLite as 0 or 1, and its cursor holds false or true
    typed = [
        bool(value) if kind == "b" and value is not None else value
        for kind, value in zip(kinds, values, strict=True)
    ]
    return encode_cursor(typed)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver would commit DDL (DROP, CREATE) on its own, outside our transactions; with its
    # transaction handling off, `_on_sqlite_begin` opens every transaction itself, so a failed
    # import rolls back its table changes too (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    dbapi_connection.create_function("lower", 1, _sqlite_lower, deterministic=True)
    dbapi_connection.create_function("citygraph_real", 1, _sqlite_real, deterministic=True)
    dbapi_connection.create_function("citygraph_round9", 1, _sqlite_round9, deterministic=True)
    dbapi_connection.create_function("citygraph_cursor", -1, _sqlite_cursor, deterministic=True)
    dbapi_connection.create_function("citygraph_datetime", 2, _sqlite_datetime, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for an import
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def sqlite_connect(path: str) -> sqlite3.Connection:
    """A plain (synchronous) connection to a SQLite file, set up as the engine's connections are.

    For work that must run whole on one thread, without a hop to the event loop in between (the
    audit log's appends, audit.bulk); usable from any thread, one at a time.
    """
    connection = sqlite3.connect(path, check_same_thread=False)
    _on_sqlite_connect(connection, None)
    return connection


@contextlib.asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that reads and then writes (`engine.begin()` otherwise).

    On SQLite it takes the write lock as it begins (BEGIN IMMEDIATE), waiting for it under the busy
    timeout. Under a plain BEGIN its first read took a snapshot, and if another process committed
    before its write, SQLite refused the write at once (SQLITE_BUSY_SNAPSHOT: no wait, "database is
    locked"). PostgreSQL has no such lock; the option means nothing there.
    """
    async with engine.connect() as conn:
        await conn.execution_options(sqlite_immediate=True)
        async with conn.begin():
            yield conn


def _on_sqlite_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}
"""Plain schemes, as hosting platforms write them in DATABASE_URL, and the async driver of each."""


def async_url(url: str) -> str:
    """A database URL with the driver citygraph runs on: `postgres://u@h/db` becomes
    `postgresql+asyncpg://u@h/db`. libpq's `sslmode` becomes asyncpg's `ssl` (same values), since
    platforms add it and asyncpg refuses it. A URL that names its driver is kept as it is."""
    scheme, sep, rest = url.partition("://")
    driver = ASYNC_DRIVERS.get(scheme.lower()) if sep else None
    if driver is None:
        return url
    parsed = make_url(f"{driver}://{rest}")
    if driver == "postgresql+asyncpg" and "sslmode" in parsed.query:
        query = dict(parsed.query)
        query["ssl"] = query.pop("sslmode")
        parsed = parsed.set(query=query)
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> AsyncEngine:
    """An async engine for `url`, with SQLite given the pragmas and functions the queries expect.

    `hide_parameters`: a failed statement's message would otherwise quote its bound values, and
    those may be personal data on their way to a log.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True
        )
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


async def dispose(engine: AsyncEngine) -> None:
    """Close an engine's pools: SQLAlchemy's and the direct one (storage.direct_reads)."""
    try:
        await direct_reads.close(engine)
    finally:
        await engine.dispose()


class Databases:
    """The engines of every department: a default URL, and per-department overrides."""

    def __init__(self, default_url: str, overrides: Mapping[str, str] | None = None) -> None:
        self._urls = {"*": default_url, **(overrides or {})}
        self._engines: dict[str, AsyncEngine] = {}

    def url_for(self, department: str) -> str:
        """The URL a department's data lives at."""
        return self._urls.get(department, self._urls["*"])

    def engine_for(self, department: str) -> AsyncEngine:
        """The engine of a department, shared with every department on the same URL."""
        url = self.url_for(department)
        if url not in self._engines:
            self._engines[url] = make_engine(url)
        return self._engines[url]

    def engines(self) -> Iterator[AsyncEngine]:
        """Every engine opened so far."""
        return iter(list(self._engines.values()))

    async def dispose(self) -> None:
        """Close every pool."""
        for engine in self._engines.values():
            with contextlib.suppress(Exception):
                await dispose(engine)
        self._engines.clear()


TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})


class StatementCounter:
    """Counts SQL statements sent through some engines; tests use it to prove there is no N+1."""

    def __init__(self, engines: Iterator[AsyncEngine]) -> None:
        self.statements: list[str] = []
        self._engines = list(engines)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            self.statements.append(statement)

    def _direct(self, statement: str) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        for engine in self._engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._count)
            direct_reads.watch(engine, self._direct)
        return self

    def __exit__(self, *_exc: object) -> None:
        for engine in self._engines:
            event.remove(engine.sync_engine, "before_cursor_execute", self._count)
            direct_reads.unwatch(engine, self._direct)
