"""The compiled path's dialects write a column's value, and its cursor, as today's path does.

Given datetimes of every sort (whole seconds, a microsecond, years before 1000) in each kind of
datetime column (naive, timezone=True, sqlmodel's UTCDateTime), when each engine's dialect
writes them in SQL, then the text is Python's `isoformat()` of the value SQLAlchemy reads from
that column, and the cursor is storage.paging's encoding of it; on PostgreSQL whatever the
session's time zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, DateTime, Integer, MetaData, Table, delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.compiled.dialect import Dialect, dialect_named
from storage.engines import make_engine
from storage.paging import encode_cursor

METADATA = MetaData()
MOMENTS = Table(
    "moments",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("naive", DateTime(), nullable=True),
    Column("zoned", DateTime(timezone=True), nullable=True),
    Column("utc", UTCDateTime(), nullable=True),
)
DATETIME_COLUMNS = ("naive", "zoned", "utc")


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/moments.db"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    made = make_engine(url)
    async with made.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield made
    await made.dispose()


def _dialect(engine: AsyncEngine) -> Dialect:
    found = dialect_named(engine.dialect.name)
    assert found is not None
    return found


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(moments=st.lists(st.datetimes(timezones=st.just(UTC)) | st.none(), min_size=1, max_size=8))
@example(
    moments=[
        datetime(2019, 6, 1, 5, tzinfo=UTC),
        datetime(2019, 6, 5, 1, 2, 3, 450_000, tzinfo=UTC),
        datetime(2019, 6, 5, 1, 2, 3, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        None,
    ]
)
async def test_datetimes_are_written_as_python_writes_them(
    engine: AsyncEngine, moments: list[datetime | None]
) -> None:
    dialect = _dialect(engine)
    rows = [
        {
            "id": n,
            "naive": moment and moment.replace(tzinfo=None),
            "zoned": moment,
            "utc": moment,
        }
        for n, moment in enumerate(moments)
    ]
    columns = [MOMENTS.c[name] for name in DATETIME_COLUMNS]
    written = select(
        MOMENTS.c.id,
        *columns,
        *(dialect.datetime_text(c) for c in columns),
        *(dialect.cursor([c], ["datetime"]) for c in columns),
    ).order_by(MOMENTS.c.id)
    async with engine.begin() as conn:
        await conn.execute(delete(MOMENTS))
        await conn.execute(insert(MOMENTS), rows)
        if engine.dialect.name == "postgresql":  # a timestamptz is shown in the session's zone
            await conn.execute(text("SET TIME ZONE 'Pacific/Chatham'"))
        found = (await conn.execute(written)).all()
    assert len(found) == len(moments)
    width = len(columns)
    for row in found:
        values = row[1 : 1 + width]
        texts = row[1 + width : 1 + 2 * width]
        cursors = row[1 + 2 * width :]
        assert list(texts) == [None if v is None else v.isoformat() for v in values]
        assert list(cursors) == [encode_cursor([v]) for v in values]
