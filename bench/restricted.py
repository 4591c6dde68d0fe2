"""A staff member's restricted pages over HTTP, on PostgreSQL and SQLite, against an earlier commit.

    uv run python -m bench.restricted --baseline afb792d   # before (a ref: here, before group commit)
    uv run python -m bench.restricted --rounds 5 --seconds 10 --residents 100000

The pages are bench.peer_queries' STAFF_SHAPES (a purpose-bound token; every resident read is a
subject of the access record the read must commit before its answer leaves): `staff: 100
residents`, a flat page, and `staff: 50 households x members`, the residents (about 95) beneath
50 households, a nested read. In one run, everything on loopback, every process stopped by its
pid at the end:

1. a fresh PostgreSQL database and a SQLite file, each with the Paris import and `--residents`
   synthetic residents;
2. `citygraph serve` from this tree on each (cache and limits off, audit on, the shipper in its
   own process, one worker), the same from `--baseline` (a git ref, unpacked with `git archive`
   and run by this interpreter, so both run on the same locked dependencies), and the ceiling
   (bench/ceiling.py: one statement reads the page and inserts its record);
3. each asked each page once: the answers must be equal once parsed;
4. `wrk -t1 -c8 --latency` on each in interleaved rounds: req/s, p50, p99 (medians of the
   rounds), and the rounds' ratios after/before and ceiling/contender (the ceiling is on
   PostgreSQL: against SQLite it says how far the embedded default is from it, no more).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import httpx
import orjson

from bench import peer, peer_database
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
from bench.peer_queries import STAFF_SHAPES, Shape, differences

REPO = Path(__file__).resolve().parent.parent
VENDOR = Path("api") / "pages" / "static" / "vendor"
"""Built by the package's build hook, not in git: a baseline tree gets this tree's copy."""


@dataclass
class Server:
    """A running contender and how to ask it the page."""

    name: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def unpack(ref: str, into: Path) -> Path:
    """The tree of `ref` (any git ref of this repository), as files, with the built vendor files."""
    archive = subprocess.run(  # noqa: S603 (git, a ref the caller named)
        ["git", "-C", str(REPO), "archive", "--format=tar", ref],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    if (REPO / VENDOR).is_dir():
        shutil.copytree(REPO / VENDOR, into / VENDOR, dirs_exist_ok=True)
    return into


def sqlite_city(data_dir: Path, shared_data: Path, residents: int) -> str:
    """The Paris import and `residents` residents in a SQLite file; its URL."""
    url = f"sqlite+aiosqlite:///{data_dir / 'city.db'}"
    env = {**os.environ, "CITYGRAPH_DATA_DIR": str(data_dir), "CITYGRAPH_DATABASE_URL": url}
    env["CITYGRAPH_ENVIRONMENT"] = "test"
    print(f"importing {shared_data} into SQLite")
    subprocess.run(  # noqa: S603 (our own CLI)
        [*peer_database.CITYGRAPH, "import", "paris", str(shared_data)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    asyncio.run(peer_database.seed_residents(url, residents))
    return url


def start_citygraph(
    name: str,
    database_url: str,
    data_dir: Path,
    procs: list[subprocess.Popen[bytes]],
    tree: Path | None,
) -> Server:
    """`citygraph serve` as bench.peer measures it, from `tree` (None: this one)."""
    port = free_port()
    env = peer_database.citygraph_env(database_url, data_dir, port)
    env["CITYGRAPH_DATABASE_URL"] = database_url
    cwd = None
    if tree is not None:
        extra, cwd = on_tree(tree)
        env = {**env, **extra}
    args = [*peer_database.CITYGRAPH, "serve", "--port", str(port)]
    procs.append(start(args, port, env, cwd=cwd))
    staff = subprocess.run(  # noqa: S603 (our own CLI)
        [*peer_database.CITYGRAPH, "token", "--subject", "agent-7", "--scopes", "registry:read"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    headers = {"Authorization": f"Bearer {staff}", "Citygraph-Purpose": peer.PURPOSE}
    return Server(name, f"http://127.0.0.1:{port}/graphql", headers)


def on_tree(tree: Path) -> tuple[dict[str, str], Path]:
    """The environment and working directory of a process that must run `tree`'s code.

    PYTHONPATH puts `tree` ahead of this checkout's editable install, but `python -c` (and
    `-m`) put the working directory ahead of PYTHONPATH: started from this checkout, the
    process ran this tree's code, and `before` measured `after` again. So it starts in `tree`.
    """
    return {"PYTHONPATH": str(tree)}, tree


def start_ceiling(database_url: str, procs: list[subprocess.Popen[bytes]]) -> Server:
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.ceiling:app_from_environment",
        "--http", "httptools", "--loop", "uvloop", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    procs.append(start(args, port, {"BENCH_DATABASE_URL": database_url}))
    return Server("ceiling (pg)", f"http://127.0.0.1:{port}/graphql", {"Citygraph-Purpose": ""})


def headers_of(server: Server) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json", **server.headers}


def check_answers(servers: list[Server], shape: Shape) -> None:
    """Stop unless every server answers the shape the same, once parsed."""
    answers = {
        s.name: httpx.post(
            s.url, json={"query": shape.citygraph}, headers=headers_of(s), timeout=30
        ).json()
        for s in servers
    }
    problems = differences(shape, answers)
    if problems:
        raise SystemExit(f"{shape.name}: " + "; ".join(problems))
    print(f"  {shape.name}: {', '.join(answers)} agree")


def measure(
    servers: list[Server], shape: Shape, work: Path, rounds: int, seconds: float
) -> dict[str, list[WrkResult]]:
    body = orjson.dumps({"query": shape.citygraph})
    scripts = {
        s.name: wrk_script(
            work / f"restricted-{n}.lua", method="POST", body=body, headers=headers_of(s)
        )
        for n, s in enumerate(servers)
    }
    for s in servers:  # warm pools, plans and caches
        run_wrk(s.url, script=scripts[s.name], seconds=2)
    samples: dict[str, list[WrkResult]] = {s.name: [] for s in servers}
    for n in range(rounds):
        print(f"  {shape.name}: round {n + 1} of {rounds}")
        for s in servers:
            samples[s.name].append(run_wrk(s.url, script=scripts[s.name], seconds=seconds))
    return samples


def report(shape: Shape, samples: dict[str, list[WrkResult]], rounds: int, seconds: float) -> None:
    print(f"\n{shape.name}: wrk -t1 -c8, median of {rounds} interleaved rounds of {seconds:.0f} s")
    print(f"  {'contender':<18} {SUMMARY_HEADER}")
    for name, runs in samples.items():
        print(f"  {name:<18} {summary(runs)}")
    note = timeouts_note([r for runs in samples.values() for r in runs])
    if note:
        print(note)
    ceiling = samples["ceiling (pg)"]
    print("\n  ratios, median of the rounds' own ratios")
    for engine in ("pg", "sqlite"):
        after = samples[f"after ({engine})"]
        before = samples.get(f"before ({engine})")
        line = f"  {engine:<7} ceiling/after {median_ratio(ceiling, after):6.2f}"
        if before is not None:
            line += f"   after/before req/s {median_ratio(after, before):5.2f}"
            line += f"   ceiling/before {median_ratio(ceiling, before):6.2f}"
        print(line)
    print("  target (issue 12, with the compiled path): ceiling/after <= 2 on PostgreSQL")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", help="a git ref to measure as 'before' (afb792d: before group commit)"
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
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    print(f"load average at start: {load()}")
    procs: list[subprocess.Popen[bytes]] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        peer_database.bench_database(args.postgres, keep=False) as pg_libpq,
    ):
        work = Path(tmp)
        baseline = unpack(args.baseline, work / "baseline") if args.baseline else None
        pg_dir, sqlite_dir = work / "pg", work / "sqlite"
        peer_database.load(pg_libpq, pg_dir, args.shared_data, args.residents)
        pg_url = "postgresql+asyncpg://" + pg_libpq.split("://", 1)[1]
        sqlite_url = sqlite_city(sqlite_dir, args.shared_data, args.residents)
        try:
            servers = [start_citygraph("after (pg)", pg_url, pg_dir, procs, None)]
            if baseline is not None:
                servers.append(start_citygraph("before (pg)", pg_url, pg_dir, procs, baseline))
            servers.append(start_ceiling(pg_libpq, procs))
            servers.append(start_citygraph("after (sqlite)", sqlite_url, sqlite_dir, procs, None))
            if baseline is not None:
                servers.append(
                    start_citygraph("before (sqlite)", sqlite_url, sqlite_dir, procs, baseline)
                )
            print("answers, once parsed:")
            for shape in STAFF_SHAPES:
                check_answers(servers, shape)
            samples = {
                shape: measure(servers, shape, work, args.rounds, args.seconds)
                for shape in STAFF_SHAPES
            }
        finally:
            stop(procs)
    for shape, measured in samples.items():
        report(shape, measured, args.rounds, args.seconds)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
