"""An open-loop load: requests sent at a fixed rate whatever the answers do, latency from the
moment each was due (docs/performance.md, "p99 at the same load").

wrk is closed-loop: each of its connections sends the next request when the last answer arrives.
That measures the most a server serves, but its p99 is taken at each server's own maximum, so a
faster server is measured under more load; and a stall delays the requests that would have been
sent during it without counting them (coordinated omission). Here every request has a due time
(`start + i / rate`); it goes out on the first free connection, and its latency runs from its due
time, so a stall counts for every request it held up, as wrk2 and HdrHistogram count it.

The client is coroutines on asyncio streams (uvloop in bench.peer_load): about 75 µs of CPU per
request on this machine, so at the rates bench.peer offers (800 to 2,400 a second) it takes 6
to 18% of a core, the same for both contenders at a given rate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class PacedResult:
    """What one open-loop run measured: latencies from the due time (milliseconds)."""

    rate: float
    """Requests per second offered."""
    answered_per_s: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    requests: int
    errors: int
    """Answers that were not 200, and connections that broke: a run with any is not a measurement."""


def request_bytes(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    """The host, port and bytes of one keep-alive POST of `body` to `url`."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None or parts.port is None:
        raise ValueError(f"an http URL with a host and a port, not {url!r}")
    head = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.hostname}:{parts.port}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    return parts.hostname, parts.port, ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def paced(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    connections: int = 32,
) -> PacedResult:
    """Send `rate` requests per second for `seconds`, each timed from its due time."""
    host, port, message = request_bytes(url, body, headers)
    total = max(1, round(rate * seconds))
    due: asyncio.Queue[float | None] = asyncio.Queue()
    latencies: list[float] = []
    errors = 0

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        try:
            while (when := await due.get()) is not None:
                try:
                    writer.write(message)
                    status = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append(time.perf_counter() - when)
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    # every connection is open before the clock starts: opening one is not the server's latency
    opened = await asyncio.gather(
        *(asyncio.open_connection(host, port) for _ in range(connections))
    )
    workers = [asyncio.create_task(worker(reader, writer)) for reader, writer in opened]
    start = time.perf_counter()
    for i in range(total):
        when = start + i / rate
        delay = when - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(when)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    latencies.sort()

    def at(share: float) -> float:
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    return PacedResult(
        rate=rate,
        answered_per_s=len(latencies) / elapsed,
        p50_ms=at(0.50),
        p99_ms=at(0.99),
        p999_ms=at(0.999),
        max_ms=latencies[-1] * 1000,
        requests=len(latencies),
        errors=errors,
    )
