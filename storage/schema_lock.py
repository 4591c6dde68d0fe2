"""One migration at a time per database, across processes.

Two servers started at once on one database must not both migrate it. PostgreSQL takes an
advisory lock inside the migration's own transaction (storage.migrate); SQLite takes an flock on a
file beside the database, held from before the transaction begins until after it commits, so the
second process waits, then finds the database at its heads and does nothing. An in-memory SQLite
database belongs to one process and needs no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

LOCK_TIMEOUT_S = 120.0
_POLL_S = 0.05


class SchemaLockTimeout(TimeoutError):
    """Another process held the database's migration lock for too long."""


def lock_path(engine: AsyncEngine) -> Path | None:
    """The lock file of a SQLite database file; None for other databases and in-memory ones."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).with_name(Path(database).name + ".migrate-lock")


def _acquire(path: Path, timeout_s: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise SchemaLockTimeout(
                    f"another process has been migrating {path.with_suffix('')} for over "
                    f"{timeout_s:.0f} s"
                ) from None
            time.sleep(_POLL_S)


def _let_go(taken: asyncio.Future[int]) -> None:
    if not taken.cancelled() and taken.exception() is None:
        os.close(taken.result())


@contextlib.asynccontextmanager
async def schema_lock(
    engine: AsyncEngine, *, timeout_s: float = LOCK_TIMEOUT_S
) -> AsyncIterator[None]:
    """Hold this SQLite database's migration lock (a no-op elsewhere: see storage.migrate)."""
    path = lock_path(engine)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    taking = asyncio.ensure_future(asyncio.to_thread(_acquire, path, timeout_s))
    try:
        fd = await asyncio.shield(taking)
    except asyncio.CancelledError:
        # the thread goes on waiting: whatever it takes is let go at once
        taking.add_done_callback(_let_go)
        raise
    try:
        yield
    finally:
        os.close(fd)  # releases the flock
