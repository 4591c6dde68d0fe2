"""The test infrastructure itself: skip-or-fail, private servers, per-session databases."""

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import asyncpg
import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from tests import services

# --- skip or fail ---------------------------------------------------------------------------------


def test_missing_component_fails_when_services_are_required() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"postgres is required .*: port closed"):
        services.missing("postgres", "port closed", environ={services.REQUIRE_ENV: "1"})


@pytest.mark.parametrize("value", [None, "", "0", "no"])
def test_missing_component_skips_otherwise(value: str | None) -> None:
    environ = {} if value is None else {services.REQUIRE_ENV: value}
    with pytest.raises(pytest.skip.Exception, match=r"postgres unavailable: port closed"):
        services.missing("postgres", "port closed", environ=environ)


def test_requires_asks_the_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(services.PROBES, "redis", lambda: "no PING answer")
    monkeypatch.setenv(services.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no PING answer"):
        services.requires("redis")
    monkeypatch.setenv(services.REQUIRE_ENV, "0")
    with pytest.raises(pytest.skip.Exception, match="no PING answer"):
        services.requires("redis")
    monkeypatch.setitem(services.PROBES, "redis", lambda: None)
    services.requires("redis")  # present: neither skips nor fails


def test_every_marker_names_a_probed_component(pytestconfig: pytest.Config) -> None:
    declared = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert set(services.MARKER_COMPONENTS) <= declared
    assert set(services.MARKER_COMPONENTS.values()) <= set(services.PROBES)


def test_shared_data_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(services.SHARED_DATA_ENV, str(tmp_path))
    assert services.shared_data_dir() == tmp_path.resolve()
    monkeypatch.delenv(services.SHARED_DATA_ENV)
    assert services.shared_data_dir() == services.REPO_ROOT.parent / "shared" / "data"


def test_shared_data_has_its_sources(shared_data: Path) -> None:
    assert (shared_data / "SOURCES.md").is_file()


# --- processes and ports ---------------------------------------------------------------------------


def test_free_port_can_be_bound() -> None:
    port = services.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_pid_alive_tells_running_from_finished() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert services.pid_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not services.pid_alive(child.pid)


# --- private Redis ---------------------------------------------------------------------------------


def _ping(port: int, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def test_spawned_redis_answers_and_stops() -> None:
    server = services.spawn_redis()
    try:
        with redis.Redis.from_url(server.url, socket_timeout=1) as client:
            assert client.ping()
            assert client.config_get("save") == {"save": ""}
    finally:
        server.stop()
    assert not server.alive()
    assert not server.workdir.exists()
    with pytest.raises(ConnectionRefusedError):
        _ping(server.port, timeout=1)


def test_spawn_redis_moves_on_when_its_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, services.free_port()])
        monkeypatch.setattr(services, "free_port", lambda: next(ports))
        with services.spawn_redis() as server:
            assert server.port != taken
            assert _ping(server.port, timeout=1) == b"+PONG\r\n"


def test_frozen_redis_does_not_answer_within_100_ms(spawned_redis: services.SpawnedServer) -> None:
    assert _ping(spawned_redis.port, timeout=1) == b"+PONG\r\n"
    spawned_redis.freeze()
    # The kernel still accepts the connection; nobody reads it: exactly what a hung server does.
    with socket.create_connection(("127.0.0.1", spawned_redis.port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        sock.settimeout(0.1)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(64)
        assert time.monotonic() - started >= 0.09
        spawned_redis.thaw()
        sock.settimeout(2)
        assert sock.recv(64) == b"+PONG\r\n"


def test_killed_redis_refuses_connections(spawned_redis: services.SpawnedServer) -> None:
    spawned_redis.kill()
    assert not spawned_redis.alive()
    with pytest.raises(ConnectionRefusedError):
        _ping(spawned_redis.port, timeout=1)


# --- the machine's Redis, one db per session --------------------------------------------------------


def test_redis_url_is_a_private_emptied_db(redis_url: str) -> None:
    assert make_url(redis_url).database not in (None, "0")
    with redis.Redis.from_url(redis_url, socket_timeout=1) as client:
        assert client.dbsize() == 0
        client.set("left-by-a-test", "1")


def test_redis_claims_are_exclusive(redis_session_url: str) -> None:
    base = services.redis_base_url()
    first = services.claim_redis_db(base)
    second = services.claim_redis_db(base)
    try:
        dbs = {first.db, second.db, int(make_url(redis_session_url).database or 0)}
        assert len(dbs) == 3
        with redis.Redis.from_url(first.url, socket_timeout=1) as client:
            client.set("k", "v")
        first.flush()
        with redis.Redis.from_url(first.url, socket_timeout=1) as client:
            assert client.dbsize() == 0
    finally:
        first.release()
        second.release()
    with redis.Redis.from_url(base, socket_timeout=1) as control:
        assert control.get(services.REDIS_CLAIM_KEY.format(db=first.db)) is None


# --- the machine's PostgreSQL, one database per session or test ---------------------------------------


async def test_postgres_url_is_a_database_of_its_own(postgres_url: str) -> None:
    name = make_url(postgres_url).database
    assert postgres_url.startswith("postgresql+asyncpg://")
    assert name is not None
    assert name.startswith(services.TEST_DB_PREFIX)
    conn = await asyncpg.connect(services.libpq_url(postgres_url), timeout=5)
    try:
        assert await conn.fetchval("SELECT current_database()") == name
        await conn.execute("CREATE TABLE t (x int)")  # a database we own, not the shared one
        await conn.execute("INSERT INTO t VALUES (41)")
        assert await conn.fetchval("SELECT x + 1 FROM t") == 42
    finally:
        await conn.close()


def test_fresh_postgres_url_is_another_database(fresh_postgres_url: str, postgres_url: str) -> None:
    assert make_url(fresh_postgres_url).database != make_url(postgres_url).database


def test_temporary_database_is_dropped_after(postgres_admin_url: str) -> None:
    with services.temporary_database(postgres_admin_url) as url:
        name = make_url(url).database
        assert name is not None
        assert services.database_exists(postgres_admin_url, name)
        # A connection left open must not keep the database from being dropped.
        leaked = psycopg.connect(services.libpq_url(url))
    try:
        assert not services.database_exists(postgres_admin_url, name)
    finally:
        leaked.close()


def test_stale_databases_of_dead_sessions_are_reaped(postgres_admin_url: str) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = f"{services.TEST_DB_PREFIX}_1_{dead.pid}_dead00"
    recent = f"{services.TEST_DB_PREFIX}_{int(time.time())}_{dead.pid}_new000"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        for name in (stale, recent):
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        reaped = services.reap_stale_databases(postgres_admin_url)
        assert stale in reaped
        assert not services.database_exists(postgres_admin_url, stale)
        # Young enough to belong to a session in another process namespace: kept.
        assert services.database_exists(postgres_admin_url, recent)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            for name in (stale, recent):
                conn.execute(
                    psycopg.sql.SQL("DROP DATABASE IF EXISTS {}").format(
                        psycopg.sql.Identifier(name)
                    )
                )


# --- private PostgreSQL ---------------------------------------------------------------------------


async def test_spawned_postgres_answers_and_stops() -> None:
    server = services.spawn_postgres()
    try:
        conn = await asyncpg.connect(services.libpq_url(server.url), timeout=5)
        try:
            assert await conn.fetchval("SHOW port") == str(server.port)
            assert await conn.fetchval("SHOW fsync") == "off"
            assert await conn.fetchval("SELECT lower('ÉLYSÉE')") == "élysée"
        finally:
            await conn.close()
    finally:
        server.stop()
    assert not server.alive()
    assert not server.workdir.exists()
    with pytest.raises(ConnectionRefusedError):
        await asyncpg.connect(services.libpq_url(server.url), timeout=2)


async def test_frozen_postgres_hangs_its_open_connections(
    spawned_postgres: services.SpawnedServer,
) -> None:
    conn = await asyncpg.connect(services.libpq_url(spawned_postgres.url), timeout=5)
    try:
        spawned_postgres.freeze()
        # The backend serving `conn` is a child of the postmaster: freezing must reach it too.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=0.2)
    finally:
        spawned_postgres.thaw()
        conn.terminate()
    again = await asyncpg.connect(services.libpq_url(spawned_postgres.url), timeout=5)
    try:
        assert await again.fetchval("SELECT 1") == 1
    finally:
        await again.close()


# --- node tools ------------------------------------------------------------------------------------


class _NotGraphQL(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


def test_graphql_http_audit_fails_on_a_server_that_is_not_graphql(node_tools: Path) -> None:
    httpd = HTTPServer(("127.0.0.1", 0), _NotGraphQL)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_port}/graphql"
        run = subprocess.run(
            ["node", str(node_tools / "audit-graphql-http.mjs"), url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert run.returncode == 1, run.stderr
    assert len(lines) > 20  # the whole GraphQL-over-HTTP audit ran
    assert all(set(line) == {"id", "name", "status", "reason"} for line in lines)
    assert any(line["status"] == "error" for line in lines)
    assert "audits" in run.stderr


def test_graphql_http_audit_wants_a_url(node_tools: Path) -> None:
    run = subprocess.run(
        ["node", str(node_tools / "audit-graphql-http.mjs")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert "usage" in run.stderr
