"""The lean Redis connection (storage.resp): RESP2 in and out, pipelining, sessions, failures.

The parser and packer are checked against hand-written RESP; the connection against the
session's Redis and against private redis-servers that tests freeze, kill, lock with a
password or open on a Unix socket.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis

from storage.breaker import Breaker
from storage.redis_client import RedisLink, RedisUnavailable, connect
from storage.resp import (
    Endpoint,
    Incomplete,
    Packed,
    ProtocolError,
    ReplyError,
    RespConnection,
    flat,
    pack,
    parse,
)
from tests import services
from tests.services import SpawnedServer

TIMEOUT_S = 0.05


def test_a_command_is_an_array_of_bulk_strings() -> None:
    assert pack(("SET", b"k\r\n", 12)) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n"
    # arguments packed beforehand are copied in, and count one by one
    packed = Packed.of(1, "two")
    assert pack(("ECHO", packed)) == b"*3\r\n$4\r\nECHO\r\n$1\r\n1\r\n$3\r\ntwo\r\n"
    assert flat(("ECHO", packed, 3)) == ("ECHO", 1, "two", 3)


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        (b"+OK\r\n", b"OK"),
        (b":-42\r\n", -42),
        (b"$5\r\nhe\r\nl\r\n", b"he\r\nl"),
        (b"$0\r\n\r\n", b""),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n+x\r\n", [1, b"a", [b"x"]]),
    ],
)
def test_replies_are_read_whole(raw: bytes, reply: object) -> None:
    assert parse(raw + b"+next\r\n") == (reply, len(raw))
    for cut in range(len(raw)):  # any prefix is incomplete, never a wrong reply
        with pytest.raises(Incomplete):
            parse(raw[:cut])


def test_an_error_reply_is_an_error_even_inside_an_array() -> None:
    error, end = parse(b"-NOSCRIPT No matching script\r\n")
    assert isinstance(error, ReplyError)
    assert error.kind == "NOSCRIPT"
    assert end == 30
    nested, _ = parse(b"*2\r\n-WRONGTYPE bad\r\n:1\r\n")
    assert isinstance(nested, ReplyError)
    assert nested.kind == "WRONGTYPE"
    with pytest.raises(ProtocolError):
        parse(b"HTTP/1.1 400 Bad Request\r\n")


def test_the_endpoint_is_the_clients() -> None:
    assert Endpoint.of(connect("redis://u:secret@cache:6380/4")) == Endpoint(
        host="cache", port=6380, db=4, username="u", password="secret"
    )
    assert Endpoint.of(connect("unix:///run/redis.sock?db=2")) == Endpoint(
        path="/run/redis.sock", db=2
    )
    assert Endpoint.of(connect("rediss://cache:6380/0")) is None  # TLS: redis-py's job
    assert Endpoint(db=3, password="p").handshake() == [("AUTH", "p"), ("SELECT", 3)]
    assert Endpoint().handshake() == []


@pytest.mark.redis
async def test_replies_come_back_to_their_commands_in_order(redis_url: str) -> None:
    endpoint = Endpoint.of(connect(redis_url))
    assert endpoint is not None
    conn = RespConnection(endpoint, timeout_s=1.0)
    try:
        replies = await asyncio.gather(*(conn.execute("ECHO", f"m{i}") for i in range(200)))
        assert replies == [f"m{i}".encode() for i in range(200)]
        assert conn.connects == 1  # one connection, shared by callers that came together
        assert await conn.execute("SET", "citygraph:test:k", b"v\r\n") == b"OK"
        assert await conn.execute("GET", "citygraph:test:k") == b"v\r\n"
        with pytest.raises(ReplyError) as refused:
            await conn.execute("INCR", "citygraph:test:k")
        assert refused.value.kind == "ERR"
        assert await conn.execute("ECHO", "after") == b"after"  # an error breaks nothing
    finally:
        conn.close()


@pytest.mark.redis
def test_a_closed_connection_opens_again_in_the_next_event_loop(redis_url: str) -> None:
    endpoint = Endpoint.of(connect(redis_url))
    assert endpoint is not None
    conn = RespConnection(endpoint, timeout_s=1.0)

    async def once(word: str) -> bytes | None:
        try:
            reply = await conn.execute("ECHO", word)
        finally:
            conn.close()  # as an app's lifespan does when its loop ends
        return reply  # type: ignore[return-value]

    for word in ("first", "second"):  # each asyncio.run is a new loop, as a TestClient's is
        assert asyncio.run(once(word)) == word.encode()
    assert conn.connects == 2


@pytest.mark.redis
async def test_a_frozen_server_costs_one_timeout_and_no_reply_is_ever_misread(
    spawned_redis: SpawnedServer,
) -> None:
    endpoint = Endpoint.of(connect(spawned_redis.url))
    assert endpoint is not None
    conn = RespConnection(endpoint, timeout_s=TIMEOUT_S)
    try:
        assert await conn.execute("ECHO", "warm") == b"warm"
        spawned_redis.freeze()
        try:
            start = time.perf_counter()
            outcomes = await asyncio.gather(
                conn.execute("ECHO", "lost"), conn.execute("ECHO", "lost too"),
                return_exceptions=True,
            )  # fmt: skip
            elapsed = time.perf_counter() - start
        finally:
            spawned_redis.thaw()
        assert all(isinstance(o, TimeoutError) for o in outcomes), outcomes
        assert elapsed < 4 * TIMEOUT_S  # bounded by the timeout, not by redis-py's seconds
        # the thawed server answers "lost" on a connection that was closed: never read as this
        assert await conn.execute("ECHO", "fresh") == b"fresh"
        assert conn.connects == 2
    finally:
        conn.close()


@pytest.mark.redis
async def test_a_killed_server_fails_fast_and_its_link_falls_back(
    spawned_redis: SpawnedServer,
) -> None:
    link = RedisLink(
        connect(spawned_redis.url, timeout_s=TIMEOUT_S),
        Breaker("redis", failure_threshold=2),
        timeout_s=TIMEOUT_S,
    )
    try:
        assert await link.execute("ECHO", "up") == b"up"
        spawned_redis.kill()
        for _ in range(2):
            start = time.perf_counter()
            with pytest.raises(RedisUnavailable):
                await link.execute("ECHO", "down")
            assert time.perf_counter() - start < 2 * TIMEOUT_S
        assert not link.breaker.healthy  # two failures opened it
        with pytest.raises(RedisUnavailable, match="breaker open"):
            await link.execute("ECHO", "down")
    finally:
        await link.close()


@pytest.mark.redis
async def test_a_session_opens_with_its_password_and_database(
    spawned_redis: SpawnedServer,
) -> None:
    admin = redis.Redis(port=spawned_redis.port, socket_timeout=1)
    admin.config_set("requirepass", "s3cret")
    base = f"redis://:s3cret@127.0.0.1:{spawned_redis.port}"
    link = RedisLink(connect(f"{base}/3"), Breaker("redis"), timeout_s=1.0)
    wrong = RedisLink(
        connect(f"redis://:nope@127.0.0.1:{spawned_redis.port}/0"),
        Breaker("redis"),
        timeout_s=1.0,
    )
    try:
        assert await link.execute("SET", "k", "in three") == b"OK"
        assert redis.Redis.from_url(f"{base}/3").get("k") == b"in three"
        assert redis.Redis.from_url(f"{base}/0").get("k") is None
        # a refused session is a connection failure (the breaker hears of it), not a reply
        with pytest.raises(RedisUnavailable, match="ConnectionRefusedError"):
            await wrong.execute("ECHO", "x")
        assert wrong.breaker.failures == 1
    finally:
        await link.close()
        await wrong.close()


@pytest.mark.redis
async def test_a_unix_socket_serves_as_well(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    with services.spawn_redis("--unixsocket", str(sock), "--unixsocketperm", "700") as server:
        deadline = time.monotonic() + 5
        while not sock.exists():
            assert time.monotonic() < deadline, "redis-server made no socket"
            await asyncio.sleep(0.01)
        link = RedisLink(connect(f"unix://{sock}?db=1"), Breaker("redis"), timeout_s=1.0)
        try:
            assert link.lean is not None
            assert await link.execute("SET", "k", "over the socket") == b"OK"
            assert redis.Redis(port=server.port, db=1).get("k") == b"over the socket"
        finally:
            await link.close()


@pytest.mark.redis
async def test_without_the_lean_connection_the_client_answers_alike(redis_url: str) -> None:
    link = RedisLink(connect(redis_url), Breaker("redis"), lean=False)
    try:
        assert link.lean is None
        assert await link.execute(Packed.of("ECHO", "both ways")) == b"both ways"
        with pytest.raises(ReplyError) as unknown:
            await link.execute("EVALSHA", "0" * 40, 0)
        assert unknown.value.kind == "NOSCRIPT"
        assert link.breaker.healthy  # the server answered
    finally:
        await link.close()
