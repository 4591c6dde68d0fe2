"""The shipper child ("process" mode): public records reach the log from a process of its own, on
a chain of its own, and none is lost or written twice when it, or the server, is killed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from api.settings import Settings
from audit.chain import canonical
from audit.spool import LOCK_FILE, SHIP_LOCK_FILE, Drain, flocked
from audit.store import ChainAppender
from audit.verify import verify
from audit.writer import AuditWriter
from auth.keys import KeyStore
from tests.audit.conftest import KEY, record
from tests.audit.helpers import (
    PURPOSE,
    ask,
    audited_client,
    eventually,
    log_rows,
    settings_for,
    token,
    verify_log,
)
from tests.audit.servers import Server, seed_data_dir
from tests.audit.test_processes import load
from tests.services import free_port

STATIONS = "{ bikeStations(first: 2) { nodes { id } } }"
RESIDENTS = "{ residents { nodes { id familyName } } }"


@pytest.fixture(params=["sqlite", "postgres"])
def log_urls(request: pytest.FixtureRequest) -> dict[str, str]:
    """Where the log lives: the city's SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return {}
    return {"audit": request.getfixturevalue("fresh_postgres_url")}


def shipping(data_dir: Path, log_urls: dict[str, str], **overrides: Any) -> Settings:
    return settings_for(data_dir, audit_shipper="process", database_urls=log_urls, **overrides)


def request_ids(settings: Settings) -> Counter[str]:
    """How many records the log holds of each request."""
    return Counter(orjson.loads(body)["request_id"] for _, body in log_rows(settings))


def chains_of(settings: Settings) -> dict[str, str]:
    """The chain each request's record is on."""
    return {orjson.loads(body)["request_id"]: chain for chain, body in log_rows(settings)}


def public(client: TestClient, count: int) -> list[str]:
    """`count` public requests; their request ids."""
    sent = []
    for _ in range(count):
        request_id = uuid.uuid4().hex
        response = client.post(
            "/graphql", json={"query": STATIONS}, headers={"x-request-id": request_id}
        )
        assert response.json()["data"]["bikeStations"]["nodes"]
        sent.append(request_id)
    return sent


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def holds(condition: Callable[[], bool], seconds: float = 20) -> bool:
    return eventually(condition, bool, seconds)


def writer_of(client: TestClient) -> AuditWriter:
    audit = client.app.state.citygraph.audit  # type: ignore[attr-defined]
    assert audit is not None
    return audit.writer


# --- in one process: the app and its shipper child ----------------------------------------------


def test_public_records_are_shipped_on_a_chain_of_their_own(
    tmp_path: Path, log_urls: dict[str, str]
) -> None:
    settings = shipping(tmp_path, log_urls)
    staff = token(tmp_path, ["registry:read"])
    with audited_client(settings) as client:
        writer = writer_of(client)
        pid = writer.shipper_pid
        assert pid is not None
        assert alive(pid)
        sent = public(client, 25)
        restricted = uuid.uuid4().hex
        answer = ask(client, RESIDENTS, staff, **PURPOSE, **{"x-request-id": restricted})
        assert answer.json()["data"]["residents"]["nodes"]
        # a restricted read is committed by the server itself, before its response
        assert request_ids(settings)[restricted] == 1
        # public ones reach the log while the app runs, shipped by the child
        assert holds(lambda: set(sent) <= set(request_ids(settings)))
        assert writer.store_available
    assert not alive(pid)  # stopped with the app
    counts = request_ids(settings)
    assert all(counts[rid] == 1 for rid in [*sent, restricted]), counts
    chains = chains_of(settings)
    assert {chains[rid] for rid in sent} == {chains[sent[0]]}
    assert chains[sent[0]].startswith("ship@")
    assert chains[restricted] == writer.appender.chain_id
    report = verify_log(settings)
    assert report.ok, report.problems()
    assert {c.chain_id: c.records for c in report.chains} == {
        chains[sent[0]]: 25,
        chains[restricted]: 1,
    }
    assert not writer.folder.exists()  # everything shipped: the spool folder went


def test_a_killed_shipper_is_replaced_and_no_record_is_lost_or_doubled(
    tmp_path: Path, log_urls: dict[str, str]
) -> None:
    settings = shipping(tmp_path, log_urls)
    with audited_client(settings) as client:
        writer = writer_of(client)
        first = public(client, 10)
        assert holds(lambda: set(first) <= set(request_ids(settings)))
        middle = public(client, 10)  # spooled; being shipped, perhaps, as it is killed
        killed = writer.shipper_pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        assert holds(lambda: not alive(killed), 5)
        # as if it had died between a commit and the unlink of its segment: lines in the log
        # already, left in a sealed segment that its successor finds when it starts
        shipped = [
            body for _, body in log_rows(settings) if orjson.loads(body)["request_id"] in first
        ]
        (writer.folder / "0000000000.jsonl").write_text("".join(f"{b}\n" for b in shipped))
        assert holds(lambda: writer.shipper_pid not in (None, killed))
        successor = writer.shipper_pid
        assert successor is not None
        assert holds(lambda: alive(successor), 5)
        last = public(client, 10)
        assert holds(lambda: set(last) <= set(request_ids(settings)))  # by the successor
    counts = request_ids(settings)
    assert all(counts[rid] == 1 for rid in [*first, *middle, *last]), counts
    assert sum(counts.values()) == 30
    ship_chains = {c for c in chains_of(settings).values() if c.startswith("ship@")}
    assert len(ship_chains) >= 2  # the killed shipper's, its successor's
    report = verify_log(settings)
    assert report.ok, report.problems()


def test_a_log_that_is_down_shows_in_store_available_and_records_stay_spooled(
    tmp_path: Path,
) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nothing"
    settings = shipping(tmp_path, {"audit": nowhere})
    with audited_client(settings) as client:
        writer = writer_of(client)
        assert writer.store_available
        public(client, 3)
        # the shipper's failed pass reaches the writer through ship.status
        assert holds(lambda: not writer.store_available)
        folder = writer.folder
    spooled = b"".join(p.read_bytes() for p in folder.glob("*.jsonl"))
    assert spooled.count(b"\n") == 3  # kept for the next start


async def test_a_folder_is_taken_over_only_when_its_writer_and_shipper_are_gone(
    log_engine: AsyncEngine, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    folder = spool / "host-1-dead"
    folder.mkdir(parents=True)
    records = [record(n) for n in range(1, 4)]
    (folder / "0000000001.open").write_text("".join(canonical(r.body()) + "\n" for r in records))
    heir = Drain(ChainAppender(log_engine, KEY), batch_size=500)
    for held in (LOCK_FILE, SHIP_LOCK_FILE):
        with flocked(folder, held) as taken:
            assert taken
            assert await heir.orphans(spool, own=spool / "mine")
            assert (folder / "0000000001.open").exists()  # someone still holds it
    assert await heir.orphans(spool, own=spool / "mine")
    assert not folder.exists()
    report = await verify(log_engine, KEY)
    assert report.ok, report.problems()
    async with log_engine.connect() as conn:
        rows = await conn.exec_driver_sql("SELECT record_id FROM audit_log ORDER BY seq")
        assert [r[0] for r in rows] == [r.record_id for r in records]


# --- real servers, killed outright ---------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.popen.pid, signal.SIGKILL)  # the server and its shipper
        server.popen.wait(10)


def crashing_server(tmp_path: Path, log_urls: dict[str, str]) -> tuple[Settings, Server, str]:
    """A process-mode server that seals nothing on its own: every public record it spools stays
    in its open segment (no flush interval or batch comes round before it is killed)."""
    settings = shipping(tmp_path, log_urls)
    seed_data_dir(settings)
    KeyStore(tmp_path / "keys").signing_keys()
    env = {
        "CITYGRAPH_AUDIT_SHIPPER": "process",
        "CITYGRAPH_DATABASE_URLS": json.dumps(log_urls),
        "CITYGRAPH_AUDIT_FLUSH_INTERVAL_S": "60",
        "CITYGRAPH_AUDIT_BATCH_SIZE": "10000",
    }
    return settings, Server(tmp_path, env), token(tmp_path, ["registry:read"])


def load_for(url: str, staff: str, seconds: float) -> list[tuple[str, bool]]:
    received: list[tuple[str, bool]] = []
    until = threading.Event()
    worker = threading.Thread(
        target=load, args=([url], staff), kwargs={"until": until, "received": received}
    )
    worker.start()
    until.wait(seconds)
    until.set()
    worker.join()
    return received


def spool_folders(settings: Settings) -> list[Path]:
    spool = settings.audit_dir / "spool"
    return [p for p in spool.iterdir() if p.is_dir()] if spool.exists() else []


@pytest.mark.slow
def test_a_killed_servers_shipper_ships_its_open_segment(
    tmp_path: Path, servers: list[Server], log_urls: dict[str, str]
) -> None:
    settings, server, staff = crashing_server(tmp_path, log_urls)
    servers.append(server)
    received = load_for(server.url, staff, 2)
    server.kill()  # SIGKILL to the server alone: its shipper sees its parent die
    assert len(received) > 20
    # no other server starts: the orphaned shipper ships its parent's open segment and exits
    assert holds(lambda: {rid for rid, _ in received} <= set(request_ids(settings)))
    assert holds(lambda: not spool_folders(settings))
    counts = request_ids(settings)
    assert all(n == 1 for n in counts.values()), counts
    report = verify_log(settings)
    assert report.ok, report.problems()


@pytest.mark.slow
def test_a_server_killed_with_its_shipper_is_taken_over_by_the_next(
    tmp_path: Path, servers: list[Server], log_urls: dict[str, str]
) -> None:
    settings, server, staff = crashing_server(tmp_path, log_urls)
    servers.append(server)
    received = load_for(server.url, staff, 2)
    os.killpg(server.popen.pid, signal.SIGKILL)  # the whole group, as an OOM kill of a container
    server.popen.wait(10)
    sent = {rid for rid, _ in received}
    restricted = {rid for rid, got in received if got}
    assert restricted, "some restricted responses were received before the crash"
    in_log = set(request_ids(settings))
    assert restricted <= in_log  # committed before they were sent
    assert not sent <= in_log  # the public ones were still in the dead server's spool
    [orphan] = spool_folders(settings)
    heir = Server(
        tmp_path,
        {"CITYGRAPH_AUDIT_SHIPPER": "process", "CITYGRAPH_DATABASE_URLS": json.dumps(log_urls)},
    )
    servers.append(heir)
    assert holds(lambda: sent <= set(request_ids(settings)))  # its shipper took them over
    heir.terminate()
    assert not orphan.exists()
    counts = request_ids(settings)
    assert all(n == 1 for n in counts.values()), counts
    report = verify_log(settings)
    assert report.ok, report.problems()
