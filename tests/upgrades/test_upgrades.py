"""Any database that any release has made upgrades in place, keeping every row, publication,
client, key and audit chain; production refuses a database behind the code in one line; two
servers starting at once on one empty database migrate it once.

The fixtures under fixtures/ were made by earlier releases with make_fixture.py (its docstring
says how); every release that changes the schema adds its own, and every fixture keeps upgrading.
"""

from __future__ import annotations

import contextlib
import json
import lzma
import os
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from storage.revisions import scripts
from tests import services
from tests.audit.helpers import BASE as ISSUER
from tests.audit.helpers import token
from tests.audit.servers import SERVE, Server

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCOPES = {"self_service": "open-data", "admin": "social:read"}
"""What make_fixture.py registered each client for."""
NAMES = sorted(p.name for p in FIXTURES.iterdir() if (p / "fixture.json").is_file())


@dataclass
class Restored:
    """A fixture unpacked into a data dir (and a PostgreSQL database), as the release left it."""

    fixture: dict[str, Any]
    data_dir: Path
    database_url: str | None

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "CITYGRAPH_DATA_DIR": str(self.data_dir),
            "CITYGRAPH_ENVIRONMENT": "development",
            "CITYGRAPH_PUBLIC_URL": ISSUER,
            "CITYGRAPH_LOG_LEVEL": "warning",
            **extra,
        }
        if self.database_url:
            env["CITYGRAPH_DATABASE_URL"] = self.database_url
        return env

    def settings(self) -> Settings:
        return Settings(
            data_dir=self.data_dir,
            environment=Environment.DEVELOPMENT,
            public_url=ISSUER,
            database_url=self.database_url,
            cache_enabled=False,
        )

    def revisions(self) -> set[str]:
        """The revisions alembic recorded in the fixture's PostgreSQL database (none before 0.2)."""
        if self.database_url is None:
            return set()
        with psycopg.connect(services.libpq_url(self.database_url)) as conn:
            exists = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
            if exists is None or exists[0] is None:
                return set()
            return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}

    def counts(self) -> dict[str, int]:
        """Rows of every table, named as the fixture names them."""
        if self.database_url is None:
            counts = {}
            for db in sorted(self.data_dir.glob("*.db")):
                with contextlib.closing(sqlite3.connect(db)) as conn:
                    for (name,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    ).fetchall():
                        query = f'SELECT count(*) FROM "{name}"'  # noqa: S608 - the file's own names
                        counts[f"{db.name}:{name}"] = conn.execute(query).fetchone()[0]
            return counts
        with psycopg.connect(services.libpq_url(self.database_url)) as conn:
            names = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            counts = {}
            for (name,) in names.fetchall():
                query = f'SELECT count(*) FROM "{name}"'  # noqa: S608 - the catalog's own names
                row = conn.execute(query).fetchone()
                assert row is not None
                counts[name] = int(row[0])
            return counts


def restore(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Restored:
    folder = FIXTURES / name
    fixture = json.loads((folder / "fixture.json").read_text())
    data_dir = tmp_path / "data"
    with tarfile.open(folder / "data.tar.xz") as tar:
        tar.extractall(data_dir, filter="data")
    url = None
    if fixture["engine"] == "postgres":
        url = request.getfixturevalue("fresh_postgres_url")
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-d", services.libpq_url(url)],
            input=lzma.decompress((folder / "postgres.sql.xz").read_bytes()),
            capture_output=True,
            check=True,
        )
    return Restored(fixture, data_dir, url)


def citygraph(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SERVE, *args],
        cwd=services.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def serving(restored: Restored) -> Iterator[TestClient]:
    app = create_app(restored.settings())
    with TestClient(app, base_url=ISSUER, client=("127.0.0.1", 50000)) as client:
        yield client


def ask(client: TestClient, query: str, bearer: str | None = None, **headers: str) -> Any:
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.slow
@pytest.mark.timeout(600)  # a restore, four CLI runs and an app: minutes on a busy machine
@pytest.mark.parametrize("name", NAMES)
def test_a_city_an_earlier_release_made_upgrades_keeping_everything(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    restored = restore(name, tmp_path, request)
    fixture = restored.fixture
    assert restored.counts() == fixture["counts"]  # the fixture is whole before the upgrade

    recorded = restored.revisions()
    # production needs PostgreSQL: there a database behind the code is refused, in one line
    if restored.database_url and recorded != set(scripts().get_heads()):
        refused = citygraph(restored.env(CITYGRAPH_ENVIRONMENT="production"), "serve")
        said = refused.stdout + refused.stderr
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in said
        assert len(said.strip().splitlines()) == 1, said  # one line, however long
        assert "run `citygraph migrate`" in said
        if recorded:  # a release under migrations: the refusal names what is missing
            missing = {s.revision for s in scripts().walk_revisions()} - {
                s.revision for head in recorded for s in scripts().iterate_revisions(head, "base")
            }
            assert all(revision in said for revision in missing), said
        else:  # release 0.1 made its tables with create_all
            assert "not yet under migrations" in said

    migrated = citygraph(restored.env(), "migrate")
    assert migrated.returncode == 0, migrated.stderr
    counts = restored.counts()
    assert {table: counts.get(table) for table in fixture["counts"]} == fixture["counts"]
    again = citygraph(restored.env(), "migrate")
    assert "every database is at this release's schema" in again.stderr
    verified = citygraph(restored.env(), "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    queries, answers = fixture["queries"], fixture["answers"]
    # a release that cites (0.3 on) recorded its citation with the answer: the upgraded city
    # must give the same one (same rows, same first versions), wherever it is served from
    earlier = answers["public"].pop("extensions", {}).get("citation")
    # people's tokens signed with the key the release made, which the upgrade kept
    staff = token(restored.data_dir, ["registry:read"])
    citizen = token(
        restored.data_dir, ["self"], subject="marie", resident_id=fixture["resident_id"]
    )
    with serving(restored) as client:
        public = ask(client, queries["public"])
        citation = public.pop("extensions")["citation"]
        assert public == answers["public"]
        if earlier is not None:
            assert (citation["id"], citation["sha256"]) == (earlier["id"], earlier["sha256"])
        # the rows an earlier release kept are each dataset's first version, and citable
        assert citation["versions"]
        assert all(v.endswith("@1") for v in citation["versions"])
        assert (
            ask(client, queries["staff"], staff, **{"Citygraph-Purpose": fixture["purpose"]})
            == (answers["staff"])
        )
        assert ask(client, queries["citizen"], citizen) == answers["citizen"]
        for kind, credentials in fixture["clients"].items():  # registered before, secrets kept
            granted = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": SCOPES[kind]},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
            assert granted.status_code == 200, granted.text
            app_token = granted.json()["access_token"]
            by_app = ask(client, queries["public"], app_token)
            assert by_app.pop("extensions")["citation"] == citation  # the same answer, cited
            assert by_app == answers["public"]
    after = restored.counts()
    log_table = next(t for t in fixture["counts"] if t.endswith("audit_log"))
    assert after[log_table] == fixture["counts"][log_table] + 5  # the chains go on
    verified = citygraph(restored.env(), "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_two_servers_starting_at_once_on_an_empty_database_migrate_it_once(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {"CITYGRAPH_LOG_LEVEL": "info", "CITYGRAPH_ENVIRONMENT": "development"}
    if engine == "postgres":
        env["CITYGRAPH_DATABASE_URL"] = request.getfixturevalue("fresh_postgres_url")
    servers = [Server(tmp_path, env, wait=False) for _ in range(2)]
    try:
        for server in servers:
            server.wait_ready(timeout=90)
        for server in servers:
            answer = httpx.post(
                f"{server.url}/graphql", json={"query": "{ districts { totalCount } }"}
            )
            assert answer.json() == {"data": {"districts": {"totalCount": 0}}}
    finally:
        for server in servers:
            server.terminate()
    logs = [server.log.read_text() for server in servers]
    migrated = [log.count('"migrations applied"') for log in logs]
    assert sorted(migrated) == [0, 1], logs  # one migrated; the other waited and found it done
    assert all("Traceback" not in log for log in logs)
