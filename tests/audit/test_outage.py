"""The log's database goes down mid-run: restricted fields are refused, public data is served, and
when it comes back the spooled records are replayed with every chain intact (DESIGN section 4).

The log lives on a private PostgreSQL (the audit department's own URL) that the test kills and
restarts; the city's data stays on SQLite.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests import services
from tests.audit.helpers import (
    PURPOSE,
    ask,
    audited_client,
    codes,
    read_log,
    settings_for,
    token,
    verify_log,
)
from tests.services import SpawnedServer

MIXED = "{ bikeStations(first: 2) { nodes { id } } residents { nodes { id familyName } } }"
STATIONS = "{ bikeStations(first: 2) { nodes { id } } }"
SEGMENTS = {".open", ".jsonl"}


def restart(server: SpawnedServer) -> None:
    """Start a killed private cluster again on its port, from its own data folder."""
    bin_dir = services.postgres_bin_dir()
    assert bin_dir is not None
    prefix, _user = services._as_server_user()
    options = f"-p {server.port} -k {server.workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    data = server.workdir / "data"
    # the killed postmaster may linger as a zombie (nobody reaps it in a container), and
    # PostgreSQL takes a zombie's pid in postmaster.pid for a live server: the file must go
    stat = Path(f"/proc/{server.pid}/stat")
    if not stat.exists() or stat.read_text().split()[2] == "Z":
        (data / "postmaster.pid").unlink(missing_ok=True)
        for lock in server.workdir.glob(".s.PGSQL.*"):
            lock.unlink(missing_ok=True)
    started = subprocess.run(
        [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(server.workdir / "postgres.log"),
         "-w", "-t", "30", "-o", options, "start"],
        stdin=subprocess.DEVNULL, capture_output=True, check=False,
    )  # fmt: skip
    log = (server.workdir / "postgres.log").read_text(errors="replace")[-2000:]
    assert started.returncode == 0, f"{started.stdout.decode()}{started.stderr.decode()}{log}"
    server.pid = int((data / "postmaster.pid").read_text().split()[0])
    services._LIVE[server.pid] = server


@pytest.mark.slow
@pytest.mark.postgres
def test_restricted_fields_fail_closed_and_the_spool_is_replayed(
    tmp_path: Path, spawned_postgres: SpawnedServer
) -> None:
    # the private cluster trades durability for speed (synchronous_commit=off): a crash would
    # lose commits that the log counts on, which is what a production server never does
    with psycopg.connect(services.libpq_url(spawned_postgres.url), autocommit=True) as conn:
        conn.execute("ALTER DATABASE postgres SET synchronous_commit = on")
    settings = settings_for(
        tmp_path,
        database_urls={"audit": spawned_postgres.url},
        audit_commit_timeout_s=1.0,
    )
    staff = token(tmp_path, ["registry:read"])
    with audited_client(settings) as client:
        before = ask(client, MIXED, staff, **PURPOSE)
        assert before.json()["data"]["residents"]["nodes"][0]["familyName"] == "Curie"

        spawned_postgres.kill()
        during = ask(client, MIXED, staff, **PURPOSE)
        assert during.status_code == 200
        assert during.json()["data"]["bikeStations"]["nodes"]  # public data still served
        assert during.json()["data"]["residents"] is None  # restricted data refused
        assert codes(during) == ["AUDIT_UNAVAILABLE"]
        assert "Curie" not in during.text
        for _ in range(5):
            assert ask(client, STATIONS).json()["data"]["bikeStations"]["nodes"]
        # in sealed segments (.jsonl), or in the one being written (.open) until the next flush
        spooled = [p for p in (settings.audit_dir / "spool").rglob("*") if p.suffix in SEGMENTS]
        assert sum(p.stat().st_size for p in spooled), "the records of the outage wait in the spool"

        restart(spawned_postgres)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(read_log(settings)) < 7:
            time.sleep(0.2)
        after = ask(client, MIXED, staff, **PURPOSE)
        assert after.json()["data"]["residents"]["nodes"][0]["familyName"] == "Curie"
    records = read_log(settings)
    assert len(records) == 8  # one per request, none lost, none twice
    refused = [r for r in records if "AUDIT_UNAVAILABLE" in r["error_codes"]]
    assert len(refused) == 1
    assert refused[0]["outcome"] == "denied"
    assert refused[0]["restricted"] is False  # nothing restricted left the server
    report = verify_log(settings)
    assert report.ok, report.problems()
