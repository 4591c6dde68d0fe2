"""bench.audit_commit's contenders write real, verifiable chains: the baseline is no stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.verify import verify
from bench.audit_commit import KEY, contenders, drive
from storage.engines import make_engine
from tests.services import engine_url


@pytest.fixture(params=["sqlite", "postgres"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return engine_url(request, tmp_path / "log.db")


async def test_every_contender_commits_records_that_verify(log_url: str, tmp_path: Path) -> None:
    async with contenders(log_url, tmp_path / "spool") as found:
        done = {}
        for name, commit in found["commits"].items():
            done[name] = len((await drive(commit, clients=4, seconds=0.2)).latencies)
        assert found["writer"].groups.groups >= 1
    assert all(count > 0 for count in done.values()), done
    engine = make_engine(log_url)
    try:
        report = await verify(engine, KEY)
        async with engine.connect() as conn:
            chained = (await conn.exec_driver_sql("SELECT count(*) FROM audit_log")).scalar_one()
    finally:
        await engine.dispose()
    assert report.ok, report.problems()
    # the ceiling's rows go to a table of its own; every other commit is one chained record
    assert chained == sum(count for name, count in done.items() if name != "ceiling")
