"""bench.cpu reads a server's CPU (with its children) and PostgreSQL's from /proc.

Given a /proc of made-up processes (a server, its shipper child, a grandchild, PostgreSQL's
processes and an unrelated one), when the clock reads it before and after a run, then the
server's share counts its whole tree and nothing else, the database's every `postgres` process,
and the report divides by the requests; on this machine's own /proc, a child that burns CPU is
counted in its parent's tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cpu import (
    TICKS,
    CpuClock,
    Reading,
    Spent,
    Stat,
    parse_stat,
    processes,
    report_cpu,
    spent,
    tree_seconds,
)


def stat_line(pid: int, name: str, parent: int, ticks: tuple[int, int, int, int]) -> str:
    """A /proc/<pid>/stat line as Linux writes it (52 fields), with these values."""
    utime, stime, cutime, cstime = ticks
    fields = ["S", str(parent), *["0"] * 9, str(utime), str(stime), str(cutime), str(cstime)]
    return f"{pid} ({name}) " + " ".join(fields + ["0"] * 35)


def fake_proc(root: Path, rows: list[tuple[int, str, int, tuple[int, int, int, int]]]) -> Path:
    (root / "self").mkdir(parents=True)
    (root / "self" / "stat").write_text(stat_line(1, "init", 0, (0, 0, 0, 0)))
    for pid, name, parent, ticks in rows:
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(stat_line(pid, name, parent, ticks))
    return root


def test_a_stat_line_is_read_whatever_the_process_name_holds() -> None:
    line = stat_line(42, "odd) name (x", 7, (3, 4, 5, 6))
    assert parse_stat(line) == Stat(42, 7, "odd) name (x", 18 / TICKS)


def test_the_server_counts_its_tree_and_the_database_every_postgres_process(
    tmp_path: Path,
) -> None:
    def proc(server: int, shipper: int, postgres: int) -> Path:
        return fake_proc(
            tmp_path / f"proc-{server}",
            [
                (100, "citygraph", 1, (server, 0, 0, 0)),
                (101, "python", 100, (shipper, 0, 0, 0)),  # the audit shipper
                (102, "sh", 101, (1, 0, 0, 0)),
                (200, "postgres", 1, (postgres, 0, 0, 0)),
                (201, "postgres", 200, (postgres, 0, 0, 0)),
                (300, "node", 1, (1_000, 0, 0, 0)),  # another contender, idle or not
            ],
        )

    before = CpuClock(proc(10, 5, 20)).read(100)
    after = CpuClock(proc(40, 15, 50)).read(100)
    assert before is not None
    assert after is not None
    assert (before.server_s, before.database_s) == pytest.approx(((10 + 5 + 1) / TICKS, 40 / TICKS))
    used = spent(before, after, requests=10)
    assert used is not None
    # the server 30 ticks more, its shipper 10: 40 over 10 requests; PostgreSQL 2 x 30
    assert (used.server_us, used.database_us) == pytest.approx(
        (40 / TICKS / 10 * 1e6, 60 / TICKS / 10 * 1e6)
    )


def test_nothing_is_made_up_when_a_reading_is_missing(tmp_path: Path) -> None:
    assert CpuClock(tmp_path).read(100) is None  # no /proc/self: not Linux
    assert CpuClock().read(None) is None
    reading = Reading(1.0, 1.0)
    assert spent(None, reading, 10) is None
    assert spent(reading, reading, 0) is None


def test_a_child_that_burns_cpu_is_counted_in_its_parent_s_tree() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no /proc on this machine")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\ntime.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", burn])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = processes()
            mine = next(s for s in stats if s.pid == os.getpid())
            theirs = next((s for s in stats if s.pid == child.pid), None)
            if theirs is not None and theirs.seconds >= 0.3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the child never used 0.3 s of CPU")
        assert tree_seconds(stats, os.getpid()) >= mine.seconds + theirs.seconds
        assert tree_seconds(stats, child.pid) == theirs.seconds
    finally:
        child.kill()
        child.wait()


def test_the_report_says_the_bare_server_s_share_of_ours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    samples: dict[tuple[str, str], list[Spent | None]] = {
        ("20 stations", "citygraph"): [Spent(300, 150), None, Spent(320, 170)],
        ("20 stations", "ceiling"): [Spent(150, 150), Spent(160, 150), Spent(170, 150)],
    }
    report_cpu(samples)
    out = capsys.readouterr().out
    assert "20 stations                      citygraph         310       160     470" in out
    # ceiling/citygraph: server 160/310, database 150/160, both 310/470
    assert "20 stations                        0.52      0.94    0.66" in out


def test_the_report_says_when_nothing_was_measured(capsys: pytest.CaptureFixture[str]) -> None:
    report_cpu({("20 stations", "citygraph"): [None, None]})
    assert "not measured" in capsys.readouterr().out
