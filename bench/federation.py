"""What the router path adds: the same queries through Hive Gateway and the one-process gateway.

    uv run python -m bench.federation [--requests 200]

Starts the distributed city on loopback (tests/federation/launch.py: `citygraph serve`, every
subgraph, Hive Gateway; needs `npm ci --prefix tools/node`), warms both paths up, then sends the
same document to each, interleaved, one request at a time over kept-alive connections, and prints
the median and 95th-percentile latencies and what the router adds. The one-process gateway runs
with its response cache and rate limits off, so that both paths compute every answer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.federation.launch import run_distributed

NODE_TOOLS = Path(__file__).resolve().parent.parent / "tools" / "node"
QUERIES = {
    "one subgraph (20 bike stations)": """{ bikeStations(first: 20) { nodes {
        id name capacity latitude longitude districtCode } } }""",
    "two subgraphs (stations -> district)": """{ bikeStations(first: 20) { nodes {
        id name district { code name population } } } }""",
    "three subgraphs (districts -> stations, air-quality stations)": """{ districts { nodes {
        code name bikeStations(first: 5) { totalCount } airQualityStations(first: 5) { totalCount }
        quartiers(first: 4) { nodes { code } } } } }""",
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# both paths compute every answer: the one-process gateway's response cache would otherwise
# answer from memory, and its rate limits would refuse a benchmark's pace (the router has neither)
UNCACHED_UNLIMITED = {
    "CITYGRAPH_CACHE_ENABLED": "false",
    "CITYGRAPH_RATE_LIMITS": "{}",
    "CITYGRAPH_COST_BUDGETS": "{}",
}


def measure(requests: int) -> None:
    os.environ.update(UNCACHED_UNLIMITED)  # run_distributed passes the environment on
    with (
        tempfile.TemporaryDirectory(prefix="citygraph-bench-federation-") as folder,
        run_distributed(Path(folder), NODE_TOOLS) as city,
        httpx.Client(timeout=30) as client,
    ):
        paths = {"one process": f"{city.base}/graphql", "router": f"{city.router}/graphql"}
        for name, query in QUERIES.items():
            times: dict[str, list[float]] = {path: [] for path in paths}
            for _ in range(20):  # warm-up: connections, caches, JIT of the query plan
                for url in paths.values():
                    client.post(url, json={"query": query}).raise_for_status()
            for _ in range(requests):
                for path, url in paths.items():
                    start = time.perf_counter()
                    response = client.post(url, json={"query": query})
                    times[path].append((time.perf_counter() - start) * 1000)
                    if "errors" in response.json():  # a limit or a bug: the timing would lie
                        raise SystemExit(f"{path}: {response.text}")
            one, routed = (statistics.median(times[p]) for p in paths)
            print(f"{name}:")
            for path in paths:
                print(
                    f"  {path:12} median {statistics.median(times[path]):7.2f} ms"
                    f"   p95 {percentile(times[path], 0.95):7.2f} ms"
                )
            print(f"  router adds {routed - one:+.2f} ms at the median ({routed / one:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="Requests per path and query.")
    measure(parser.parse_args().requests)


if __name__ == "__main__":
    main()
