"""A 100-row page of bike stations: the GraphQL endpoint against a bare Starlette endpoint.

    uv run python -m bench.page            # in-process ASGI, then HTTP with wrk if installed

Both endpoints answer the same bytes; the bare one returns them precomputed, so the ratio is what
GraphQL (parsing, validation, execution, SQL, encoding) costs over the HTTP framework alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import create_app
from api.settings import Environment, Settings
from auth.principal import Tier
from bench.harness import call, fill_bike_stations, free_port, interleaved, serve, wrk
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases

QUERY = "{ bikeStations(first: 100) { edges { node { id name capacity latitude longitude districtCode } } } }"
BODY = orjson.dumps({"query": QUERY})
HEADERS = [(b"content-type", b"application/json"), (b"accept", b"application/json")]


def bench_settings(data_dir: Path) -> Settings:
    """The app as deployed, but with the response cache, rate limits and cost budgets off: this
    measures the uncached GraphQL path (bench.cache measures the cache)."""
    return Settings(
        data_dir=data_dir,
        environment=Environment.TEST,
        cache_enabled=False,
        rate_limits=dict.fromkeys(Tier, 0),
        cost_budgets=dict.fromkeys(Tier, 0),
    )


def bare_app(payload: bytes) -> Starlette:
    """The baseline: Starlette answering the same bytes."""

    async def endpoint(_request: Request) -> Response:
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])


def graphql_factory() -> Starlette:
    return create_app(bench_settings(Path(os.environ["CITYGRAPH_DATA_DIR"])))


def bare_factory() -> Starlette:
    return bare_app(Path(os.environ["BENCH_PAYLOAD"]).read_bytes())


async def prepare(data_dir: Path, stations: int) -> None:
    city = City(
        Catalog(builtin_specs()),
        Databases(f"sqlite+aiosqlite:///{(data_dir / 'city.db').resolve()}"),
    )
    await city.migrate()
    await fill_bike_stations(city, stations)
    await city.close()


async def in_process(data_dir: Path, seconds: float) -> bytes:
    app = create_app(bench_settings(data_dir))
    async with app.router.lifespan_context(app):
        status, payload = await call(app, "POST", "/graphql", BODY, HEADERS)
        if status != 200 or b'"errors"' in payload or payload.count(b'"node"') != 100:
            raise SystemExit(f"the query did not answer a clean 100-row page: {payload[:300]!r}")
        baseline = bare_app(payload)
        rates = await interleaved(
            {
                "graphql": lambda: call(app, "POST", "/graphql", BODY, HEADERS),
                "bare starlette": lambda: call(baseline, "POST", "/graphql", BODY, HEADERS),
            },
            rounds=3,
            seconds=seconds,
        )
    print(f"in-process ASGI, {len(payload)} bytes per answer")
    for name, value in rates.items():
        print(f"  {name:>15}: {value:9.0f} req/s")
    print(f"  ratio graphql / bare: {rates['graphql'] / rates['bare starlette']:.3f}")
    return payload


def over_http(data_dir: Path, payload: bytes, seconds: int) -> None:
    work = data_dir / "wrk"
    work.mkdir(exist_ok=True)
    (work / "payload.json").write_bytes(payload)
    (work / "body.json").write_bytes(BODY)
    env = {"CITYGRAPH_DATA_DIR": str(data_dir), "BENCH_PAYLOAD": str(work / "payload.json")}
    results = {}
    for name, factory in (
        ("graphql", "bench.page:graphql_factory"),
        ("bare starlette", "bench.page:bare_factory"),
    ):
        port = free_port()
        proc = serve(factory, port, env)
        try:
            results[name] = wrk(
                f"http://127.0.0.1:{port}/graphql", body_file=work / "body.json", seconds=seconds
            )
        finally:
            proc.terminate()
            proc.wait(10)
    print("HTTP over loopback (uvicorn, one worker each; wrk -t1 -c8)")
    for name, value in results.items():
        print(f"  {name:>15}: {value:9.0f} req/s")
    print(f"  ratio graphql / bare: {results['graphql'] / results['bare starlette']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        asyncio.run(prepare(data_dir, args.stations))
        payload = asyncio.run(in_process(data_dir, args.seconds))
        if not args.no_http:
            try:
                over_http(data_dir, payload, max(3, int(args.seconds * 2)))
            except RuntimeError as exc:
                print(f"HTTP benchmark skipped: {exc}")


if __name__ == "__main__":
    main()
