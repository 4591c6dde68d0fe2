"""CPU time per request, read from /proc around a measured run.

req/s says how fast a server answers, not where the machine's time went: on two cores the
server, its children (the audit shipper), PostgreSQL and wrk share them, and a server that
costs the database more is slower for it. `CpuClock` reads the CPU time of a server's process
tree and of every PostgreSQL process before and after a run; `Spent` is the difference per
request, in microseconds. The database's share is the whole cluster's, so a run measures
alone (bench.peer stops nothing else: keep the machine quiet).

Linux only: elsewhere `CpuClock.read` gives None and the report says so.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class Stat:
    """What one /proc/<pid>/stat says that this module needs."""

    pid: int
    parent: int
    name: str
    seconds: float
    """utime + stime, and cutime + cstime: the process's CPU and its reaped children's."""


def parse_stat(text: str) -> Stat:
    """/proc/<pid>/stat's fields; the name is in parentheses and may hold spaces or `)`."""
    pid, _, rest = text.partition(" (")
    name, _, fields = rest.rpartition(") ")
    values = fields.split()
    # fields 14-17 of proc(5), counted from the state (the third field): utime, stime, cutime, cstime
    ticks = sum(int(v) for v in values[11:15])
    return Stat(int(pid), int(values[1]), name, ticks / TICKS)


def processes(proc: Path = PROC) -> list[Stat]:
    """Every process /proc shows now (one that exits while it is read is left out)."""
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                found.append(parse_stat((entry / "stat").read_text()))
            except (OSError, ValueError, IndexError):
                continue
    return found


def tree_seconds(stats: list[Stat], root: int) -> float:
    """CPU seconds of `root` and every live descendant (reaped ones are in their parent's)."""
    children: dict[int, list[Stat]] = {}
    for stat in stats:
        children.setdefault(stat.parent, []).append(stat)
    total, todo = 0.0, [s for s in stats if s.pid == root]
    while todo:
        stat = todo.pop()
        total += stat.seconds
        todo.extend(children.get(stat.pid, ()))
    return total


@dataclass(frozen=True, slots=True)
class Reading:
    server_s: float
    database_s: float


@dataclass(frozen=True, slots=True)
class Spent:
    """CPU per request over one run, in microseconds."""

    server_us: float
    database_us: float


class CpuClock:
    """Reads a server's CPU (with its children) and PostgreSQL's."""

    def __init__(self, proc: Path = PROC, database: str = "postgres") -> None:
        self.proc = proc
        self.database = database

    def read(self, server_pid: int | None) -> Reading | None:
        if server_pid is None or not (self.proc / "self" / "stat").exists():
            return None
        stats = processes(self.proc)
        database = sum(s.seconds for s in stats if s.name == self.database)
        return Reading(tree_seconds(stats, server_pid), database)


def spent(before: Reading | None, after: Reading | None, requests: int) -> Spent | None:
    """The CPU per request between two readings; None if either is missing or nothing ran."""
    if before is None or after is None or requests <= 0:
        return None
    return Spent(
        (after.server_s - before.server_s) / requests * 1e6,
        (after.database_s - before.database_s) / requests * 1e6,
    )


def median_spent(runs: Sequence[Spent | None]) -> Spent | None:
    """The median of each part over the runs that were measured; None if none was."""
    measured = [r for r in runs if r is not None]
    if not measured:
        return None
    return Spent(
        statistics.median(r.server_us for r in measured),
        statistics.median(r.database_us for r in measured),
    )


def report_cpu(
    samples: Mapping[tuple[str, str], Sequence[Spent | None]],
    *,
    ours: str = "citygraph",
    bare: str = "ceiling",
) -> None:
    """Print the CPU per request of each query and contender, and the bare one's share of ours."""
    medians = {key: median_spent(runs) for key, runs in samples.items()}
    if all(m is None for m in medians.values()):
        print("\nCPU per request: not measured (no /proc on this machine)")
        return
    print("\nCPU per request, µs (/proc around each run, median of the rounds)")
    print(f"  {'query':<32} {'contender':<13} {'server':>7} {'database':>9} {'sum':>7}")
    for (query, who), m in medians.items():
        if m is not None:
            total = m.server_us + m.database_us
            print(f"  {query:<32} {who:<13} {m.server_us:7.0f} {m.database_us:9.0f} {total:7.0f}")
    print(f"\n  {bare}/{ours}, CPU per request")
    print(f"  {'query':<32} {'server':>6} {'database':>9} {'both':>7}")
    for query in dict.fromkeys(q for q, _ in samples):
        a, b = medians.get((query, bare)), medians.get((query, ours))
        if a is not None and b is not None and b.server_us > 0 and b.database_us > 0:
            both = (a.server_us + a.database_us) / (b.server_us + b.database_us)
            print(
                f"  {query:<32} {a.server_us / b.server_us:6.2f} "
                f"{a.database_us / b.database_us:9.2f} {both:7.2f}"
            )
    print(
        "  the server's CPU includes its children (citygraph's audit shipper); the database's"
        "\n  is every PostgreSQL process's, so it holds the access log's inserts"
    )
