"""Real components for the tests: finding the machine's services, and private servers a test may break.

Two kinds of real component (DESIGN section 11):
- the machine's shared services (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379), which tests use
  through a database or Redis db of their own and never stop, freeze or reconfigure;
- private servers started by `spawn_postgres()` / `spawn_redis()` on a free loopback port, which a test
  may stop, freeze or kill, and which are always cleaned up by process id.

A component that is absent makes a test skip with the reason, or fail when CITYGRAPH_REQUIRE_SERVICES=1
(as CI sets it): see `missing()`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import psycopg
import pytest
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_TOOLS = REPO_ROOT / "tools" / "node"
REQUIRE_ENV = "CITYGRAPH_REQUIRE_SERVICES"
SHARED_DATA_ENV = "CITYGRAPH_SHARED_DATA"
POSTGRES_ENV = "CITYGRAPH_TEST_POSTGRES"
REDIS_ENV = "CITYGRAPH_TEST_REDIS"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
CHROMIUM = Path("/usr/bin/chromium")
TEST_DB_PREFIX = "citygraph_test"
# A database or spawned server left by a crashed session is reaped once it is older than the longest
# session (3 h) and its owner process is gone; younger ones may belong to a session still running.
STALE_AFTER_S = 4 * 3600
# Redis db claims expire by themselves if a session dies; each test renews its session's claim.
REDIS_CLAIM_TTL_S = 4 * 3600
REDIS_CLAIM_KEY = "citygraph-tests:claim:{db}"


# --- absent components: skip, or fail when CI requires them -------------------------------------


def services_required(environ: Mapping[str, str] | None = None) -> bool:
    """True when a missing real component must fail the test rather than skip it."""
    env = os.environ if environ is None else environ
    return env.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes"}


def missing(component: str, reason: str, *, environ: Mapping[str, str] | None = None) -> NoReturn:
    """Skip the running test because `component` is absent, or fail it if services are required."""
    if services_required(environ):
        pytest.fail(
            f"{component} is required ({REQUIRE_ENV}=1) but unavailable: {reason}", pytrace=False
        )
    pytest.skip(f"{component} unavailable: {reason}")


def engine_url(request: pytest.FixtureRequest, sqlite_file: Path) -> str:
    """The database of a test parametrized over ["sqlite", "postgres"]: the SQLite file
    `sqlite_file`, or a fresh PostgreSQL database (dropped after the test)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{sqlite_file}"
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


def postgres_admin_url() -> str:
    """libpq URL of the maintenance database on the PostgreSQL server that tests may use."""
    return os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES)


def redis_base_url() -> str:
    """URL of the Redis server that tests may use (a db number is chosen per session)."""
    return os.environ.get(REDIS_ENV, DEFAULT_REDIS)


def shared_data_dir() -> Path:
    """The real datasets folder: $CITYGRAPH_SHARED_DATA, else ../shared/data beside the repo."""
    configured = os.environ.get(SHARED_DATA_ENV)
    return Path(configured).resolve() if configured else REPO_ROOT.parent / "shared" / "data"


@functools.cache
def _postgres_absent() -> str | None:
    url = postgres_admin_url()
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"cannot connect to {_safe(url)} ({_first_line(exc)}); start it with `pg_ctlcluster --skip-systemctl-redirect 15 main start`"
    return None


@functools.cache
def _redis_absent() -> str | None:
    url = redis_base_url()
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
            client.ping()
    except redis.RedisError as exc:
        return f"no answer to PING at {_safe(url)} ({_first_line(exc)}); start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`"
    return None


def _node_absent() -> str | None:
    if shutil.which("node") is None:
        return "`node` is not on PATH"
    if not (NODE_TOOLS / "node_modules" / ".package-lock.json").is_file():
        return f"{NODE_TOOLS / 'node_modules'} is not installed; run `npm ci --prefix tools/node`"
    return None


def _chromium_absent() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing; install Debian's `chromium` package"
    return None


def _shared_data_absent() -> str | None:
    path = shared_data_dir()
    if not path.is_dir() or not any(path.iterdir()):
        return f"no datasets at {path}; set {SHARED_DATA_ENV} to the folder of real datasets"
    return None


PROBES: dict[str, Callable[[], str | None]] = {
    "postgres": _postgres_absent,
    "redis": _redis_absent,
    "node": _node_absent,
    "chromium": _chromium_absent,
    "shared_data": _shared_data_absent,
}
# pytest markers that stand for a component (tests/conftest.py checks them before each test).
MARKER_COMPONENTS = {
    "postgres": "postgres",
    "redis": "redis",
    "node": "node",
    "browser": "chromium",
    "shared_data": "shared_data",
}


def requires(component: str) -> None:
    """Skip (or fail, see `missing`) the running test unless `component` is present."""
    reason = PROBES[component]()
    if reason is not None:
        missing(component, reason)


# --- databases on the shared PostgreSQL ---------------------------------------------------------


def asyncpg_url(libpq_url: str, database: str | None = None) -> str:
    """SQLAlchemy asyncpg URL for the server of `libpq_url`, optionally of another database."""
    url = make_url(libpq_url).set(drivername="postgresql+asyncpg")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def libpq_url(sqlalchemy_url: str) -> str:
    """Plain postgresql:// URL (for asyncpg.connect or psycopg) from a SQLAlchemy URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def database_exists(admin_url: str, name: str) -> bool:
    """Whether the server of `admin_url` has a database called `name`."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@contextlib.contextmanager
def temporary_database(admin_url: str) -> Iterator[str]:
    """A new empty database for as long as the block runs, as an asyncpg SQLAlchemy URL."""
    # The name carries its birth time and owner so that a crashed session's leftovers can be reaped.
    name = f"{TEST_DB_PREFIX}_{int(time.time())}_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield asyncpg_url(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            # FORCE: a test that leaked a connection must not keep its database alive.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def reap_stale_databases(admin_url: str) -> list[str]:
    """Drop test databases left by sessions that died long ago; returns their names."""
    reaped = []
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (TEST_DB_PREFIX.replace("_", r"\_") + r"\_%",),
            )
        ]
        for name in names:
            parts = name.removeprefix(TEST_DB_PREFIX + "_").split("_")
            if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
                continue
            born, owner = int(parts[0]), int(parts[1])
            if time.time() - born > STALE_AFTER_S and not pid_alive(owner):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
                reaped.append(name)
    return reaped


# --- a db of the shared Redis per session -------------------------------------------------------


@dataclass
class RedisClaim:
    """One Redis logical database reserved for this test session on a shared server."""

    base_url: str
    db: int
    token: str

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.db}"

    def _control(self) -> redis.Redis:
        return redis.Redis.from_url(self.base_url, db=0, socket_timeout=2)

    def flush(self) -> None:
        """Empty this db only, and renew the claim."""
        with self._control() as control:
            key = REDIS_CLAIM_KEY.format(db=self.db)
            # Someone flushed db 0 and the claim with it: take it again, unless another session did.
            if not control.expire(key, REDIS_CLAIM_TTL_S):
                control.set(key, self.token, nx=True, ex=REDIS_CLAIM_TTL_S)
        with redis.Redis.from_url(self.url, socket_timeout=2) as client:
            client.flushdb()

    def release(self) -> None:
        """Empty this db and give it back, unless another session took it over meanwhile."""
        self.flush()
        with self._control() as control:
            key = REDIS_CLAIM_KEY.format(db=self.db)
            if control.get(key) == self.token.encode():
                control.delete(key)


def claim_redis_db(base_url: str) -> RedisClaim:
    """Reserve a free logical db (1 and up; 0 is left to people) on the Redis at `base_url`."""
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    with redis.Redis.from_url(base_url, db=0, socket_timeout=2) as control:
        try:
            databases = int(control.config_get("databases").get("databases", 16))
        except redis.ResponseError:  # CONFIG may be renamed away on a managed server
            databases = 16
        for db in range(1, databases):
            if control.set(REDIS_CLAIM_KEY.format(db=db), token, nx=True, ex=REDIS_CLAIM_TTL_S):
                claim = RedisClaim(base_url=base_url, db=db, token=token)
                claim.flush()
                return claim
    raise RuntimeError(
        f"all Redis dbs 1..{databases - 1} at {_safe(base_url)} are claimed by other test sessions"
    )


# --- private servers a test may stop, freeze or kill ---------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (spawners retry if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    try:  # Linux: the tests' machines all are, and _children() reads /proc too
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:  # exited meanwhile
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    """Direct children of `pid` (PostgreSQL backends put themselves in their own process groups,
    so a process-group signal would miss them)."""
    kids = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat_file.parent.name))
    return kids


def _signal(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


_LIVE: dict[int, SpawnedServer] = {}


@dataclass(eq=False)
class SpawnedServer:
    """A private server on a loopback port, owned by one test: stop, freeze, thaw or kill it at will."""

    kind: str  # "postgres" or "redis"
    url: str
    port: int
    pid: int
    workdir: Path
    graceful: signal.Signals
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    host: str = "127.0.0.1"

    def alive(self) -> bool:
        """Whether the server process still runs."""
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return pid_alive(self.pid)

    def _tree(self) -> list[int]:
        return [self.pid, *_children(self.pid)] if self.alive() else []

    def freeze(self) -> None:
        """SIGSTOP the server and its workers: connections hang, nothing answers."""
        # The parent first, so that it forks no new worker while the workers are being stopped.
        _signal(self._tree(), signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        _signal(self._tree(), signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crash would."""
        _signal(self._tree(), signal.SIGKILL)
        self._wait_gone(5)

    def stop(self, timeout: float = 10) -> None:
        """Shut down cleanly (killing after `timeout` s), then remove the working folder. Idempotent."""
        if self.alive():
            self.thaw()  # a stopped process would not act on the shutdown signal
            _signal([self.pid], self.graceful)
            if not self._wait_gone(timeout):
                self.kill()
        _LIVE.pop(self.pid, None)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        if self.popen is not None:
            self.popen.wait()
        return True

    def __enter__(self) -> SpawnedServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_all_spawned() -> None:
    """Stop every private server this process started and has not stopped yet."""
    for server in list(_LIVE.values()):
        server.stop(timeout=5)


atexit.register(stop_all_spawned)


def _new_workdir(kind: str, owner: str | None = None) -> Path:
    # Not pytest's tmp_path: its parents are mode 0700 for root, and the postgres user must get in.
    workdir = Path(tempfile.mkdtemp(prefix=f"citygraph-{kind}-"))
    (workdir / "owner").write_text(str(os.getpid()))
    if owner is not None:
        shutil.chown(workdir, user=owner)
    return workdir


def reap_orphan_servers() -> list[Path]:
    """Kill the private servers of test processes that died long ago, and remove their folders."""
    reaped = []
    for workdir in Path(tempfile.gettempdir()).glob("citygraph-*-*"):
        try:
            owner = int((workdir / "owner").read_text())
            server_pid = int((workdir / "server.pid").read_text())
            age = time.time() - workdir.stat().st_mtime
        except (OSError, ValueError):
            continue
        if age < STALE_AFTER_S or pid_alive(owner):
            continue
        # Only a process whose command line names this folder is ours: pids get reused.
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{server_pid}/cmdline").read_bytes().decode(errors="replace")
            if str(workdir) in cmdline:
                _signal([server_pid, *_children(server_pid)], signal.SIGKILL)
        shutil.rmtree(workdir, ignore_errors=True)
        reaped.append(workdir)
    return reaped


def _wait_for_line(log: Path, text: str, alive: Callable[[], bool], timeout: float) -> bool:
    """Wait until the server writes `text` to its own log. (An open port could be another process
    that took the port first.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.02)
    return False


def spawn_redis(*extra: str, attempts: int = 3) -> SpawnedServer:
    """Start a private redis-server on a free loopback port, without persistence.

    `extra` are more configuration arguments (`"--unixsocket", path`, ...).
    """
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server", "`redis-server` is not on PATH; install Debian's redis-server")
    for _ in range(attempts):
        port = free_port()
        workdir = _new_workdir("redis")
        log = (workdir / "redis.log").open("wb")
        popen = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no", *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to pytest, not to the server
        )  # fmt: skip
        log.close()
        (workdir / "server.pid").write_text(str(popen.pid))
        server = SpawnedServer(
            kind="redis",
            url=f"redis://127.0.0.1:{port}/0",
            port=port,
            pid=popen.pid,
            workdir=workdir,
            graceful=signal.SIGTERM,
            popen=popen,
        )
        _LIVE[server.pid] = server
        if _wait_for_line(workdir / "redis.log", "Ready to accept connections", server.alive, 10):
            return server
        output = (workdir / "redis.log").read_text(errors="replace")
        server.stop()
        if "Address already in use" not in output:
            raise RuntimeError(f"redis-server did not start on port {port}:\n{output}")
    raise RuntimeError(f"redis-server found no free port in {attempts} attempts")


@functools.cache
def postgres_bin_dir() -> Path | None:
    """The folder of initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    for bin_dir in reversed(candidates):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user() -> tuple[list[str], str | None]:
    """Command prefix and OS user that run PostgreSQL: initdb and postgres refuse to run as root."""
    if os.geteuid() != 0:
        return [], None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        missing("postgres", "running as root and there is no `postgres` OS user to run initdb as")
    runuser = shutil.which("runuser")
    if runuser is None:
        missing("postgres", "running as root and `runuser` is missing to run initdb as `postgres`")
    return [runuser, "-u", "postgres", "--"], "postgres"


def spawn_postgres(*, attempts: int = 3) -> SpawnedServer:
    """initdb a private PostgreSQL cluster in a temporary folder and start it on a free loopback port.

    Its `url` is an asyncpg SQLAlchemy URL to the `postgres` database, user `postgres`, trust auth.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        missing("postgres", "no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH")
    prefix, user = _as_server_user()
    workdir = _new_workdir("postgres", owner=user)
    data = workdir / "data"
    # UTF-8 with the C.UTF-8 locale, as the machine's cluster: lower('É') is 'é' in both.
    initdb = subprocess.run(
        [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
        stdin=subprocess.DEVNULL, capture_output=True, check=False,
    )  # fmt: skip
    if initdb.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{initdb.stdout.decode()}{initdb.stderr.decode()}")
    for _ in range(attempts):
        port = free_port()
        # Speed over durability: the cluster is thrown away after the test.
        options = (
            f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off"
        )
        start = subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "postgres.log"),
             "-w", "-t", "30", "-o", options, "start"],
            stdin=subprocess.DEVNULL, capture_output=True, check=False,
        )  # fmt: skip
        if start.returncode == 0:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            (workdir / "server.pid").write_text(str(pid))
            server = SpawnedServer(
                kind="postgres",
                url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres",
                port=port,
                pid=pid,
                workdir=workdir,
                graceful=signal.SIGINT,  # "fast" shutdown: roll back sessions, exit at once
            )
            _LIVE[pid] = server
            return server
        log = (workdir / "postgres.log").read_text(errors="replace")
        if "could not bind" not in log:
            shutil.rmtree(workdir, ignore_errors=True)
            raise RuntimeError(f"pg_ctl start failed:\n{start.stdout.decode()}{log}")
    shutil.rmtree(workdir, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL found no free port in {attempts} attempts")


# --- small helpers ------------------------------------------------------------------------------


def _safe(url: str) -> str:
    """A URL fit for a message: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses (redis://...): keep host and port only
        return url.split("@")[-1]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
