"""Real server processes: two writing one log at once, and one killed outright under load."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from auth.keys import KeyStore
from tests.audit.helpers import PURPOSE, read_log, settings_for, token, verify_log
from tests.audit.servers import Server, seed_data_dir

STATIONS = "{ bikeStations(first: 5) { nodes { id name } } }"
RESIDENTS_Q = "{ residents { nodes { id familyName } } }"


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def load(
    urls: list[str], staff: str, *, until: threading.Event, received: list[tuple[str, bool]]
) -> None:
    """Alternate public and restricted requests; note the id of every response received."""
    with httpx.Client(timeout=10) as http:
        for n in itertools.count():
            if until.is_set():
                return
            restricted = n % 3 == 0
            request_id = uuid.uuid4().hex
            headers = {"x-request-id": request_id}
            if restricted:
                headers |= {"Authorization": f"Bearer {staff}", **PURPOSE}
            try:
                response = http.post(
                    urls[n % len(urls)] + "/graphql",
                    json={"query": RESIDENTS_Q if restricted else STATIONS},
                    headers=headers,
                )
            except httpx.HTTPError:
                continue  # the server died: this response was never received
            if response.status_code == 200:
                body = response.json()
                got_restricted = bool((body.get("data") or {}).get("residents"))
                received.append((request_id, got_restricted))


def run_load(
    urls: list[str], staff: str, seconds: float, threads: int = 4
) -> list[tuple[str, bool]]:
    received: list[tuple[str, bool]] = []
    until = threading.Event()
    workers = [
        threading.Thread(
            target=load, args=(urls, staff), kwargs={"until": until, "received": received}
        )
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    until.wait(seconds)
    until.set()
    for worker in workers:
        worker.join()
    return received


@pytest.fixture(params=["sqlite", "postgres"])
def log_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the log lives: the city's SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return {}
    return {"audit": request.getfixturevalue("fresh_postgres_url")}


@pytest.mark.slow
def test_two_servers_write_one_log_without_a_gap(
    tmp_path: Path, servers: list[Server], log_urls: dict[str, str]
) -> None:
    settings = settings_for(tmp_path, database_urls=log_urls)
    seed_data_dir(settings)
    KeyStore(tmp_path / "keys").signing_keys()  # one key for both servers
    staff = token(tmp_path, ["registry:read"])
    env = {"CITYGRAPH_DATABASE_URLS": json.dumps(log_urls)}
    servers += [Server(tmp_path, env), Server(tmp_path, env)]
    received = run_load([s.url for s in servers], staff, seconds=3)
    for server in servers:
        server.terminate()
    records = read_log(settings)
    assert len(received) > 50
    assert {r["request_id"] for r in records} >= {rid for rid, _ in received}
    assert len({r["request_id"] for r in records}) == len(records)  # none twice
    report = verify_log(settings)
    assert report.ok, report.problems()
    assert len(report.chains) == 2  # one chain per process


@pytest.mark.slow
def test_a_killed_server_loses_no_record_of_a_response_sent(
    tmp_path: Path, servers: list[Server]
) -> None:
    settings = settings_for(tmp_path)
    seed_data_dir(settings)
    KeyStore(tmp_path / "keys").signing_keys()
    staff = token(tmp_path, ["registry:read"])
    # public records wait in the spool the whole time: nothing is flushed before the crash
    crashing = Server(tmp_path, {"CITYGRAPH_AUDIT_FLUSH_INTERVAL_S": "60"})
    servers.append(crashing)
    received: list[tuple[str, bool]] = []
    until = threading.Event()
    worker = threading.Thread(
        target=load, args=([crashing.url], staff), kwargs={"until": until, "received": received}
    )
    worker.start()
    until.wait(2)
    crashing.kill()  # SIGKILL under load
    until.set()
    worker.join()
    restricted = {rid for rid, got in received if got}
    assert restricted, "some restricted responses were received before the crash"
    in_log = {r["request_id"] for r in read_log(settings)}
    assert restricted <= in_log  # committed before they were sent
    # the next start replays the dead process's spool
    servers.append(Server(tmp_path))
    servers[-1].terminate()
    records = read_log(settings)
    assert {rid for rid, _ in received} <= {r["request_id"] for r in records}
    assert len({r["request_id"] for r in records}) == len(records)
    report = verify_log(settings)
    assert report.ok, report.problems()
