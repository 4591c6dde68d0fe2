"""The open-loop load counts a stall for every request it held up, and reads both framings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from bench.open_loop import paced, read_response, request_bytes

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n3\r\nabc\r\n0\r\n\r\n"


@asynccontextmanager
async def server(answer: Callable[[int], bytes], *, stall_at: int = -1) -> AsyncIterator[str]:
    """A keep-alive server of `answer(n)` for the n-th request; the `stall_at`-th holds every
    connection for 0.3 s (one lock), as a server's pause would."""
    served = 0
    lock = asyncio.Lock()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                async with lock:
                    n = served
                    served += 1
                    if n == stall_at:
                        await asyncio.sleep(0.3)
                writer.write(answer(n))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        listening.close()


async def test_a_stall_counts_for_every_request_due_during_it() -> None:
    # 200 requests a second for 2 s on one connection: the 0.3 s stall holds up about 60 of
    # the 400, whose latencies run from when they were due. Timed from when each was sent, as a
    # closed loop times them, one answer would be slow, and the p99 (the 4th slowest) fast.
    async with server(lambda _: OK, stall_at=100) as url:
        result = await paced(url, body=b"{}", headers={}, rate=200, seconds=2, connections=1)
    assert result.requests == 400
    assert result.errors == 0
    assert result.p50_ms < 50
    assert result.p99_ms > 150
    assert result.max_ms > 250


async def test_without_a_stall_the_tail_is_short() -> None:
    async with server(lambda _: OK) as url:
        result = await paced(url, body=b"{}", headers={}, rate=200, seconds=1, connections=4)
    assert result.requests == 200
    assert result.p99_ms < 100


async def test_answers_that_are_not_200_are_errors() -> None:
    failing = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
    async with server(lambda n: failing if n % 10 == 0 else OK) as url:
        result = await paced(url, body=b"{}", headers={}, rate=100, seconds=1, connections=2)
    assert result.errors == 10


async def test_a_chunked_answer_is_read_to_its_end() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(CHUNKED + OK)
    reader.feed_eof()
    assert await read_response(reader) == 200
    assert await read_response(reader) == 200  # the next answer on the connection is intact
    with pytest.raises(asyncio.IncompleteReadError):
        await read_response(reader)


def test_the_request_carries_its_length_and_headers() -> None:
    host, port, message = request_bytes(
        "http://127.0.0.1:8080/graphql", b'{"query":"{a}"}', {"Content-Type": "application/json"}
    )
    assert (host, port) == ("127.0.0.1", 8080)
    assert message.startswith(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert b"Content-Length: 15\r\n\r\n" in message
    assert message.endswith(b'\r\n\r\n{"query":"{a}"}')
    with pytest.raises(ValueError, match="an http URL"):
        request_bytes("https://example.org/graphql", b"", {})
