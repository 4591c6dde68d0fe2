"""Shared pieces of the benchmarks: an in-process ASGI driver, wrk over loopback, a small city."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from starlette.types import ASGIApp

from schema.city import City


def asgi_scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    *,
    server: tuple[str, int] = ("bench", 80),
) -> dict[str, Any]:
    """The ASGI scope of one HTTP request from 127.0.0.1 to `server`, its host header first."""
    host = server[0] if server[1] == 80 else f"{server[0]}:{server[1]}"
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host.encode()), *headers],
        "client": ("127.0.0.1", 1),
        "server": server,
        "state": {},
    }


async def call(
    app: ASGIApp, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes]:
    """One request through an ASGI app, without a network or a server."""
    status = 0
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = asgi_scope(method, path, headers)
    await app(scope, receive, send)  # type: ignore[arg-type]
    return status, b"".join(chunks)


async def rate(request: Callable[[], Awaitable[Any]], seconds: float) -> float:
    """Requests per second of `request`, called back to back for about `seconds`."""
    for _ in range(20):  # warm caches and pools
        await request()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            await request()
        count += 10
    return count / (time.perf_counter() - start)


async def interleaved(
    contenders: dict[str, Callable[[], Awaitable[Any]]], rounds: int, seconds: float
) -> dict[str, float]:
    """Median requests/s of each contender over rounds that alternate between them."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, request in contenders.items():
            samples[name].append(await rate(request, seconds))
    return {name: statistics.median(values) for name, values in samples.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(
    args: list[str],
    port: int,
    env: dict[str, str],
    *,
    timeout_s: float = 60,
    output: IO[bytes] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server (`args`, our own interpreter or a peer's binary) and wait until `port` accepts;
    its stdout and stderr go to `output` when given."""
    proc = subprocess.Popen(  # noqa: S603 (commands we built)
        args, env={**os.environ, **env}, stdout=output, stderr=output, cwd=cwd
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[:4]} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    stop([proc])
    raise RuntimeError(f"{args[:4]} did not listen on {port} within {timeout_s:.0f} s")


def stop(procs: list[subprocess.Popen[bytes]], timeout_s: float = 20) -> None:
    """SIGTERM each server by its pid, then wait for it (SIGKILL after `timeout_s`)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def serve(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start uvicorn (one process, one worker) on loopback with an app factory `module:function`."""
    return start(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        port,
        env,
        timeout_s=20,
    )


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured: throughput and latency percentiles (milliseconds)."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    """Non-2xx/3xx answers plus connect, read and write errors: a run with any is not a measurement."""
    timeouts: int = 0
    """Requests still unanswered after wrk's --timeout: counted, and shown, not fatal."""


TIMEOUT_S = 30
"""wrk's --timeout: past it a request counts as timed out (reported) and its latency is lost."""

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(out: str) -> WrkResult:
    """wrk's `--latency` report as numbers; ValueError when a part is missing."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    done = re.search(r"^\s*(\d+) requests in ", out, re.MULTILINE)
    percentiles = {
        int(m[1]): _ms(m[2], m[3])
        for m in re.finditer(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    }
    if rate is None or done is None or set(percentiles) != {50, 99}:
        raise ValueError(f"not a wrk --latency report:\n{out}")
    errors = timeouts = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non_2xx:
        errors += int(non_2xx[1])
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups()[:3])
        timeouts = int(sockets[4])
    return WrkResult(
        requests_per_s=float(rate[1]),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(done[1]),
        errors=errors,
        timeouts=timeouts,
    )


def wrk_script(
    path: Path,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Path:
    """A wrk Lua script that sends `method` with `body` (kept in a file beside it) and `headers`."""
    lines = [f"wrk.method = {method!r}"]
    for name, value in (headers or {}).items():
        lines.append(f"wrk.headers[{name!r}] = {value!r}")
    if body is not None:
        body_file = path.with_suffix(".body")
        body_file.write_bytes(body)
        lines.append(f"wrk.body = io.open({str(body_file)!r}, 'rb'):read('*a')")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(url: str, *, script: Path | None, seconds: float, connections: int = 8) -> WrkResult:
    """One `wrk -t1 -cN --latency` run against `url`; RuntimeError if any request failed."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    # a loaded machine can hold a request past wrk's default 2 s: that is latency, not failure
    args = [exe, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    args += ["--timeout", f"{TIMEOUT_S}s"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    result = parse_wrk(out)
    if result.errors or not result.requests:
        raise RuntimeError(f"wrk saw failed requests:\n{out}")
    return result


SUMMARY_HEADER = f"{'req/s':>8} {'(range)':>15} {'p50 ms':>7} {'p99 ms':>7}"


def summary(runs: list[WrkResult]) -> str:
    """Median req/s with its range over the rounds, and the median p50 and p99, in columns."""
    rates = [r.requests_per_s for r in runs]
    return (
        f"{statistics.median(rates):8.0f} {f'({min(rates):.0f}-{max(rates):.0f})':>15}"
        f" {statistics.median(r.p50_ms for r in runs):7.2f}"
        f" {statistics.median(r.p99_ms for r in runs):7.2f}"
    )


def median_ratio(a: list[WrkResult], b: list[WrkResult], field: str = "requests_per_s") -> float:
    """Median over the rounds of a/b, each round's figure against the same round's."""
    return statistics.median(
        float(getattr(x, field)) / float(getattr(y, field)) for x, y in zip(a, b, strict=True)
    )


def timeouts_note(runs: list[WrkResult]) -> str | None:
    """A line saying how many requests wrk gave up on, if any did."""
    timed_out = sum(r.timeouts for r in runs)
    if not timed_out:
        return None
    return f"  {timed_out} requests went unanswered within wrk's timeout (not in the latencies)"


def wrk(url: str, *, body_file: Path | None, seconds: int, connections: int = 8) -> float:
    """Requests/s that wrk reaches against `url` (POST with `body_file` when given)."""
    script = None
    if body_file is not None:
        script = wrk_script(
            body_file.with_suffix(".lua"),
            method="POST",
            body=body_file.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
    return run_wrk(url, script=script, seconds=seconds, connections=connections).requests_per_s


async def fill_bike_stations(city: City, count: int, *, seed: int = 7) -> None:
    """`count` synthetic stations, a third outside every district (enough for a 100-row page)."""
    rng = random.Random(seed)
    codes = [f"751{n:02d}" for n in range(1, 21)]
    rows = [
        {
            "id": f"B{i:07d}",
            "name": f"Station {i}",
            "capacity": rng.randint(10, 60),
            "latitude": 48.82 + rng.random() * 0.08,
            "longitude": 2.25 + rng.random() * 0.17,
            "district_code": rng.choice(codes) if i % 3 else None,
        }
        for i in range(count)
    ]
    await city.repository("bikeStations").upsert(rows, chunk=5_000)
