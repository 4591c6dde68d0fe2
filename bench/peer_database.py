"""bench.peer's database: a fresh PostgreSQL database per run, with the Paris import, synthetic
residents, and the foreign key PostGraphile needs for the station -> district relation.

Also `citygraph_env`: how `citygraph serve` and its CLI run in the benchmarks (cache, rate limits
and cost budgets off, audit on, one worker), shared with bench.flat, bench.versions and
bench.citations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from auth.principal import Tier

CITYGRAPH = [sys.executable, "-c", "from api.cli import main; main()"]
FOREIGN_KEY = (
    "ALTER TABLE bike_station ADD CONSTRAINT bench_bike_station_district "
    "FOREIGN KEY (district_code) REFERENCES district (code)"
)


@contextlib.contextmanager
def bench_database(admin_url: str, *, keep: bool, label: str = "peer") -> Iterator[str]:
    """A new database on the server of `admin_url` (libpq URL), dropped afterwards unless `keep`;
    its libpq URL."""
    name = f"citygraph_{label}_{int(time.time())}_{os.getpid()}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        if keep:
            print(f"database kept: {name}")
        else:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def citygraph_env(database_url: str, data_dir: Path, port: int) -> dict[str, str]:
    """`citygraph serve` as measured: cache, rate limits and cost budgets off, audit on."""
    off = json.dumps(dict.fromkeys([t.value for t in Tier], 0))
    return {
        "CITYGRAPH_ENVIRONMENT": "test",
        "CITYGRAPH_DATA_DIR": str(data_dir),
        "CITYGRAPH_DATABASE_URL": "postgresql+asyncpg://" + database_url.split("://", 1)[1],
        "CITYGRAPH_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CITYGRAPH_WORKERS": "1",  # one process each, whatever the caller's environment says
        "CITYGRAPH_CACHE_ENABLED": "false",
        "CITYGRAPH_RATE_LIMITS": off,
        "CITYGRAPH_COST_BUDGETS": off,
        "CITYGRAPH_AUDIT_ENABLED": "true",
        "CITYGRAPH_AUDIT_SHIPPER": "process",
        "CITYGRAPH_LOG_LEVEL": "warning",
    }


def load(database_url: str, data_dir: Path, shared_data: Path, residents: int) -> None:
    """The Paris import, `residents` synthetic residents, and the peer's foreign key."""
    env = {**os.environ, **citygraph_env(database_url, data_dir, 8000)}
    print(f"importing {shared_data} (citygraph import paris)")
    subprocess.run(  # noqa: S603 (our own CLI)
        [*CITYGRAPH, "import", "paris", str(shared_data)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(f"adding {residents} synthetic residents")
    asyncio.run(seed_residents(env["CITYGRAPH_DATABASE_URL"], residents))

    async def constrain() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(FOREIGN_KEY)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

    asyncio.run(constrain())


async def seed_residents(database_url: str, residents: int) -> None:
    from schema.city import City, builtin_specs
    from schema.datasets import Catalog
    from schema.departments.registry import seed as registry
    from schema.departments.seedkit import department_rng
    from schema.departments.territory.seed import Territory
    from storage.engines import Databases

    city = City(Catalog(builtin_specs()), Databases(database_url))
    try:
        territory = await Territory.load(city)
        rng = department_rng(2026, "registry")
        await registry.seed(city=city, rng=rng, territory=territory, residents=residents)
    finally:
        await city.close()
