"""The compiled path's dialects write a column's value, and its cursor, as today's path does.

Given datetimes of every sort (whole seconds, a microsecond, years before 1000) in each kind of
datetime column (naive, timezone=True, sqlmodel's UTCDateTime), when each engine's dialect
writes them in SQL, then the text is Python's `isoformat()` of the value SQLAlchemy reads from
that column, and the cursor is storage.paging's encoding of it; on PostgreSQL whatever the
session's time zone. Given floats of every sort (integral, tiny, huge, NaN, infinities, -0.0),
SQLite's cursors over them too; PostgreSQL writes none, and a test shows why. A root field's
JSON arrives from PostgreSQL as its UTF-8 bytes, from SQLite as a str.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    delete,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.compiled.dialect import Dialect, dialect_named
from storage.engines import make_engine
from storage.paging import encode_cursor
from tests.services import engine_url

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
NUMBERS = Table(
    "numbers",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("real", Float(), nullable=True),
)


@pytest.fixture(params=["sqlite", "postgres"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = engine_url(request, tmp_path / "moments.db")
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


EDGES = [
    2.0,
    -0.0,
    0.0,
    1e15,
    1234567890123456.8,
    -1.2345e15,
    9999999999999998.0,
    1e16,
    1.5e16,
    1e-4,
    1e-5,
    -1.2345678901234e-5,
    9.99e-6,
    1.5e-7,
    5e-324,
    1.7976931348623157e308,
    float("nan"),
    float("inf"),
    float("-inf"),
]
"""Where texts of floats part: around the exponents where Python and PostgreSQL switch to one,
and the values orjson writes as null."""


@SETTINGS
@given(reals=st.lists(st.floats() | st.none(), min_size=1, max_size=12))
@example(reals=EDGES)
async def test_float_cursors_are_written_as_python_writes_them(
    engine: AsyncEngine, reals: list[float | None]
) -> None:
    """SQLite's cursors are Python's own (citygraph_cursor); PostgreSQL writes none (below)."""
    dialect = _dialect(engine)
    column = NUMBERS.c.real
    cursor = dialect.cursor([column], ["float"])
    if engine.dialect.name == "postgresql":
        assert cursor is None  # today's path answers
        return
    assert cursor is not None
    written = select(NUMBERS.c.id, column, cursor).order_by(NUMBERS.c.id)
    async with engine.begin() as conn:
        await conn.execute(delete(NUMBERS))
        await conn.execute(insert(NUMBERS), [{"id": n, "real": r} for n, r in enumerate(reals)])
        found = (await conn.execute(written)).all()
    assert len(found) == len(reals)
    for _id, value, written_cursor in found:
        assert written_cursor == encode_cursor([value]), value


async def test_postgresql_does_not_always_write_a_float_s_shortest_digits(
    fresh_postgres_url: str,
) -> None:
    """Why a PostgreSQL cursor over a float column stays on today's path: a float whose shortest
    decimal lies on the edge of its rounding interval gets a longer one (src/common/d2s.c
    leaves the bounds out), and no rewriting of that text finds orjson's."""
    value = 6.295635839286946e16
    engine = make_engine(fresh_postgres_url)
    try:
        async with engine.connect() as conn:
            shown = (await conn.execute(select(text(f"'{value!r}'::float8::text")))).scalar_one()
    finally:
        await engine.dispose()
    assert float(shown) == value
    assert shown == "6.2956358392869456e+16" != repr(value)


async def test_an_answer_arrives_as_its_utf8_bytes_on_postgresql(engine: AsyncEngine) -> None:
    """PostgreSQL hands a root field's JSON over as bytes (nothing for the server to decode and
    encode again); sqlite3 as a str. Either way, the same JSON."""
    dialect = _dialect(engine)
    json = '{"name":"Rue de l\'Église, côté Nord"}'
    answer = dialect.answer(literal_column("'" + json.replace("'", "''") + "'"))
    async with engine.connect() as conn:
        got = (await conn.execute(select(answer))).scalar_one()
    if engine.dialect.name == "postgresql":
        assert isinstance(got, bytes)
        assert got.decode() == json
    else:
        assert got == json
