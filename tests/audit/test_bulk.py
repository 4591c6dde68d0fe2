"""One hop per append: one statement on PostgreSQL, one worker-thread call on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from audit.store import ChainAppender
from storage.engines import StatementCounter, make_engine
from storage.migrate import upgrade
from tests.audit.conftest import KEY, record
from tests.audit.helpers import eventually
from tests.audit.test_writer import logged


def records_in(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


async def test_a_sqlite_append_holds_the_file_for_its_own_work_alone(tmp_path: Path) -> None:
    """The event loop busy right after an append began (a long GraphQL page, another process's
    shipper waiting on the file): the append commits and lets go of the write lock without it.
    Through the async driver every statement waited for the loop, the file locked meanwhile."""
    path = tmp_path / "audit.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    await upgrade(engine, ["audit"])
    written = record(3)
    appending = asyncio.ensure_future(ChainAppender(engine, KEY).append([written]))
    await asyncio.sleep(0)  # the append has begun
    # from here until the awaits below, the loop runs nothing (these calls block it on purpose)
    assert eventually(lambda: records_in(path), lambda n: n == 1, seconds=10) == 1
    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # no wait: the lock is free
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    await appending
    assert await logged(engine) == [written.record_id]
    await engine.dispose()


async def test_a_postgresql_append_is_one_statement_for_both_tables(
    fresh_postgres_url: str,
) -> None:
    engine = make_engine(fresh_postgres_url)
    await upgrade(engine, ["audit"])
    appender = ChainAppender(engine, KEY)
    group = [record(n) for n in range(1, 10)]  # restricted and public, with and without subjects
    with StatementCounter(iter([engine])) as counter:
        await appender.append(group)
    assert len(counter.statements) == 1
    assert "json_populate_recordset" in counter.statements[0]
    assert await logged(engine) == [r.record_id for r in group]
    async with engine.connect() as conn:
        side = await conn.exec_driver_sql("SELECT count(*) FROM audit_access")
        expected = sum(
            len(r.subjects) + len(r.datasets) + len(r.departments) for r in group
        )  # verify() checks each record's rows against its body; this, that none are missing
        assert side.scalar_one() == expected
    await engine.dispose()


async def test_a_named_chain_reads_its_head_then_appends_after_it(log_engine: AsyncEngine) -> None:
    """A subgraph's chain (`registry@...`) may exist already: its next append follows its head."""
    first, second = record(1), record(2)
    await ChainAppender(log_engine, KEY, chain_id="registry@test").append([first])
    await ChainAppender(log_engine, KEY, chain_id="registry@test").append([second])
    assert await logged(log_engine) == [first.record_id, second.record_id]
