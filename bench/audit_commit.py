"""What a restricted read's audit commit costs under concurrency: before and after group commit.

    uv run python -m bench.audit_commit                 # SQLite, and PostgreSQL when reachable
    uv run python -m bench.audit_commit --clients 8 32 --seconds 3 --rounds 3

Every restricted read waits for its access record to be durable before its answer leaves. Here
`--clients` tasks commit records back to back, as that many concurrent staff reads would, on a
fresh log, in interleaved rounds of each contender:

- before: a transaction per read, behind the chain's lock, through SQLAlchemy (the code as it was
  before group commit, kept here as the baseline);
- one hop: a transaction per read, each in one hop (audit.bulk: one statement on PostgreSQL, one
  worker-thread call on SQLite);
- grouped: `AuditWriter.commit`, what the view awaits (audit.group: the reads waiting at the same
  time share a transaction);
- ceiling (PostgreSQL): the same number of clients each inserting one row in autocommit through
  an asyncpg pool, no chain: what the ceiling app's record costs (bench/ceiling.py).

It prints commits/s, p50 and p99 of one commit, records per transaction, and each contender's
ratio to "before" and to the ceiling, with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from audit.bulk import insert_rows
from audit.chain import canonical
from audit.records import AccessRecord, now
from audit.store import (
    ChainAppender,
    Head,
    Prepared,
    access_rows,
    audit_access,
    audit_log,
    row_of,
)
from audit.writer import AuditWriter
from storage.engines import make_engine, writing
from storage.migrate import upgrade

KEY = bytes(range(32))
CEILING_TABLE = "CREATE TABLE bench_access (subject text NOT NULL, residents text[] NOT NULL)"


def body(n: int) -> Prepared:
    """A restricted read's record: a staff member, a purpose, ten residents read."""
    values = AccessRecord(
        request_id=f"bench-{n}",
        at=now(),
        tier="staff",
        outcome="served",
        status=200,
        latency_ms=3.0,
        subject="agent-7",
        client_id="back-office",
        operation="People",
        document_hash="ab" * 32,
        datasets=["residents"],
        departments=["registry"],
        fields=["Resident.familyName", "Resident.birthDate"],
        subjects=[f"R{n * 10 + i}" for i in range(10)],
        restricted=True,
        legal_basis="CGCT-L2122-32",
        case_reference="EC-2026-118",
    ).body()
    return canonical(values), values


class Before:
    """The commit as it was: one transaction per read, behind the chain's lock, through Core."""

    def __init__(self, appender: ChainAppender) -> None:
        self.appender = appender
        self.lock = asyncio.Lock()
        self.head = Head()

    async def commit(self, item: Prepared) -> None:
        a = self.appender
        async with self.lock, writing(a.engine) as conn:
            seq = self.head.seq + 1
            row = row_of(item, chain_id=a.chain_id, seq=seq, prev=self.head.hmac, key=a.key)
            await insert_rows(conn, audit_log, [row])
            side = access_rows(item[1], chain_id=a.chain_id, seq=seq)
            if side:
                await insert_rows(conn, audit_access, side)
        self.head = Head(seq, row["hmac"])


@dataclass
class Sample:
    rate: float
    latencies: list[float] = field(default_factory=list)
    transactions: int = 0


async def drive(commit: Callable[[int], Awaitable[None]], clients: int, seconds: float) -> Sample:
    """`clients` tasks committing back to back for `seconds`: commits/s and each one's latency."""
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        while loop.time() < deadline:
            start = time.perf_counter()
            await commit(next(counter))
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return Sample(len(latencies) / (time.perf_counter() - start), latencies)


@contextlib.asynccontextmanager
async def contenders(url: str, spool: Path) -> AsyncIterator[dict[str, Any]]:
    """Each contender's commit(n) and, for the grouped one, its transaction counter."""
    engine = make_engine(url)
    await upgrade(engine, ["audit"])
    writer = AuditWriter(ChainAppender(engine, KEY), spool, flush_interval_s=60)
    await writer.open()
    before = Before(ChainAppender(engine, KEY))
    one_hop = ChainAppender(engine, KEY)
    pool = None
    found: dict[str, Any] = {
        "before": lambda n: before.commit(body(n)),
        "one hop": lambda n: one_hop.append_prepared([body(n)]),
        "grouped": lambda n: writer.commit(body(n)[1]),
    }
    if engine.dialect.name == "postgresql":
        libpq = "postgresql://" + url.split("://", 1)[1]
        pool = await asyncpg.create_pool(libpq, min_size=8, max_size=8)
        await pool.execute(CEILING_TABLE)
        insert = "INSERT INTO bench_access (subject, residents) VALUES ($1, $2)"
        found["ceiling"] = lambda n: pool.execute(insert, "agent-7", body(n)[1]["subjects"])
    try:
        yield {"commits": found, "writer": writer}
    finally:
        if pool is not None:
            await pool.close()
        await writer.close()
        await engine.dispose()


async def measure(
    url: str, spool: Path, clients: Sequence[int], rounds: int, seconds: float
) -> None:
    async with contenders(url, spool) as found:
        commits, writer = found["commits"], found["writer"]
        for count in clients:
            samples: dict[str, list[Sample]] = {name: [] for name in commits}
            for commit in commits.values():  # warm pools and prepared statements
                await drive(commit, count, 0.3)
            for _ in range(rounds):
                for name, commit in commits.items():
                    groups = writer.groups.groups
                    sample = await drive(commit, count, seconds)
                    if name == "grouped":
                        sample.transactions = writer.groups.groups - groups
                    samples[name].append(sample)
            report(count, samples)


def report(clients: int, samples: dict[str, list[Sample]]) -> None:
    rates = {name: statistics.median(s.rate for s in runs) for name, runs in samples.items()}
    print(f"  {clients} clients, median of {len(samples['before'])} rounds")
    print(
        f"    {'contender':<10} {'commits/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'per txn':>8} {'/before':>8} {'/ceiling':>9}"
    )
    for name, runs in samples.items():
        latencies = sorted(x for s in runs for x in s.latencies)
        p50 = latencies[len(latencies) // 2] * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        done = sum(len(s.latencies) for s in runs)
        txns = sum(s.transactions for s in runs)
        per_txn = f"{done / txns:8.1f}" if txns else f"{'1.0':>8}"
        if name == "ceiling":
            per_txn = f"{'-':>8}"
        ceiling = f"{rates[name] / rates['ceiling']:9.2f}" if "ceiling" in rates else f"{'-':>9}"
        print(
            f"    {name:<10} {rates[name]:10.0f} {p50:8.2f} {p99:8.2f} {per_txn} "
            f"{rates[name] / rates['before']:8.2f} {ceiling}"
        )


async def postgres_database(admin: str) -> str | None:
    """A fresh database on the server of `admin` (libpq URL), or None when it is unreachable."""
    name = f"citygraph_audit_commit_{os.getpid()}"
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return "postgresql+asyncpg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"


async def drop(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CITYGRAPH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="libpq URL of a maintenance database (a database is created there, then dropped)",
    )
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite (a file, WAL, synchronous=NORMAL)")
        url = f"sqlite+aiosqlite:///{tmp}/log.db"
        asyncio.run(
            measure(url, Path(tmp) / "spool-sqlite", args.clients, args.rounds, args.seconds)
        )
        pg = asyncio.run(postgres_database(args.postgres))
        if pg is None:
            print(f"PostgreSQL: {args.postgres} is unreachable, skipped")
        else:
            print("PostgreSQL (asyncpg, the engine's pool)")
            try:
                asyncio.run(
                    measure(pg, Path(tmp) / "spool-pg", args.clients, args.rounds, args.seconds)
                )
            finally:
                asyncio.run(drop(args.postgres, pg))
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
