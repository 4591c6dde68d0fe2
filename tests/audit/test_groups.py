"""Group commit: restricted reads committed together, each released only once its record is durable."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.records import RecordBody
from audit.store import ChainAppender
from audit.writer import AuditUnavailable, AuditWriter
from tests.audit.conftest import KEY, record
from tests.audit.helpers import (
    PURPOSE,
    ask,
    audited_client,
    reached,
    read_log,
    settings_for,
    token,
    verify_log,
)
from tests.audit.test_writer import logged

RESIDENTS_Q = "query People { residents { nodes { id familyName } } }"


def restricted(n: int) -> RecordBody:
    """The body of a restricted read's record (every third record() is one)."""
    return record(3 * n).body()


def store_up(writer: AuditWriter) -> bool:
    """The metrics' gauge, read anew (the writer changes it while the test awaits)."""
    return writer.store_available


@contextlib.asynccontextmanager
async def open_writer(engine: AsyncEngine, spool: Path) -> AsyncIterator[AuditWriter]:
    writer = AuditWriter(ChainAppender(engine, KEY), spool, flush_interval_s=60)
    await writer.open()
    try:
        yield writer
    finally:
        await writer.close()


@contextlib.asynccontextmanager
async def log_locked(engine: AsyncEngine) -> AsyncIterator[None]:
    """Another connection holds the log's write lock for the block: every append waits for it."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database is not None
        other = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    async with engine.connect() as conn, conn.begin() as transaction:
        await conn.exec_driver_sql("LOCK TABLE audit_log IN EXCLUSIVE MODE")
        yield
        await transaction.rollback()


async def test_concurrent_restricted_reads_share_transactions_on_one_chain(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    bodies = [restricted(n) for n in range(1, 41)]
    async with open_writer(log_engine, tmp_path / "spool") as writer:
        await asyncio.gather(*(writer.commit(body) for body in bodies))
        groups = writer.groups.groups
    # every record, once, in the order the reads queued, on one gapless chain that verifies
    assert await logged(log_engine) == [body["record_id"] for body in bodies]
    assert 1 <= groups < len(bodies)  # and fewer transactions than records


async def test_a_failed_group_fails_each_waiter_closed_and_loses_nothing_else(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    first = [restricted(n) for n in range(1, 6)]
    async with open_writer(log_engine, tmp_path / "spool") as writer:
        await asyncio.gather(*(writer.commit(body) for body in first))
        public = record(1).body()
        writer.submit(public)  # spooled meanwhile: it must still reach the log
        # a record_id already in the log: the database refuses the whole group's transaction
        doomed = [restricted(n) for n in range(6, 10)]
        doomed.append({**restricted(10), "record_id": first[0]["record_id"]})
        outcomes = await asyncio.gather(
            *(writer.commit(body) for body in doomed), return_exceptions=True
        )
        assert all(isinstance(o, AuditUnavailable) for o in outcomes), outcomes
        assert not store_up(writer)
        after = restricted(11)
        await writer.commit(after)  # the chain goes on from the last committed record
        assert store_up(writer)
    # the first group, the later read and the public record; none of the refused group
    ids = await logged(log_engine)
    expected = [b["record_id"] for b in first] + [after["record_id"], public["record_id"]]
    assert sorted(ids) == sorted(expected)


async def test_shutdown_waits_for_the_commits_in_flight(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    bodies = [restricted(n) for n in range(1, 9)]
    writer = AuditWriter(ChainAppender(log_engine, KEY), tmp_path / "spool", flush_interval_s=60)
    await writer.open()
    async with log_locked(log_engine):
        commits = [asyncio.ensure_future(writer.commit(body)) for body in bodies]
        assert await reached(lambda: writer.groups.groups == 1)  # their group waits for the lock
        closing = asyncio.ensure_future(writer.close())
        await asyncio.sleep(0)  # the shutdown has begun while the group is still blocked
        assert not closing.done()
    await closing
    # close() returned: every read it waited for is in the log and was told so
    assert await logged(log_engine) == [body["record_id"] for body in bodies]
    assert all(c.done() and c.exception() is None for c in commits)


async def test_a_commit_returns_only_once_its_record_is_durable(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    """The answer waits on commit(): read the log from another connection the moment it returns."""
    body = restricted(1)
    async with open_writer(log_engine, tmp_path / "spool") as writer:
        async with log_locked(log_engine):
            committing = asyncio.ensure_future(writer.commit(body))
            assert await reached(lambda: writer.groups.groups == 1)
            assert not committing.done()  # the lock holds the record back, and the answer too
        await committing
        assert await logged(log_engine) == [body["record_id"]]


async def test_a_caller_that_gives_up_before_its_group_is_taken_leaves_no_record(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    kept, dropped = restricted(1), restricted(2)
    async with open_writer(log_engine, tmp_path / "spool") as writer:
        async with log_locked(log_engine):
            first = asyncio.ensure_future(writer.commit(kept))
            assert await reached(lambda: writer.groups.groups == 1)  # in flight, blocked
            second = asyncio.ensure_future(writer.commit(dropped))  # queued behind it
            await asyncio.sleep(0)
            second.cancel()  # a client gone, a deadline passed
        await first
        with pytest.raises(asyncio.CancelledError):
            await second
    assert await logged(log_engine) == [kept["record_id"]]


@pytest.fixture(params=["sqlite", "postgres"])
def log_urls(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
    else:
        yield {"audit": request.getfixturevalue("fresh_postgres_url")}


def test_concurrent_restricted_requests_each_leave_their_record_before_their_answer(
    tmp_path: Path, log_urls: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, database_urls=log_urls, audit_flush_interval_s=60)
    staff = token(tmp_path, ["registry:read"])
    with audited_client(settings) as client, ThreadPoolExecutor(max_workers=8) as pool:

        def read(n: int) -> tuple[int, bool]:
            request_id = f"group-{n}"
            response = ask(client, RESIDENTS_Q, staff, **PURPOSE, **{"X-Request-Id": request_id})
            # this answer has left the server: its own record must be in the log already
            logged_first = any(r["request_id"] == request_id for r in read_log(settings))
            return response.status_code, logged_first

        outcomes = list(pool.map(read, range(16)))
        assert outcomes == [(200, True)] * 16
        records = read_log(settings)
    assert len([r for r in records if r["restricted"]]) == 16
    assert all(r["subjects"] and r["outcome"] == "served" for r in records if r["restricted"])
    report = verify_log(settings)
    assert report.ok, report.problems()
