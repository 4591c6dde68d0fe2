"""Audit fixtures: a log on SQLite or PostgreSQL, records to fill it with, and tampering helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.records import AccessRecord
from storage.engines import make_engine
from storage.migrate import upgrade
from tests.services import engine_url

KEY = bytes(range(32))
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def record(n: int, **overrides: object) -> AccessRecord:
    """A plausible record, the n-th of a run; restricted every third."""
    restricted = n % 3 == 0
    values: dict[str, object] = {
        "request_id": f"req-{n}",
        "at": T0 + timedelta(seconds=n),
        "tier": "staff" if restricted else "anonymous",
        "outcome": "served",
        "status": 200,
        "latency_ms": 1.5 + n,
        "subject": "agent-7" if restricted else None,
        "client_id": "back-office" if restricted else None,
        "pseudonym": None if restricted else f"p:{n:032x}",
        "operation": "Q",
        "document_hash": "ab" * 32,
        "datasets": ["residents"] if restricted else ["bikeStations"],
        "departments": ["registry"] if restricted else ["mobility"],
        "fields": ["Resident.familyName"] if restricted else [],
        "subjects": [f"R{n}"] if restricted else [],
        "restricted": restricted,
        "legal_basis": "CGCT-L2122-32" if restricted else None,
        "case_reference": "EC-1" if restricted else None,
    }
    values.update(overrides)
    return AccessRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
async def log_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty log with its triggers, on SQLite and on PostgreSQL."""
    url = engine_url(request, tmp_path / "audit.db")
    engine = make_engine(url)
    await upgrade(engine, ["audit"])
    yield engine
    await engine.dispose()


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """Run statements as the database's owner would, append-only triggers switched off."""
    async with engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            for table in ("audit_log", "audit_access"):
                await conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for table in ("audit_log", "audit_access"):
                for op in ("update", "delete"):
                    await conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        for statement in statements:
            await conn.exec_driver_sql(statement)
        if postgres:
            for table in ("audit_log", "audit_access"):
                await conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
