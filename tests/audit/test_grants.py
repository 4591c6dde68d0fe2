"""PostgreSQL: the application's role may insert and read the log, nothing else."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.store import ChainAppender, grant_append_only
from storage.engines import make_engine
from tests.audit.conftest import KEY, record
from tests.services import libpq_url


@pytest.mark.parametrize("log_engine", ["postgres"], indirect=True)
async def test_the_application_role_may_only_insert_and_read(log_engine: AsyncEngine) -> None:
    role = f"citygraph_test_app_{secrets.token_hex(4)}"  # roles are server-wide: one of our own
    url = log_engine.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        await grant_append_only(log_engine, role)
        app = make_engine(log_engine.url.set(username=role).render_as_string(hide_password=False))
        await ChainAppender(app, KEY).append([record(1), record(3)])  # inserts are allowed
        with psycopg.connect(libpq_url(url), user=role, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (2,)
            for statement in (
                "UPDATE audit_log SET outcome = 'denied'",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
                "DROP TABLE audit_log",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
        await app.dispose()
    finally:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
