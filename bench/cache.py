"""The whole-response cache: a cached public query against a bare Starlette endpoint, and uncached.

    uv run python -m bench.cache                      # in-process ASGI, then HTTP with wrk
    uv run python -m bench.cache --redis redis://127.0.0.1:6379/15   # limits and cache in Redis

In one run, interleaved: the GraphQL endpoint answering a 100-row page from the cache (the whole
pipeline: principal, rate limit, cost, cache lookup with dataset versions, ETag, and the audit
record every request gets), the same with audit off (what the cache path itself costs), a bare
Starlette endpoint returning the same bytes, and the same query with the cache off.

DESIGN section 9's target, cached / bare >= 0.5, is a throughput: what clients get from a server,
so it is read over HTTP (uvicorn and wrk on loopback), where the audited answer is measured with
the access log's shipper in its own process (production's default) and inline (the flush in the
server). In process, with no server at all, the bare endpoint costs almost nothing (~9 µs) and the
ratio only says how much Python the pipeline runs per answer: its time per answer is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.app import create_app
from api.settings import Environment, Settings
from auth.principal import Tier
from bench.harness import free_port, interleaved, serve, wrk
from bench.page import prepare

QUERY = "{ bikeStations(first: 100) { edges { node { id name capacity latitude longitude districtCode } } } }"
QUERY_STRING = urlencode({"query": QUERY}).encode()
HEADERS = [(b"accept", b"application/json")]
UNLIMITED = dict.fromkeys(Tier, 10**9)
"""Per hour: limits that never refuse in a run, yet are taken like real ones."""


def bare_app(payload: bytes) -> Starlette:
    """The baseline: Starlette answering the same bytes to a GET."""

    async def endpoint(_request: Request) -> Response:
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/graphql", endpoint)])


def settings(data_dir: Path, *, cache: bool, redis_url: str | None, audit: bool = True) -> Settings:
    # limits stay on (they are part of every request's cost), set too high to refuse anything
    return Settings(
        data_dir=data_dir,
        environment=Environment.TEST,
        cache_enabled=cache,
        redis_url=redis_url,
        rate_period_s=3600.0,
        rate_limits=UNLIMITED,
        cost_budgets=dict.fromkeys(Tier, 3 * 10**9),
        audit_enabled=audit,
    )


async def get(app: Starlette) -> tuple[int, bytes]:
    """One GET of the query through an ASGI app (bench.harness.call sends no query string)."""
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": QUERY_STRING,
        "root_path": "",
        "headers": [(b"host", b"bench"), *HEADERS],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "state": {},
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    return status, b"".join(chunks)


async def run(data_dir: Path, seconds: float, redis_url: str | None) -> None:
    # the production path audits every request; "audit off" shows what the cache itself costs
    cached = create_app(settings(data_dir, cache=True, redis_url=redis_url))
    quiet = create_app(settings(data_dir, cache=True, redis_url=redis_url, audit=False))
    uncached = create_app(settings(data_dir, cache=False, redis_url=None))
    async with (
        cached.router.lifespan_context(cached),
        quiet.router.lifespan_context(quiet),
        uncached.router.lifespan_context(uncached),
    ):
        status, payload = await get(uncached)
        if status != 200 or b'"errors"' in payload or payload.count(b'"node"') != 100:
            raise SystemExit(f"the query did not answer a clean 100-row page: {payload[:300]!r}")
        for app in (cached, quiet):
            await get(app)  # stored
            status, hit = await get(app)
            if hit != payload:
                raise SystemExit("the cached answer differs from the computed one")
        baseline = bare_app(payload)
        rates = await interleaved(
            {
                "cached": lambda: get(cached),
                "cached, audit off": lambda: get(quiet),
                "bare starlette": lambda: get(baseline),
                "uncached": lambda: get(uncached),
            },
            rounds=3,
            seconds=seconds,
        )
    where = f"Redis {redis_url} behind the local LRU" if redis_url else "in-process cache"
    print(f"in-process ASGI, GET, {len(payload)} bytes per answer, {where}")
    for name, value in rates.items():
        print(f"  {name:>18}: {value:9.0f} req/s")
    bare = rates["bare starlette"]
    for name in ("cached", "cached, audit off", "bare starlette"):
        print(f"  time per answer, {name}: {1e6 / rates[name]:.1f} µs")
    print(f"  ratio cached / bare:             {rates['cached'] / bare:.3f}  (no server: see HTTP)")
    print(f"  ratio cached, audit off / bare:  {rates['cached, audit off'] / bare:.3f}")
    print(f"  ratio cached / uncached:         {rates['cached'] / rates['uncached']:.1f}")


def cached_factory() -> Starlette:
    """The app uvicorn serves: the cache on, audit as in production unless BENCH_AUDIT=0."""
    audit = os.environ.get("BENCH_AUDIT", "1") == "1"
    data_dir = Path(os.environ["CITYGRAPH_DATA_DIR"])
    redis_url = os.environ.get("BENCH_REDIS") or None
    return create_app(settings(data_dir, cache=True, redis_url=redis_url, audit=audit))


def bare_factory() -> Starlette:
    return bare_app(Path(os.environ["BENCH_PAYLOAD"]).read_bytes())


def over_http(data_dir: Path, seconds: int, rounds: int, redis_url: str | None) -> None:
    """The same comparison through uvicorn (one worker each) and wrk over loopback.

    Every server starts first; then each round measures each of them in turn, so that a slow
    spell of a shared machine falls on all of them. Medians of the rounds are printed, and the
    ratio's median over the rounds (each round's cached against the same round's bare).
    """
    work = data_dir / "wrk"
    work.mkdir(exist_ok=True)
    env = {
        "CITYGRAPH_DATA_DIR": str(data_dir),
        "BENCH_PAYLOAD": str(work / "payload.json"),
        "BENCH_REDIS": redis_url or "",
    }
    contenders: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("cached", "bench.cache:cached_factory", {"CITYGRAPH_AUDIT_SHIPPER": "process"}),
        (
            "cached, inline ship",
            "bench.cache:cached_factory",
            {"CITYGRAPH_AUDIT_SHIPPER": "inline"},
        ),
        ("cached, audit off", "bench.cache:cached_factory", {"BENCH_AUDIT": "0"}),
        ("bare starlette", "bench.cache:bare_factory", {}),
    )
    query = QUERY_STRING.decode()
    ports = {name: free_port() for name, _, _ in contenders}
    urls = {name: f"http://127.0.0.1:{port}/graphql?{query}" for name, port in ports.items()}
    servers = []
    try:
        for name, factory, extra in contenders:
            if name == "bare starlette":  # it answers what the GraphQL endpoint computed
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{ports['cached']}/graphql?{query}", timeout=30
                ) as response:
                    (work / "payload.json").write_bytes(response.read())
            servers.append(serve(factory, ports[name], {**env, **extra}))
        samples: dict[str, list[float]] = {name: [] for name in urls}
        for _ in range(rounds):
            for name, url in urls.items():
                samples[name].append(wrk(url, body_file=None, seconds=seconds))
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            proc.wait(20)
    bare = samples["bare starlette"]
    where = f"in Redis {redis_url} (the cache behind a local LRU)" if redis_url else "in process"
    print(
        f"HTTP over loopback (uvicorn, one worker each; wrk -t1 -c8), GET, cache and limits "
        f"{where}; median of {rounds} interleaved rounds of {seconds} s"
    )
    for name, values in samples.items():
        spread = f"{min(values):.0f} - {max(values):.0f}"
        print(f"  {name:>19}: {statistics.median(values):9.0f} req/s  ({spread})")
    for name in ("cached", "cached, inline ship", "cached, audit off"):
        ratios = [c / b for c, b in zip(samples[name], bare, strict=True)]
        target = "  (target >= 0.5)" if name == "cached" else ""
        print(
            f"  ratio {name} / bare: {statistics.median(ratios):.3f}"
            f"  (rounds {min(ratios):.3f} - {max(ratios):.3f}){target}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--redis", default=None, help="a Redis URL (a database you may fill)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over HTTP")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        asyncio.run(prepare(data_dir, args.stations))
        asyncio.run(run(data_dir, args.seconds, args.redis))
        if not args.no_http:
            try:
                over_http(data_dir, max(3, int(args.seconds * 2)), args.rounds, args.redis)
            except RuntimeError as exc:
                print(f"HTTP benchmark skipped: {exc}")


if __name__ == "__main__":
    main()
