"""The spool: records survive a store that is down, a torn last line, and a replay after a crash."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.shipper import ShipperMode
from audit.store import AuditStoreError, ChainAppender
from audit.verify import verify
from audit.writer import AuditUnavailable, AuditWriter
from storage.engines import make_engine
from storage.migrate import upgrade
from tests.audit.conftest import KEY, record
from tests.audit.helpers import reached
from tests.services import free_port


async def logged(engine: AsyncEngine) -> list[str]:
    report = await verify(engine, KEY)
    assert report.ok, report.problems()
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT record_id FROM audit_log ORDER BY chain_id, seq")
        return [r[0] for r in rows]


async def test_a_dead_writers_spool_is_replayed_once_in_order(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    dead = AuditWriter(ChainAppender(log_engine, KEY), spool, flush_interval_s=60)
    await dead.open()
    records = [record(n) for n in range(1, 6)]
    for r in records:
        dead.submit(r.body())
    await dead.flush()  # all five reach the log...
    # ...and then the process dies before the segment is gone: the same lines are left behind
    segment = spool / dead.appender.chain_id / "0000000099.jsonl"
    segment.write_bytes(
        b"".join(
            (__import__("audit.chain").chain.canonical(r.body()) + "\n").encode() for r in records
        )
        + b'{"torn'
    )
    # as a killed process would: its flusher stops, its files (and flock) are let go
    assert dead._task is not None
    assert dead._fd is not None
    assert dead._lock_fd is not None
    dead._task.cancel()
    os.close(dead._fd)
    os.close(dead._lock_fd)
    heir = AuditWriter(ChainAppender(log_engine, KEY), spool, flush_interval_s=60)
    await heir.open()  # the dead writer's lock is free: its folder is replayed
    await heir.close()
    assert await logged(log_engine) == [r.record_id for r in records]  # none twice, in order
    assert not (spool / dead.appender.chain_id).exists()


async def test_a_store_that_is_down_refuses_commits_and_keeps_the_spool(tmp_path: Path) -> None:
    missing = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing")
    writer = AuditWriter(ChainAppender(missing, KEY), tmp_path / "spool", commit_timeout_s=1)
    await writer.open()
    with pytest.raises(AuditUnavailable):
        await writer.commit(record(3).body())
    writer.submit(record(1).body())
    assert await writer.flush() is False
    await writer.close()
    assert list((tmp_path / "spool").rglob("*.jsonl"))  # still there for the next start
    await missing.dispose()


@pytest.mark.parametrize("shipper", ["inline", "process"])
async def test_closing_as_a_batch_fills_ships_it_and_returns(
    log_engine: AsyncEngine, tmp_path: Path, shipper: ShipperMode
) -> None:
    """A shutdown in the very turn the last request filled a batch (seen hanging for good).

    The batch wakes the writer's task and close() cancels it in the same turn of the loop;
    Python 3.11's `asyncio.wait_for` returned the wake-up and dropped the cancellation
    (CPython gh-86296), so the task went on forever and close() with it.
    """
    writer = AuditWriter(
        ChainAppender(log_engine, KEY),
        tmp_path / "spool",
        batch_size=3,
        flush_interval_s=60,  # no timer comes to the rescue
        shipper=shipper,
    )
    await writer.open()
    for _ in range(3):
        await asyncio.sleep(0)  # the task is waiting for its wake-up
    task = writer._task
    assert task is not None
    records = [record(n) for n in range(1, 4)]
    for r in records:
        writer.submit(r.body())  # the third wakes the task...
    start = time.monotonic()
    closing = asyncio.ensure_future(writer.close())  # ...and this cancels it, in the same turn
    done, _ = await asyncio.wait([closing], timeout=20)
    assert closing in done, "close() did not return"  # a hang is a failure, not a timeout
    closing.result()
    assert task.done()
    assert time.monotonic() - start < 20
    assert await logged(log_engine) == [r.record_id for r in records]


async def test_an_append_waits_for_another_process_writing_the_same_sqlite_file(
    tmp_path: Path,
) -> None:
    """SQLite: another process's write in progress makes an append wait, never fail.

    An append reads its chain's head, then writes. In a plain (deferred) transaction that read
    was a snapshot; when another process committed before the write, SQLite refused the write
    at once (SQLITE_BUSY_SNAPSHOT, no busy wait) and a restricted read failed closed (seen in
    CI, eleven processes on one file). The append's transaction now takes the write lock as it
    begins, and waits for it.
    """
    path = tmp_path / "audit.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine, ["audit"])
    # a named chain (a subgraph's, "registry@..."): its head unknown, the append reads it first
    appender = ChainAppender(engine, KEY, chain_id="registry@test")
    other = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE elsewhere (n INTEGER)")
    other.execute("BEGIN IMMEDIATE")  # another process is writing...
    other.execute("INSERT INTO elsewhere VALUES (1)")
    commit_later = asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
    written = record(1)
    try:
        await appender.append([written])  # ...and commits while the append waits
    finally:
        commit_later.cancel()
        other.close()
    assert await logged(engine) == [written.record_id]
    await engine.dispose()


async def test_a_store_refusal_names_the_driver_s_code_and_no_value(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    async with log_engine.begin() as conn:  # a log whose table went missing
        await conn.exec_driver_sql("ALTER TABLE audit_access RENAME TO audit_access_gone")
    appender = ChainAppender(log_engine, KEY)
    body = record(1).body()
    with pytest.raises(AuditStoreError) as refused:
        await appender.append([record(1)])  # audit_log takes the row; audit_access is not there
    expected = {
        "sqlite": "OperationalError (SQLITE_ERROR)",
        "postgresql": "UndefinedTableError (42P01)",  # asyncpg's own: appends go straight to it
    }
    assert str(refused.value) == expected[log_engine.dialect.name]
    assert body["record_id"] not in str(refused.value)


@pytest.mark.slow
@pytest.mark.parametrize("shipper", ["inline", "process"])
async def test_a_shutdown_waits_out_a_lock_held_past_the_busy_timeout(
    tmp_path: Path, shipper: ShipperMode
) -> None:
    """Another connection holds the log's write lock longer than SQLite's busy timeout (5 s)
    just as the server stops: the shutdown's first attempt fails, and it used to give up there,
    leaving every public record of the run spooled (a flaky CI failure)."""
    path = tmp_path / "audit.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine, ["audit"])
    writer = AuditWriter(
        ChainAppender(engine, KEY), tmp_path / "spool", flush_interval_s=60, shipper=shipper
    )
    await writer.open()
    records = [record(n) for n in range(1, 4)]
    for r in records:
        writer.submit(r.body())
    other = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # the lock, until the shutdown has been refused once
    closing = asyncio.ensure_future(writer.close())
    assert await reached(lambda: not writer.store_available)  # its first try was refused
    other.execute("ROLLBACK")
    other.close()
    await asyncio.wait_for(closing, 30)
    assert await logged(engine) == [r.record_id for r in records]
    await engine.dispose()
