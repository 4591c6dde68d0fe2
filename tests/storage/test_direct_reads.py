"""Compiled reads sent straight through asyncpg (storage.direct_reads), on PostgreSQL.

Given a statement with every kind of parameter the compiler binds (text, numbers, dates, an IN
list, a limit), when it is compiled once and read through the direct pool, then the row is the
one SQLAlchemy reads, the statement counter sees it, and disposing the databases closes the pool.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import func, select

from storage import direct_reads
from storage.engines import Databases, StatementCounter

TABLE = sa.Table(
    "direct_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("day", sa.Date),
)


async def test_a_direct_read_is_the_row_sqlalchemy_reads(postgres_url: str) -> None:
    databases = Databases(postgres_url)
    engine = databases.engine_for("probe")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(TABLE.metadata.create_all)
            await conn.execute(
                TABLE.insert(),
                [
                    {"id": n, "name": f"row {n}", "day": datetime.date(2026, 1, n)}
                    for n in range(1, 8)
                ],
            )
        rows = (
            select(TABLE.c.id, TABLE.c.name)
            .where(
                TABLE.c.name != "row 2",
                TABLE.c.day >= datetime.date(2026, 1, 2),
                TABLE.c.id.in_([2, 3, 5, 6]),
            )
            .order_by(TABLE.c.id)
            .limit(2)
            .subquery()
        )
        answer = func.json_agg(func.json_build_object("id", rows.c.id, "label", "x"))
        statement = select(sa.cast(answer, sa.Text), func.count())
        async with engine.connect() as conn:
            expected = (await conn.execute(statement)).first()

        compiled = direct_reads.sent(statement, engine)
        with StatementCounter(databases.engines()) as counted:
            row = await direct_reads.fetch_row(engine, compiled)

        assert row is not None
        assert expected is not None
        assert tuple(row) == tuple(expected)
        assert counted.statements == [compiled.sql]
        pool = await direct_reads.POOLS.pool(engine)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(TABLE.metadata.drop_all)
        await databases.dispose()
    assert pool.is_closing()
