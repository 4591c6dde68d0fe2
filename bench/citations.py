"""What citing costs: the cached and the uncached public path, each with and without citations.

    uv run python -m bench.citations                                   # SQLite
    uv run python -m bench.citations --postgres postgresql://postgres@127.0.0.1/postgres
    uv run python -m bench.citations --seconds 5

In one run, interleaved (bench.harness.interleaved: rounds that alternate, medians): a 100-row
page of bike stations by GET through the whole app (principal, limits, cost, cache, audit),
answered from the whole-response cache and computed, each by an app that cites public answers
and one that does not (`CITYGRAPH_CITATIONS_ENABLED`). The ratios with / without are the figure:
the target is at most 5% lost (a ratio of 0.95 or more). In-process ASGI, so the ratio is of the
Python work per answer, with no network to hide it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from api.app import create_app
from api.settings import Environment, Settings
from auth.principal import Tier
from bench.cache import get
from bench.harness import fill_bike_stations, interleaved
from bench.peer_database import bench_database
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases, async_url

UNLIMITED = dict.fromkeys(Tier, 10**9)


def settings(data_dir: Path, database_url: str, *, cache: bool, citations: bool) -> Settings:
    return Settings(
        data_dir=data_dir,
        environment=Environment.TEST,
        database_url=database_url,
        cache_enabled=cache,
        citations_enabled=citations,
        rate_period_s=3600.0,
        rate_limits=UNLIMITED,
        cost_budgets=dict.fromkeys(Tier, 3 * 10**9),
        # the access log's shippers (a process per app) ship each contender's records while the
        # next one is measured, which swamps what citing costs; bench.cache measures the log
        audit_enabled=False,
    )


async def prepare(database_url: str, stations: int) -> None:
    city = City(Catalog(builtin_specs()), Databases(database_url))
    await city.migrate()
    await fill_bike_stations(city, stations)
    await city.version_unversioned()  # the rows filled are the stations' first version
    await city.close()


async def run(data_dir: Path, database_url: str, seconds: float, rounds: int) -> dict[str, float]:
    await prepare(database_url, 2_000)
    apps = {
        (cache, cite): create_app(
            settings(data_dir / f"{cache}-{cite}", database_url, cache=cache, citations=cite)
        )
        for cache in (True, False)
        for cite in (False, True)
    }
    contexts = [app.router.lifespan_context(app) for app in apps.values()]
    for context in contexts:
        await context.__aenter__()
    try:
        answers = {key: await get(app) for key, app in apps.items()}
        for (_, cite), (status, body) in answers.items():
            answer = orjson.loads(body)
            if (
                status != 200
                or "errors" in answer
                or len(answer["data"]["bikeStations"]["edges"]) != 100
            ):
                raise SystemExit(f"not a clean 100-row page: {body[:300]!r}")
            if cite != ("citation" in answer.get("extensions", {})):
                raise SystemExit(
                    f"citations {'on' if cite else 'off'} but the answer says otherwise"
                )
        contenders = {
            f"{'cached' if cache else 'uncached'}, citations {'on' if cite else 'off'}": app
            for (cache, cite), app in apps.items()
        }
        rates = await interleaved(
            {name: (lambda app=app: get(app)) for name, app in contenders.items()},  # type: ignore[misc]
            rounds=rounds,
            seconds=seconds,
        )
        rates.update(await cpu_per_answer(contenders, rounds * 2, 50))
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)
    return rates


async def cpu_per_answer(apps: dict[str, Any], rounds: int, count: int) -> dict[str, float]:
    """This process's CPU time per answer (all its threads), in interleaved rounds of `count`
    answers per app, medians: what contention for the machine does not change, unlike
    requests per second on a shared, loaded machine. Interleaved because every app's background
    work (its audit writer's seals and shipping) lands in whichever app is being measured."""
    for app in apps.values():
        for _ in range(10):
            await get(app)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(rounds):
        for name, app in apps.items():
            start = time.process_time()
            for _ in range(count):
                await get(app)
            samples[name].append((time.process_time() - start) / count * 1e6)
    return {f"{name} (CPU µs)": statistics.median(found) for name, found in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server's admin URL (postgresql://postgres@127.0.0.1:5432/postgres): "
        "the bench makes a database of its own there and drops it; default: scratch SQLite",
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 3)))
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        if args.postgres:
            with bench_database(args.postgres, keep=False) as url:
                rates = asyncio.run(run(Path(scratch), async_url(url), args.seconds, args.rounds))
        else:
            url = f"sqlite+aiosqlite:///{Path(scratch).resolve()}/city.db"
            rates = asyncio.run(run(Path(scratch), url, args.seconds, args.rounds))
    print(f"load average after the run: {os.getloadavg()}")
    for name, value in rates.items():
        unit = "" if name.endswith("(CPU µs)") else " req/s"
        print(f"  {name:>34}: {value:9.0f}{unit}")
    for path in ("cached", "uncached"):
        ratio = rates[f"{path}, citations on"] / rates[f"{path}, citations off"]
        cpu = rates[f"{path}, citations on (CPU µs)"] / rates[f"{path}, citations off (CPU µs)"]
        print(
            f"  {path}: req/s with / without citations {ratio:.3f}; "
            f"CPU per answer with / without {cpu:.3f}"
        )


if __name__ == "__main__":
    main()
