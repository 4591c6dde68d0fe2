"""A response's head and body leave in one write, and nothing is held back or reordered."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from api.coalescing import CoalescingHttpTools, CoalescingTransport
from api.server import http_protocol


class Recorder:
    """A transport that records what is sent through it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, chunks: Any) -> None:
        self.calls.append(("writelines", b"|".join(bytes(c) for c in chunks)))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.1", 4000)}.get(name, default)


async def test_two_writes_in_one_step_leave_together() -> None:
    recorder = Recorder()
    transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.write(b"body")
    assert recorder.calls == [("writelines", b"head|body")]
    transport.write(b"next head")
    transport.write(b"next body")
    assert recorder.calls[1:] == [("writelines", b"next head|next body")]
    await asyncio.sleep(0)  # the flushes the loop was asked for find nothing held
    assert len(recorder.calls) == 2


async def test_a_lone_write_leaves_at_the_loop_s_next_step() -> None:
    recorder = Recorder()
    transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    assert recorder.calls == []
    assert transport.get_write_buffer_size() == 4
    await asyncio.sleep(0)
    assert recorder.calls == [("write", b"head")]
    transport.write(b"")  # nothing to hold
    await asyncio.sleep(0)
    assert recorder.calls == [("write", b"head")]


async def test_held_bytes_leave_before_a_close_and_are_dropped_by_an_abort() -> None:
    recorder = Recorder()
    transport = CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.close()
    assert recorder.calls == [("write", b"head"), ("close", b"")]
    await asyncio.sleep(0)
    assert len(recorder.calls) == 2  # closing: the scheduled flush sends nothing more
    aborted = Recorder()
    transport = CoalescingTransport(aborted, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"head")
    transport.abort()
    await asyncio.sleep(0)
    assert aborted.calls == [("abort", b"")]
    assert transport.get_extra_info("peername") == ("192.0.2.1", 4000)


# --- over a socket, through uvicorn ------------------------------------------------------------


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[tuple[int, asyncio.AbstractEventLoop]]:
    """uvicorn with the coalescing protocol on a free port, in a thread of its own."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=CoalescingHttpTools, loop="asyncio", log_level="warning")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve([sock]),))
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "uvicorn did not start"
        yield sock.getsockname()[1], loop
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        loop.close()


def read_until(conn: socket.socket, marker: bytes, seen: bytes = b"") -> bytes:
    """Read until `marker` has arrived (the socket's timeout fails a test that would hang)."""
    while marker not in seen:
        chunk = conn.recv(65536)
        if not chunk:
            break
        seen += chunk
    return seen


def test_answers_are_whole_and_in_order_on_a_kept_alive_connection() -> None:
    async def text(request: Request) -> Response:
        return PlainTextResponse(f"hello {request.query_params['n']}")

    async def empty(_request: Request) -> Response:
        return Response(status_code=204)

    app = Starlette(routes=[Route("/", text, methods=["GET", "HEAD"]), Route("/empty", empty)])
    with serving(app) as (port, _loop), socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        # pipelined: three requests at once, one HEAD (no body is written at all) and a 204
        conn.sendall(
            b"GET /?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        seen = read_until(conn, b"hello 3")
    answers = seen.split(b"HTTP/1.1 ")[1:]
    assert [a.split(b"\r\n", 1)[0] for a in answers] == [
        b"200 OK",
        b"200 OK",
        b"204 No Content",
        b"200 OK",
    ]
    assert answers[0].endswith(b"\r\n\r\nhello 1")
    assert answers[1].endswith(b"\r\n\r\n")  # HEAD: its head only
    assert b"hello 2" not in seen
    assert answers[3].endswith(b"\r\n\r\nhello 3")


def test_a_stream_s_headers_leave_before_its_first_chunk_is_ready() -> None:
    ready = asyncio.Event()

    async def slow(_request: Request) -> Response:
        async def chunks() -> Any:
            await ready.wait()
            yield b"first chunk"

        return StreamingResponse(chunks(), media_type="text/plain")

    app = Starlette(routes=[Route("/", slow)])
    with serving(app) as (port, loop), socket.create_connection(("127.0.0.1", port)) as conn:
        conn.settimeout(5)
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        head = read_until(conn, b"\r\n\r\n")  # times out if the head waits for the chunk
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"first chunk" not in head
        loop.call_soon_threadsafe(ready.set)
        body = read_until(conn, b"0\r\n\r\n", head)
    assert b"first chunk" in body


def test_the_server_uses_the_coalescing_protocol() -> None:
    assert http_protocol() is CoalescingHttpTools
