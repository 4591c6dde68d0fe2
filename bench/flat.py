"""Page cost against table size: a staff member's 100-row residents page at 10,000 and 1,000,000.

    uv run python -m bench.flat                                  # both engines, 10k and 1M
    uv run python -m bench.flat --engines sqlite --sizes 10000,100000 --requests 60

DESIGN section 9: the median of a page at 1M rows is within 1.2x of its median at 10k. For each
engine and size, a database of its own is migrated and filled with generated residents (in SQL:
a million rows in seconds, where the demo's seeder takes minutes with every dataset drawn from
them), then the page is asked, interleaved across sizes so the machine's load weighs alike:

- through the app, in-process: `residents(first: 100, after:)` without `totalCount`, a staff token
  with `registry:read` and a purpose, audit on, cache off; the first page, the page after a cursor
  in the middle and the page after a cursor 150 rows before the end;
- the page's statement alone (`Repository.page`), the part that depends on the table's size;
- `totalCount` alone (a COUNT(*), O(n) on both engines: reported, not a target).

It prints p50 and p99 of each and the ratio of p50s, largest size over smallest; the verdict is the
issue's, on the pages through the app. The statement alone costs 1-2 ms against tens through the
app, so it is asked four times as often: on a shared machine its median moves with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.settings import Environment, Settings
from auth.keys import KeyStore
from auth.principal import Tier
from auth.server import sign_access_token
from bench.harness import call
from bench.peer import PURPOSE
from bench.peer_database import bench_database
from bench.peer_queries import RESIDENT_PAGE
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases
from storage.paging import SortKey, encode_cursor
from storage.repository import PageQuery

PAGE = f"query Page($after: String) {{ residents(first: 100, after: $after) {{ nodes {{ {RESIDENT_PAGE} }} }} }}"
TARGET = 1.2
Key = tuple[str, int]

# Deterministic, plausible rows: ids R00000000.. in primary-key order, two per household, spread
# over the 20 arrondissements and 80 quartiers. Only the count matters to a keyset page.
FILL = {
    "sqlite": """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO resident (id, given_name, family_name, birth_date, sex, household_id, address,
                      district_code, quartier_code)
SELECT printf('R%08d', i), 'Given' || (i % 97), 'Family' || (i % 1009),
       date('1940-01-01', '+' || (i % 25000) || ' days'), substr('FMX', i % 3 + 1, 1),
       printf('H%08d', i / 2), (i % 200 + 1) || ' rue Generated', printf('751%02d', i % 20 + 1),
       printf('751%02d%d', i % 20 + 1, i % 4 + 1)
FROM n
""",
    "postgresql": """
INSERT INTO resident (id, given_name, family_name, birth_date, sex, household_id, address,
                      district_code, quartier_code)
SELECT 'R' || lpad(i::text, 8, '0'), 'Given' || (i % 97), 'Family' || (i % 1009),
       date '1940-01-01' + (i % 25000), substr('FMX', i % 3 + 1, 1),
       'H' || lpad((i / 2)::text, 8, '0'), (i % 200 + 1) || ' rue Generated',
       '751' || lpad((i % 20 + 1)::text, 2, '0'), '751' || lpad((i % 20 + 1)::text, 2, '0') || (i % 4 + 1)
FROM generate_series(0, :count - 1) AS i
""",
}


def resident_id(n: int) -> str:
    """The id `fill_residents` gives its n-th row."""
    return f"R{n:08d}"


async def fill_residents(engine: AsyncEngine, count: int) -> None:
    """Replace the resident table's rows with `count` generated ones, and refresh the statistics
    the planner reads."""
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM resident"))
        if count:
            await conn.execute(text(FILL[engine.dialect.name]), {"count": count})
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE resident"))
        await conn.commit()


@dataclass
class Case:
    """One page asked of one database, and its timings in ms."""

    engine: str
    size: int
    what: str
    ask: Callable[[], Awaitable[Any]]
    samples: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def settings_for(data_dir: Path, database_url: str) -> Settings:
    """The app as deployed but for the response cache, rate limits and cost budgets."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        environment=Environment.TEST,
        cache_enabled=False,
        rate_limits=dict.fromkeys(Tier, 0),
        cost_budgets=dict.fromkeys(Tier, 0),
    )


def staff_token(settings: Settings) -> str:
    """What `citygraph token --scopes registry:read` prints, signed with the app's own keys."""
    return sign_access_token(
        keys=KeyStore(settings.signing_keys_dir).signing_keys(),
        issuer=settings.base_url,
        audience=settings.token_audience,
        subject="agent-7",
        client_id="citygraph-dev",
        scopes=["registry:read"],
        lifetime_s=3600,
        extra={},
    )


async def prepare(url: str, size: int) -> None:
    city = City(Catalog(builtin_specs()), Databases(url))
    await city.migrate()
    started = time.perf_counter()
    await fill_residents(city.repository("residents").engine, size)
    print(f"  {size:>9,} residents in {time.perf_counter() - started:.1f} s")
    await city.close()


@contextmanager
def postgres_database(admin_url: str, label: str) -> Iterator[str]:
    """A new database on the server of `admin_url` (libpq URL), dropped afterwards; its URL
    for SQLAlchemy's asyncpg dialect."""
    with bench_database(admin_url, keep=False, label=f"flat_{label}") as url:
        yield "postgresql+asyncpg://" + url.split("://", 1)[1]


@contextmanager
def databases(engines: list[str], sizes: list[int], postgres: str) -> Iterator[dict[Key, str]]:
    """A database URL per (engine, size), each removed at the end."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls: dict[Key, str] = {}
        for engine in engines:
            for size in sizes:
                if engine == "sqlite":
                    urls[engine, size] = f"sqlite+aiosqlite:///{tmp}/{size}.db"
                else:
                    urls[engine, size] = stack.enter_context(postgres_database(postgres, str(size)))
        yield urls


def cases_for(engine: str, size: int, app: Any, city: City, token: str) -> list[Case]:
    """The pages asked of one database: through the app, as a statement, and its count."""
    headers = [
        (b"content-type", b"application/json"),
        (b"accept", b"application/json"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"citygraph-purpose", PURPOSE.encode()),
    ]
    repo = city.repository("residents")
    cases = []
    for what, after in (
        ("first page", None),
        ("middle", resident_id(size // 2)),
        ("150 from end", resident_id(size - 150)),
    ):
        cursor = encode_cursor([after]) if after else None
        body = orjson.dumps({"query": PAGE, "variables": {"after": cursor}})

        async def graphql(b: bytes = body) -> None:
            status, payload = await call(app, "POST", "/graphql", b, headers)
            if status != 200 or payload.count(b'"id"') != 100:
                raise SystemExit(f"not a clean 100-row page: {payload[:300]!r}")

        query = PageQuery(order=(SortKey("id"),), first=100, after=(after,) if after else None)

        async def statement(q: PageQuery = query) -> None:
            await repo.page(q)

        cases.append(Case(engine, size, f"graphql, {what}", graphql))
        cases.append(Case(engine, size, f"statement, {what}", statement))

    async def total() -> None:
        await repo.count(None)

    cases.append(Case(engine, size, "totalCount alone (COUNT(*))", total))
    return cases


async def measure(urls: dict[Key, str], requests: int, rounds: int, scratch: Path) -> list[Case]:
    """Every case, `requests` times, in rounds that alternate between sizes and engines."""
    cases: list[Case] = []
    async with AsyncExitStack() as stack:
        for (engine, size), url in urls.items():
            data_dir = scratch / f"{engine}-{size}"
            settings = settings_for(data_dir, url)
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            city = City(Catalog(builtin_specs()), Databases(url))
            stack.push_async_callback(city.close)
            cases += cases_for(engine, size, app, city, staff_token(settings))
        for case in cases:  # warm pools, caches and the page cache of each database
            for _ in range(3):
                await case.ask()
        # request by request, each page at every size in turn: a burst of load on the machine
        # then weighs on every size alike
        pairs: dict[tuple[str, str], list[Case]] = {}
        for case in cases:
            pairs.setdefault((case.engine, case.what), []).append(case)
        per_round = max(1, requests // rounds)
        for _ in range(rounds):
            for (_engine, what), group in pairs.items():
                times = {"graphql": per_round, "statement": 4 * per_round}.get(
                    what.split(",")[0], 1
                )
                for _ in range(times):
                    for case in group:
                        started = time.perf_counter()
                        await case.ask()
                        case.samples.append((time.perf_counter() - started) * 1000)
    return cases


def report(cases: list[Case], sizes: list[int]) -> bool:
    """Print the table; True when every page meets the target."""
    small, large = min(sizes), max(sizes)
    by_key = {(c.engine, c.size, c.what): c for c in cases}
    print(
        f"\n| engine | page | p50 ms {small:,} | p99 ms {small:,} | p50 ms {large:,} | p99 ms {large:,} | ratio of p50s |"
    )
    print("|---|---|---|---|---|---|---|")
    met = True
    for c in cases:
        if c.size != small:
            continue
        big = by_key[c.engine, large, c.what]
        ratio = statistics.median(big.samples) / statistics.median(c.samples)
        if c.what.startswith("graphql"):
            met &= ratio <= TARGET
        print(
            f"| {c.engine} | {c.what} | {statistics.median(c.samples):.2f} | {percentile(c.samples, 0.99):.2f} "
            f"| {statistics.median(big.samples):.2f} | {percentile(big.samples, 0.99):.2f} | {ratio:.2f} |"
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--requests", type=int, default=150, help="timed requests per page")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CITYGRAPH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="libpq URL of a maintenance database (a database per size is created there)",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if min(sizes) < 300:
        raise SystemExit("sizes start at 300 rows: the deepest page starts 150 rows from the end")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with databases(engines, sizes, args.postgres) as urls, tempfile.TemporaryDirectory() as tmp:
        for (engine, size), url in urls.items():
            print(f"{engine}:")
            asyncio.run(prepare(url, size))
        cases = asyncio.run(measure(urls, args.requests, args.rounds, Path(tmp)))
    met = report(cases, sizes)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdict = "every page meets" if met else "some page misses"
    print(f"{verdict} the target: p50 at {max(sizes):,} within {TARGET}x of p50 at {min(sizes):,}")


if __name__ == "__main__":
    main()
