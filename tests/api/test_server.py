"""`citygraph serve --workers 2` for real: two processes answer, each on its own audit chain, and
SIGTERM stops every one of them (shippers included) without losing a record."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.server import environment_of, run
from api.settings import Settings
from auth.keys import KeyStore
from tests.audit.helpers import PURPOSE, log_rows, read_log, settings_for, token
from tests.audit.servers import Server, seed_data_dir
from tests.services import REPO_ROOT, _children, pid_alive

STATIONS = "{ bikeStations(first: 5) { nodes { id name } } }"
RESIDENTS = "{ residents { nodes { id familyName } } }"
DEADLINE_S = 60


def test_command_line_settings_reach_the_workers_through_the_environment() -> None:
    assert environment_of({"port": 8123, "host": None, "workers": 2}) == {
        "CITYGRAPH_PORT": "8123",
        "CITYGRAPH_WORKERS": "2",
    }


def test_uvicorn_builds_no_access_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ours is the audit (api.logs disables uvicorn's); uvicorn must not build lines for it."""
    given: dict[str, object] = {}
    monkeypatch.setattr("api.server.uvicorn.run", lambda *a, **kw: given.update(kw))
    monkeypatch.setattr("api.server.os.environ", {})  # run() writes the workers' environment
    run(Settings(), {})
    assert given["access_log"] is False
    assert given["log_config"] is None


@pytest.fixture(params=["sqlite", "postgres"])
def log_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the log lives: the city's SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return {}
    return {"audit": request.getfixturevalue("fresh_postgres_url")}


@pytest.fixture
def started() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        # a failed test leaves no worker behind, even when the supervisor went first: the process
        # group (the server's own session) outlives its leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.popen.pid, signal.SIGKILL)
        server.popen.wait(10)


def chain_pid(chain_id: str) -> int:
    """The process that wrote a chain (`[server@]host-pid-random`)."""
    return int(chain_id.rsplit("-", 2)[1])


def ask(url: str, restricted: bool, staff: str) -> tuple[str, httpx.Response]:
    """One request on a new connection (so that either worker may accept it)."""
    request_id = uuid.uuid4().hex
    headers = {"x-request-id": request_id}
    if restricted:
        headers |= {"Authorization": f"Bearer {staff}", **PURPOSE}
    query = RESIDENTS if restricted else STATIONS
    return request_id, httpx.post(url, json={"query": query}, headers=headers, timeout=20)


def serve_two_workers(
    tmp_path: Path, started: list[Server], log_urls: dict[str, str]
) -> tuple[Server, Settings, str]:
    """`citygraph serve --workers 2` on a seeded city, each worker shipping through a child."""
    settings = settings_for(tmp_path, database_urls=log_urls)
    seed_data_dir(settings)
    KeyStore(tmp_path / "keys").signing_keys()  # one signing key for both workers
    staff = token(tmp_path, ["registry:read"])
    env = {"CITYGRAPH_DATABASE_URLS": json.dumps(log_urls), "CITYGRAPH_AUDIT_SHIPPER": "process"}
    server = Server(tmp_path, env, args=("--workers", "2"), start_timeout_s=DEADLINE_S)
    started.append(server)
    return server, settings, staff


def ask_until_both_answer(url: str, settings: Settings, staff: str) -> tuple[list[str], set[int]]:
    """Ask on many connections at once until two workers have answered: the request ids
    received, and the pids of the workers (from their chains)."""
    received: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    both = threading.Event()
    deadline = time.monotonic() + DEADLINE_S

    def client(n: int) -> None:
        for i in range(10_000):
            if both.is_set() or time.monotonic() > deadline:
                return
            try:
                request_id, response = ask(url, restricted=(i + n) % 2 == 0, staff=staff)
                failure = None
                if response.status_code != 200 or "errors" in response.json():
                    failure = response.text
            except (httpx.HTTPError, ValueError) as exc:  # a thread's exception would be lost
                failure = repr(exc)
            with lock:
                if failure is not None:
                    failures.append(failure)
                    return
                received.append(request_id)

    def watch() -> None:
        # restricted records are committed by the worker itself before it answers
        while time.monotonic() < deadline and not both.is_set() and not failures:
            if len(worker_pids(settings)) >= 2:
                both.set()
            time.sleep(0.2)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    watcher = threading.Thread(target=watch)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in [*threads, watcher]:
        thread.join()
    assert not failures, failures
    assert both.is_set(), "one worker answered everything"
    return received, worker_pids(settings)


def worker_pids(settings: Settings) -> set[int]:
    """The processes that wrote chains of their own (not shippers)."""
    return {chain_pid(chain) for chain, _ in log_rows(settings) if not chain.startswith("ship@")}


def assert_every_response_recorded(
    tmp_path: Path, settings: Settings, log_urls: dict[str, str], received: list[str]
) -> None:
    """Every request id received is in the log, and `citygraph audit verify` passes."""
    assert len(received) > 2
    in_log = {r["request_id"] for r in read_log(settings)}
    assert set(received) <= in_log
    verified = subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", "audit", "verify"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "CITYGRAPH_DATA_DIR": str(tmp_path),
            "CITYGRAPH_DATABASE_URLS": json.dumps(log_urls),
        },
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr


def wait_gone(pids: set[int]) -> set[int]:
    """The pids still alive once all are gone or the deadline passed."""
    deadline = time.monotonic() + DEADLINE_S
    while (alive := {p for p in pids if pid_alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.mark.slow
def test_two_workers_answer_on_their_own_chains_and_stop_on_sigterm(
    tmp_path: Path, started: list[Server], log_urls: dict[str, str]
) -> None:
    # given a city served by `citygraph serve --workers 2`
    server, settings, staff = serve_two_workers(tmp_path, started, log_urls)

    # when clients ask on many connections at once
    received, workers = ask_until_both_answer(f"{server.url}/graphql", settings, staff)

    # then two processes, children of the supervisor, wrote two chains of their own
    assert len(workers) == 2
    assert server.popen.pid not in workers
    for pid in workers:
        assert _parent(pid) == server.popen.pid
    shippers = {pid for w in workers for pid in _children(w)}
    assert len(shippers) == 2  # each worker ships its own spool

    # when the supervisor gets SIGTERM
    server.popen.send_signal(signal.SIGTERM)
    server.popen.wait(DEADLINE_S)

    # then every process is gone, and every response received has its record in a valid log
    assert not wait_gone(workers | shippers), "a process outlived the supervisor"
    assert_every_response_recorded(tmp_path, settings, log_urls, received)


@pytest.mark.slow
def test_workers_stop_gracefully_when_the_supervisor_is_killed(
    tmp_path: Path, started: list[Server]
) -> None:
    # given two workers that have answered
    server, settings, staff = serve_two_workers(tmp_path, started, {})
    received, workers = ask_until_both_answer(f"{server.url}/graphql", settings, staff)
    shippers = {pid for w in workers for pid in _children(w)}

    # when the supervisor dies without a word to them
    server.popen.kill()
    server.popen.wait(DEADLINE_S)

    # then they stop as if it had asked: no orphan serves on, every record is shipped
    assert not wait_gone(workers | shippers), "a worker outlived its supervisor"
    assert_every_response_recorded(tmp_path, settings, {}, received)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
