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
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from schema.city import City


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

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "state": {},
    }
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


def serve(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start uvicorn (one process, one worker) on loopback with an app factory `module:function`."""
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
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
        env={**os.environ, **env},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{factory} did not start")


def wrk(url: str, *, body_file: Path | None, seconds: int, connections: int = 8) -> float:
    """Requests/s that wrk reaches against `url` (POST with `body_file` when given)."""
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    args = [exe, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if body_file is not None:
        script = body_file.with_suffix(".lua")
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = io.open({str(body_file)!r}, 'rb'):read('*a')\n"
        )
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not match or re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"wrk failed:\n{out}")
    return float(match.group(1))


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
