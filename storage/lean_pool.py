"""A pool of asyncpg connections for single statements in autocommit, on one event loop.

storage.direct_reads sends one statement per compiled read and one per audit commit group, and
nothing else: no transaction, no session state, nothing to reset. asyncpg's `Pool` costs about
45 µs of CPU per statement here, more than the statement's own client side (a `SELECT 1`: about
90 µs through the pool against 40 on a bare connection, with uvloop): every release shields a
new task, arms an inactivity timer that the next acquire cancels, and every acquire makes a
future and goes through an asyncio.Queue. This pool is a list of idle connections and a queue
of waiters:

- a statement takes an idle connection, else opens one while fewer than `size` are open, else
  waits for the next one given back (first come, first served);
- a connection goes back after its statement, also when the server refused the statement
  (a PostgresError leaves the connection ready for the next one); any other failure (a broken
  connection, a cancel in the middle of a statement) terminates it, and a waiter opens another;
- a waiter cancelled as it was handed a connection gives it back;
- `close()` fails the waiters and closes the idle connections; those in use are closed as they
  come back. `terminate()` does the same without waiting.

Connections live as long as the pool (no idle timeout): at most `size` per engine and worker,
as the engine's own pool keeps.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg


class LeanPool:
    """At most `size` connections made by `connect`, each running one statement at a time."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], *, size: int) -> None:
        self._connect = connect
        self.size = size
        self._idle: list[asyncpg.Connection] = []
        self._open = 0
        """Connections open or being opened."""
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._closing = False

    def is_closing(self) -> bool:
        return self._closing

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run(asyncpg.Connection.fetchrow, sql, args)
        return row

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await self._run(asyncpg.Connection.execute, sql, args)
        return status

    async def _run(
        self, call: Callable[..., Awaitable[Any]], sql: str, args: tuple[Any, ...]
    ) -> Any:
        conn = await self._acquire()
        try:
            result = await call(conn, sql, *args)
        except asyncpg.PostgresError:  # refused by the server: the connection is as it was
            self._release(conn)
            raise
        except BaseException:  # cancelled mid-statement, or the connection broke
            self._discard(conn)
            raise
        self._release(conn)
        return result

    async def _acquire(self) -> asyncpg.Connection:
        while True:
            if self._closing:
                raise asyncpg.InterfaceError("the pool is closing")
            while self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1  # it died while idle (the server restarted)
            if self._open < self.size:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._pass_slot()
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over as we were cancelled
                    found = waiter.result()
                    if found is None:
                        self._pass_slot()
                    else:
                        self._release(found)
                raise
            if handed is not None:
                return handed
            # None: a connection was discarded, and its place is ours to open one in

    def _release(self, conn: asyncpg.Connection) -> None:
        if self._closing or conn.is_closed():
            self._discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def _discard(self, conn: asyncpg.Connection) -> None:
        self._open -= 1
        if not conn.is_closed():
            conn.terminate()
        self._pass_slot()

    def _pass_slot(self) -> None:
        """A place for one more connection is free: the first waiter opens it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _stop(self) -> list[asyncpg.Connection]:
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the pool is closing"))
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        return idle

    async def close(self) -> None:
        """Close the idle connections now, the others as they come back."""
        for conn in self._stop():
            try:
                await conn.close(timeout=5)
            except (TimeoutError, OSError, asyncpg.InterfaceError):
                conn.terminate()

    def terminate(self) -> None:
        for conn in self._stop():
            conn.terminate()
