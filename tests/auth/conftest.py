"""Fixtures of the auth tests: the client registry's database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.clients import create_table, oauth_client
from storage.engines import make_engine


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], scope="session"
)
def auth_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The client registry's database: a SQLite file, then this session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('auth') / 'clients.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(auth_database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the registry database, with an empty oauth_client table."""
    engine = make_engine(auth_database_url)
    await create_table(engine=engine)
    async with engine.begin() as conn:
        await conn.execute(delete(oauth_client))
    yield engine
    await engine.dispose()
