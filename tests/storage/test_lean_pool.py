"""The direct reads' pool (storage.lean_pool) on the machine's PostgreSQL.

Given a pool of two connections, when more statements than that run at once, then no more than
two connections are ever open and every statement is answered in turn; a refused statement
keeps its connection; a cancelled statement or a broken connection loses its connection and a
waiter opens another; a waiter cancelled as it is handed a connection gives it back; closing
fails the waiters and closes every connection, idle or in use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from storage.lean_pool import LeanPool


def libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


class Opened:
    """`connect` for a pool, keeping every connection it made."""

    def __init__(self, url: str) -> None:
        self.url = libpq(url)
        self.made: list[asyncpg.Connection] = []

    async def __call__(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.url)
        self.made.append(conn)
        return conn

    def alive(self) -> int:
        return sum(not c.is_closed() for c in self.made)


@contextlib.asynccontextmanager
async def pool_of(url: str, *, size: int = 1) -> AsyncIterator[tuple[Opened, LeanPool]]:
    """A pool of `size` connections and what opened them, closed afterwards."""
    opened = Opened(url)
    pool = LeanPool(opened, size=size)
    try:
        yield opened, pool
    finally:
        await pool.close()


async def test_at_most_size_connections_serve_every_statement_in_turn(postgres_url: str) -> None:
    async with pool_of(postgres_url, size=2) as (opened, pool):
        rows = await asyncio.gather(
            *(pool.fetchrow("SELECT $1::int AS n, pg_sleep(0.02)", n) for n in range(9))
        )
        assert [row["n"] for row in rows if row is not None] == list(range(9))
        assert len(opened.made) == 2
        assert opened.alive() == 2
    assert opened.alive() == 0
    with pytest.raises(asyncpg.InterfaceError, match="closing"):
        await pool.fetchrow("SELECT 1")


async def test_a_refused_statement_keeps_its_connection(postgres_url: str) -> None:
    async with pool_of(postgres_url) as (opened, pool):
        with pytest.raises(asyncpg.UndefinedTableError):
            await pool.execute("SELECT * FROM no_such_table")
        row = await pool.fetchrow("SELECT 2 AS two")
        assert row is not None
        assert row["two"] == 2
        assert len(opened.made) == 1


async def test_a_cancelled_statement_loses_its_connection_and_a_waiter_opens_another(
    postgres_url: str,
) -> None:
    async with pool_of(postgres_url) as (opened, pool):
        slow = asyncio.ensure_future(pool.fetchrow("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.2)  # the statement runs on the pool's only connection
        waiting = asyncio.ensure_future(pool.fetchrow("SELECT 3 AS three"))
        await asyncio.sleep(0.05)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        row = await asyncio.wait_for(waiting, 5)
        assert row is not None
        assert row["three"] == 3
        assert len(opened.made) == 2
        assert opened.made[0].is_closed()  # terminated: it was in the middle of a statement


async def test_a_broken_connection_is_replaced(postgres_url: str) -> None:
    async with pool_of(postgres_url) as (opened, pool):
        await pool.fetchrow("SELECT 1")
        opened.made[0].terminate()  # as a server restart leaves an idle connection
        row = await pool.fetchrow("SELECT 4 AS four")
        assert row is not None
        assert row["four"] == 4
        assert len(opened.made) == 2


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_gives_it_back(
    postgres_url: str,
) -> None:
    async with pool_of(postgres_url) as (opened, pool):
        conn = await pool._acquire()
        waiter = asyncio.ensure_future(pool._acquire())
        await asyncio.sleep(0)  # it waits
        pool._release(conn)  # handed to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs again
        with pytest.raises(asyncio.CancelledError):
            await waiter
        row = await asyncio.wait_for(pool.fetchrow("SELECT 5 AS five"), 5)
        assert row is not None
        assert row["five"] == 5
        assert len(opened.made) == 1


async def test_closing_fails_the_waiters_and_closes_connections_in_use(postgres_url: str) -> None:
    opened = Opened(postgres_url)
    pool = LeanPool(opened, size=1)
    busy = asyncio.ensure_future(pool.fetchrow("SELECT pg_sleep(0.3)"))
    await asyncio.sleep(0.1)
    waiting = asyncio.ensure_future(pool.fetchrow("SELECT 1"))
    await asyncio.sleep(0.05)
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError, match="closing"):
        await waiting
    await busy  # the statement in flight finishes; its connection is closed as it comes back
    assert opened.alive() == 0
