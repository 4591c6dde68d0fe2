"""The audit branch builds exactly audit.store's tables, append-only, on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from audit.store import ChainAppender, metadata
from storage.engines import make_engine
from storage.migrate import upgrade
from tests.audit.conftest import KEY, record
from tests.services import engine_url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return engine_url(request, tmp_path / "migrated.db")


async def test_the_audit_branch_matches_the_tables_and_refuses_updates(database_url: str) -> None:
    engine = make_engine(database_url)
    await upgrade(engine, ["audit"])

    def diff(sync: Any) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []
    await ChainAppender(engine, KEY).append([record(1), record(3)])
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM audit_log")
    await engine.dispose()
