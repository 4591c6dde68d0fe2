"""One lean, pipelined Redis connection for the hot path: the rate limiter's script calls.

redis-py's asyncio client costs ~120 to 165 µs of CPU per call on this machine kind (a pool, a
retry wrapper, an encoder, a task per `wait_for`, a parser reading line by line through a
StreamReader), against ~40 µs for the same EVALSHA written to a socket and read back by an
`asyncio.Protocol`. Every request takes from the limiter, so that difference was a third of what
a cached answer costs with Redis (docs/traffic.md). This module speaks RESP2 for plain TCP and Unix
sockets; TLS stays with redis-py (`Endpoint.of` answers None for it).

Failure is as bounded as redis-py's with our settings (storage.redis_client): connecting (with
AUTH and SELECT) takes at most `timeout_s`, and so does each command. A command not answered in
time fails, and so does everything behind it on the connection, which is closed: a late reply can
never be taken for the next command's. The next command connects again; the breaker
(storage.breaker, driven by RedisLink) decides whether there is a next command at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import redis.asyncio as redis

Reply: TypeAlias = bytes | int | list["Reply"] | None
"""A RESP2 reply: bulk or simple string, integer, nil, or an array of replies."""


class Packed(NamedTuple):
    """Several arguments of a command encoded once, to be sent many times (`pack` copies them)."""

    args: tuple[bytes | str | int, ...]
    data: bytes

    @classmethod
    def of(cls, *args: bytes | str | int) -> Packed:
        return cls(args, pack(args)[len(b"*%d\r\n" % len(args)) :])


Arg = bytes | str | int | Packed


class ReplyError(Exception):
    """The server answered with an error (`-ERR ...`, `-NOSCRIPT ...`): it is up, the call was wrong."""

    @property
    def kind(self) -> str:
        """The error's first word: ERR, NOSCRIPT, WRONGTYPE..."""
        return str(self).split(" ", 1)[0]


class Incomplete(Exception):
    """The buffer holds only part of a reply."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the server is and how to open a session with it."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    """A Unix socket, instead of host and port."""
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def of(cls, client: redis.Redis) -> Endpoint | None:
        """The endpoint redis-py's client was configured with; None for TLS (redis-py's job)."""
        pool = client.connection_pool
        kwargs: dict[str, Any] = pool.connection_kwargs
        if pool.connection_class is redis.UnixDomainSocketConnection:
            return cls(
                path=kwargs["path"],
                db=int(kwargs.get("db") or 0),
                username=kwargs.get("username"),
                password=kwargs.get("password"),
            )
        if pool.connection_class is not redis.Connection:
            return None
        return cls(
            host=kwargs.get("host", "localhost"),
            port=int(kwargs.get("port") or 6379),
            db=int(kwargs.get("db") or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
        )

    def handshake(self) -> list[tuple[Arg, ...]]:
        """The commands that open a session: AUTH when there is a password, SELECT when not db 0."""
        commands: list[tuple[Arg, ...]] = []
        if self.password is not None:
            user = (self.username,) if self.username else ()
            commands.append(("AUTH", *user, self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands


def pack(args: tuple[Arg, ...] | list[Arg]) -> bytes:
    """One command as RESP: an array of bulk strings."""
    out = [b""]
    count = len(args)
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif isinstance(arg, int):
            arg = b"%d" % arg
        elif isinstance(arg, Packed):
            out.append(arg.data)
            count += len(arg.args) - 1
            continue
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    out[0] = b"*%d\r\n" % count
    return b"".join(out)


def flat(args: tuple[Arg, ...]) -> tuple[bytes | str | int, ...]:
    """The arguments one by one, `Packed` ones unpacked: for a client that encodes them itself."""
    out: list[bytes | str | int] = []
    for arg in args:
        if isinstance(arg, Packed):
            out += arg.args
        else:
            out.append(arg)
    return tuple(out)


def parse(buffer: bytes | bytearray, start: int = 0) -> tuple[Reply | ReplyError, int]:
    """The reply at `start` and where it ends; Incomplete when the buffer has only part of it."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise Incomplete
    kind, line = buffer[start : start + 1], bytes(buffer[start + 1 : end])
    after = end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == b"+":
        return line, after
    if kind == b":":
        return int(line), after
    if kind == b"-":
        return ReplyError(line.decode("utf-8", "replace")), after
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, after
        items: list[Reply] = []
        error: ReplyError | None = None
        for _ in range(count):
            item, after = parse(buffer, after)
            if isinstance(item, ReplyError):  # inside an array (EXEC): the whole reply fails
                error = error or item
            else:
                items.append(item)
        return error or items, after
    raise ProtocolError(f"not a RESP2 reply: {bytes(buffer[start : start + 16])!r}")


class ProtocolError(ConnectionError):
    """The server said something that is not RESP2: the connection cannot be trusted."""


class _Protocol(asyncio.Protocol):
    """Matches replies to commands in order (RESP answers in the order it was asked)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending: deque[asyncio.Future[Reply]] = deque()
        self.buffer = bytearray()
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream's is a Transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        start = 0
        try:
            while start < len(buffer):
                reply, start = parse(buffer, start)
                if not self.pending:
                    raise ProtocolError("a reply nobody asked for")
                future = self.pending.popleft()
                if future.done():  # its caller went away: the reply is read and dropped
                    continue
                if isinstance(reply, ReplyError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except Incomplete:
            pass
        except (ProtocolError, ValueError) as exc:
            self.fail(ProtocolError(str(exc)))
            return
        del buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("Redis closed the connection")
        self._fail_pending(self.lost)

    def fail(self, exc: BaseException) -> None:
        """Close the connection and fail every command waiting on it."""
        self.lost = exc
        if self.transport is not None:
            self.transport.abort()
        self._fail_pending(exc)

    def _fail_pending(self, exc: BaseException) -> None:
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)


class RespConnection:
    """Commands to one server over one connection, pipelined, each bounded by `timeout_s`."""

    def __init__(self, endpoint: Endpoint, *, timeout_s: float = 0.05) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._protocol: _Protocol | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self.connects = 0
        """Connections opened so far: a counter for tests and metrics."""

    async def execute(self, *args: Arg) -> Reply:
        """Send one command and return its reply; ReplyError, or OSError/TimeoutError on failure."""
        loop = _running_loop()
        protocol = self._protocol
        if protocol is None or protocol.lost is not None or self._loop is not loop:
            protocol = await self._connected()
        future = _send(loop, protocol, pack(args))
        timer = loop.call_later(self.timeout_s, _expire, protocol, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def _connected(self) -> _Protocol:
        """The open connection, opening one (shared by every caller meanwhile) if needed."""
        loop = _running_loop()
        if self._loop is not loop:  # a connection of another (finished) event loop is useless
            self._forget()
            self._loop = loop
        if self._connecting is None:
            self._connecting = loop.create_future()
            task = loop.create_task(self._connect())
            task.add_done_callback(self._opened)
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Protocol:
        loop = _running_loop()
        endpoint = self.endpoint
        async with asyncio.timeout(self.timeout_s):
            if endpoint.path is not None:
                _, protocol = await loop.create_unix_connection(_Protocol, endpoint.path)
            else:
                _, protocol = await loop.create_connection(_Protocol, endpoint.host, endpoint.port)
            try:
                opening = [_send(loop, protocol, pack(c)) for c in endpoint.handshake()]
                for reply in opening:
                    await reply
            except ReplyError as exc:  # a wrong password or database: no session, as if down
                protocol.fail(ConnectionAbortedError())
                raise ConnectionRefusedError(f"Redis refused the session: {exc}") from exc
            except BaseException as exc:
                protocol.fail(exc if isinstance(exc, Exception) else ConnectionAbortedError())
                raise
        self.connects += 1
        return protocol

    def _opened(self, task: asyncio.Task[_Protocol]) -> None:
        waiting, self._connecting = self._connecting, None
        if waiting is None:  # forgotten meanwhile (another event loop took over)
            return
        exc: BaseException | None = (
            ConnectionAbortedError("connecting was cancelled")
            if task.cancelled()
            else task.exception()
        )
        if exc is None:
            self._protocol = task.result()
            waiting.set_result(self._protocol)
        else:
            waiting.set_exception(exc)
            waiting.exception()  # retrieved: callers that went away would leave it logged

    def _forget(self) -> None:
        protocol, self._protocol = self._protocol, None
        self._connecting = None
        if protocol is not None and protocol.transport is not None:
            try:
                protocol.transport.abort()
            except RuntimeError:  # its loop is closed (never closed by its owner): end the session
                sock = protocol.transport.get_extra_info("socket")
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection; commands waiting on it fail."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.lost is None:
            protocol.fail(ConnectionAbortedError("closed"))


def _send(
    loop: asyncio.AbstractEventLoop, protocol: _Protocol, packed: bytes
) -> asyncio.Future[Reply]:
    """Write one command; the future gets its reply (replies come in the order asked)."""
    future: asyncio.Future[Reply] = loop.create_future()
    protocol.pending.append(future)
    if protocol.transport is None or protocol.lost is not None:
        future.set_exception(protocol.lost or ConnectionError("not connected"))
    else:
        protocol.transport.write(packed)
    return future


def _expire(protocol: _Protocol, future: asyncio.Future[Reply]) -> None:
    """A command took longer than its timeout: nothing after it on this connection can be trusted."""
    if not future.done():
        protocol.fail(TimeoutError("Redis did not answer in time"))


def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
