"""The compiled path against today's field-by-field path, in process, on SQLite.

    uv run python -m bench.compiled                    # 3 interleaved rounds of 2 s per query
    uv run python -m bench.compiled --stations 100000 --seconds 5

Two apps on the same SQLite file, as deployed but with the response cache, rate limits and cost
budgets off: one with CITYGRAPH_COMPILED on (the default), one with it off. Each public query of
bench.peer is asked of both; the benchmark stops unless the answers are equal once parsed, then
prints the requests per second of each (medians of interleaved rounds) and their ratio. bench.peer
measures the same on PostgreSQL, against PostGraphile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from api.app import create_app
from bench.harness import call, fill_bike_stations, interleaved
from bench.page import HEADERS, bench_settings
from bench.peer_queries import SHAPES
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases


async def prepare(data_dir: Path, stations: int) -> None:
    """The districts and `stations` synthetic bike stations in the app's SQLite file."""
    city = City(
        Catalog(builtin_specs()),
        Databases(f"sqlite+aiosqlite:///{(data_dir / 'city.db').resolve()}"),
    )
    await city.migrate()
    await city.repository("districts").upsert(
        [
            {
                "code": f"751{n:02d}",
                "number": n,
                "name": f"Arrondissement {n}",
                "label": f"{n}e",
                "area_m2": 1e6 * n,
                "perimeter_m": 4000.0 + n,
                "population": 1000 * n,
                "latitude": 48.85,
                "longitude": 2.35,
                "geometry": '{"type":"Point","coordinates":[2.35,48.85]}',
            }
            for n in range(1, 21)
        ]
    )
    await fill_bike_stations(city, stations)
    await city.close()


def asker(app: Starlette, body: bytes) -> Callable[[], Awaitable[Any]]:
    """One POST of `body` to the app's /graphql, as many times as called."""
    return lambda: call(app, "POST", "/graphql", body, HEADERS)


async def compare(data_dir: Path, rounds: int, seconds: float) -> None:
    settings = bench_settings(data_dir)
    apps = {
        "compiled": create_app(settings.model_copy(update={"compiled": True})),
        "today": create_app(settings.model_copy(update={"compiled": False})),
    }
    async with (
        apps["compiled"].router.lifespan_context(apps["compiled"]),
        apps["today"].router.lifespan_context(apps["today"]),
    ):
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"  {'query':<32} {'compiled req/s':>15} {'today req/s':>12} {'ratio':>6}")
        for shape in SHAPES:
            if shape.restricted:
                continue  # a staff token and the access log: bench.peer measures it
            body = orjson.dumps({"query": shape.citygraph})
            answers = {}
            for name, app in apps.items():
                status, payload = await call(app, "POST", "/graphql", body, HEADERS)
                answers[name] = orjson.loads(payload)
                if status != 200 or "errors" in answers[name]:
                    raise SystemExit(f"{shape.name}: {name} answered {payload[:300]!r}")
            if answers["compiled"] != answers["today"]:
                raise SystemExit(f"{shape.name}: the two paths answer differently")
            rates = await interleaved(
                {name: asker(app, body) for name, app in apps.items()},
                rounds=rounds,
                seconds=seconds,
            )
            ratio = rates["compiled"] / rates["today"]
            print(
                f"  {shape.name:<32} {rates['compiled']:15.0f} {rates['today']:12.0f} {ratio:6.2f}"
            )
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        asyncio.run(prepare(data_dir, args.stations))
        asyncio.run(compare(data_dir, args.rounds, args.seconds))


if __name__ == "__main__":
    main()
