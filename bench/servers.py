"""The ASGI server behind `citygraph serve`: uvicorn (httptools, uvloop) against granian.

    uv run --with granian python -m bench.servers         # 1 and 2 workers, 3 rounds of 5 s
    uv run --with granian python -m bench.servers --workers 2 --rounds 5

granian is not a dependency of the project: `--with` brings it for the run (uv's cache, the lock
untouched); without it only uvicorn is measured.

Same app, same worker count, same database (a SQLite city of 10,000 bike stations), wrk -t1 -c8
over loopback, every server up first and then interleaved rounds, medians printed. Three answers:

- cached: a 100-row page from the response cache (GET; the whole pipeline, audit on, the
  shipper in its own process), where the server's own cost per request matters most;
- uncached 100: the same page computed each time (POST, cache and limits off);
- uncached 20: 20 rows of 2 columns, computed each time.

uvicorn with h11 and asyncio's loop (what `serve` ran before) is measured at one worker as the
"before". Then each server (two workers) is stopped with SIGTERM the moment a wrk run ends,
`--shutdown-trials` times: wrk leaves requests in flight whose clients are gone, and a server that
runs the app's shutdown before they finish makes them fail at a closed audit writer, each one an
access record lost. The choice and its figures are in docs/serving.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import orjson

from bench.harness import (
    SUMMARY_HEADER,
    WrkResult,
    free_port,
    median_ratio,
    run_wrk,
    start,
    stop,
    summary,
    timeouts_note,
    wrk_script,
)
from bench.page import prepare

QUERY_100 = "{ bikeStations(first: 100) { edges { node { id name capacity latitude longitude districtCode } } } }"
QUERY_20 = "{ bikeStations(first: 20) { nodes { id name } } }"
ANSWERS = {
    # name: (app factory, method, query)
    "cached": ("bench.cache:cached_factory", "GET", QUERY_100),
    "uncached 100": ("bench.page:graphql_factory", "POST", QUERY_100),
    "uncached 20": ("bench.page:graphql_factory", "POST", QUERY_20),
}


def server_args(server: str, factory: str, port: int, workers: int) -> list[str]:
    """The command line of `server` serving `factory` with `workers` processes on loopback."""
    where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if server == "granian":
        return [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory", *where,
            "--loop", "uvloop", "--log-level", "warning", "--no-access-log", factory,
        ]  # fmt: skip
    http, loop = ("httptools", "uvloop") if server == "uvicorn" else ("h11", "asyncio")
    return [
        sys.executable, "-m", "uvicorn", "--factory", factory, *where, "--http", http,
        "--loop", loop, "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def contenders(worker_counts: list[int], *, granian: bool) -> list[tuple[str, int]]:
    """(server, workers) pairs: both candidates at every count, h11 at one worker as the before."""
    servers = ("uvicorn", "granian") if granian else ("uvicorn",)
    pairs = [("uvicorn h11", 1)] if 1 in worker_counts else []
    return pairs + [(s, n) for n in worker_counts for s in servers]


def run(data_dir: Path, worker_counts: list[int], rounds: int, seconds: float) -> None:
    work = data_dir / "wrk"
    work.mkdir()
    scripts = {}
    for name, (_, method, query) in ANSWERS.items():
        script = work / f"{name.replace(' ', '-')}.lua"
        if method == "POST":
            scripts[name] = wrk_script(
                script,
                method="POST",
                body=orjson.dumps({"query": query}),
                headers={"Content-Type": "application/json"},
            )
        else:
            scripts[name] = wrk_script(script, headers={"Accept": "application/json"})
    get_query = "?" + urlencode({"query": QUERY_100})
    env = {
        "CITYGRAPH_DATA_DIR": str(data_dir),
        "CITYGRAPH_AUDIT_SHIPPER": "process",
        "CITYGRAPH_LOG_LEVEL": "warning",
    }
    urls: dict[tuple[str, int, str], str] = {}
    procs = []
    try:
        granian = importlib.util.find_spec("granian") is not None
        if not granian:
            print("granian is not installed: uvicorn only (uv run --with granian ...)")
        for server, workers in contenders(worker_counts, granian=granian):
            for factory in sorted({f for f, _, _ in ANSWERS.values()}):
                port = free_port()
                procs.append(start(server_args(server, factory, port, workers), port, env))
                for name, (f, method, _) in ANSWERS.items():
                    if f == factory:
                        suffix = get_query if method == "GET" else ""
                        urls[(server, workers, name)] = f"http://127.0.0.1:{port}/graphql{suffix}"
        for key, url in urls.items():  # warm: pools, caches, the cached answer stored
            run_wrk(url, script=scripts[key[2]], seconds=1)
        samples: dict[tuple[str, int, str], list[WrkResult]] = {key: [] for key in urls}
        for _ in range(rounds):
            for key, url in urls.items():
                samples[key].append(run_wrk(url, script=scripts[key[2]], seconds=seconds))
    finally:
        stop(procs)
    report(samples, rounds, seconds)


CLOSED_WRITER = "RuntimeError: the audit writer is not open"


def shutdown_check(data_dir: Path, servers: list[str], trials: int) -> None:
    """Per server, how many requests found the audit writer closed at each graceful stop."""
    script = wrk_script(
        data_dir / "shutdown.lua",
        method="POST",
        body=orjson.dumps({"query": QUERY_100}),
        headers={"Content-Type": "application/json"},
    )
    env = {"CITYGRAPH_DATA_DIR": str(data_dir), "CITYGRAPH_AUDIT_SHIPPER": "process"}
    print(f"SIGTERM as wrk -t1 -c8 ends (2 workers, uncached 100), {trials} stops each")
    for server in servers:
        lost = []
        for n in range(trials):
            port = free_port()
            log = data_dir / f"shutdown-{server}-{n}.log"
            with log.open("wb") as output:
                proc = start(
                    server_args(server, "bench.page:graphql_factory", port, 2),
                    port,
                    env,
                    output=output,
                )
                try:
                    run_wrk(f"http://127.0.0.1:{port}/graphql", script=script, seconds=3)
                finally:
                    stop([proc], timeout_s=60)
            text = log.read_text(errors="replace")
            lost.append(sum(line.startswith(CLOSED_WRITER) for line in text.splitlines()))
        print(f"  {server:<8} requests that found the audit writer closed, per stop: {lost}")


def report(
    samples: dict[tuple[str, int, str], list[WrkResult]], rounds: int, seconds: float
) -> None:
    print(f"wrk -t1 -c8, median of {rounds} interleaved rounds of {seconds:.0f} s")
    print(f"  {'server':<12} {'workers':>7} {'answer':<13} {SUMMARY_HEADER}")
    for (server, workers, name), runs in samples.items():
        print(f"  {server:<12} {workers:>7} {name:<13} {summary(runs)}")
    note = timeouts_note([r for runs in samples.values() for r in runs])
    if note:
        print(note)
    if any(server == "granian" for server, _, _ in samples):
        print("  ratios granian / uvicorn (median of the rounds' ratios):")
    for (server, workers, name), runs in samples.items():
        if server != "granian":
            continue
        ratio = median_ratio(runs, samples[("uvicorn", workers, name)])
        print(f"    {workers} worker(s), {name:<13} {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--shutdown-trials", type=int, default=3, help="0: skip the stop check")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        asyncio.run(prepare(data_dir, args.stations))
        run(data_dir, args.workers, args.rounds, args.seconds)
        if args.shutdown_trials:
            granian = importlib.util.find_spec("granian") is not None
            servers = ["uvicorn", "granian"] if granian else ["uvicorn"]
            shutdown_check(data_dir, servers, args.shutdown_trials)


if __name__ == "__main__":
    main()
