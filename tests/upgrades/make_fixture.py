"""Make an upgrade fixture: a city built and used by the installed release, packed for the tests.

    uv run python -m tests.upgrades.make_fixture RELEASE [--postgres ADMIN_URL]

It drives the release through its command line and HTTP only (never its modules), so the same
script makes the fixture of any release: build the demo city, publish the street-trees manifest,
register apps (self-service and by the administrator), serve a few thousand requests of every tier
(so the log has chains and restricted records), then stop the server and record what a later
release must still find: every table's row count, the log's size, the clients' credentials, and the
answers of a few queries. With `--postgres` the city lives in a new PostgreSQL database, dumped
with pg_dump; the data dir (keys, chain key, published manifests) is packed beside it.

The output goes to tests/upgrades/fixtures/RELEASE-ENGINE/: `data.tar.xz` (the data dir),
`postgres.sql.xz` (PostgreSQL only) and `fixture.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import lzma
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
MANIFEST = REPO / "examples" / "street-trees" / "manifest.toml"
RESIDENTS = 300
REQUESTS = 2400
TIERS = ("anonymous", "app", "staff", "auditor", "citizen")
PURPOSE = "legal-basis=CGCT-L2122-32; case=EC-2026-118"

PUBLIC = """query Public { district(code: "75104") { name population
  bikeStations(first: 3, orderBy: [{field: CAPACITY, direction: DESC}]) { totalCount nodes { name capacity } } }
  streetTrees(first: 2) { totalCount nodes { id } } }"""
STAFF = "query Staff { residents(first: 5) { totalCount nodes { id familyName birthDate } } }"
CITIZEN = "query Mine { residents { nodes { id familyName } } }"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["citygraph", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"citygraph {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def _serving(env: dict[str, str], port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["citygraph", "serve", "--port", str(port)], env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            sys.exit("the server did not start")
        yield url
    finally:
        server.send_signal(signal.SIGTERM)  # a graceful stop ships every spooled record
        server.wait(timeout=60)


def _token(env: dict[str, str], *args: str) -> str:
    return _run(env, "token", *args).strip()


async def _traffic(url: str, tokens: dict[str, str]) -> dict[str, Any]:
    """Every tier asks, denied and served; returns the answers a later release must repeat."""
    plans = [
        (PUBLIC, None, {}),
        (PUBLIC, tokens["app"], {}),
        (STAFF, tokens["staff"], {"Citygraph-Purpose": PURPOSE}),
        (STAFF, tokens["staff"], {}),  # denied: no purpose
        (STAFF, None, {}),  # denied: anonymous
        (CITIZEN, tokens["citizen"], {}),
    ]
    answers: dict[str, Any] = {}
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def ask(i: int) -> None:
            query, token, headers = plans[i % len(plans)]
            if token:
                headers = {**headers, "Authorization": f"Bearer {token}"}
            async with limit:
                r = await client.post("/graphql", json={"query": query}, headers=headers)
            r.raise_for_status()
            answers.setdefault(f"{i % len(plans)}", r.json())

        await asyncio.gather(*(ask(i) for i in range(REQUESTS)))
    return {
        "public": answers["0"],
        "staff": answers["2"],
        "citizen": answers["5"],
    }


def _counts_sqlite(data_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for db in sorted(data_dir.glob("*.db")):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for name in names:
                # names read from the catalog of the file itself
                query = f'SELECT count(*) FROM "{name}"'  # noqa: S608
                counts[f"{db.name}:{name}"] = conn.execute(query).fetchone()[0]
    return counts


def _counts_postgres(libpq: str) -> dict[str, int]:
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(libpq) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        for name in names:
            row = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()  # noqa: S608
            assert row is not None
            counts[name] = int(row[0])
    return counts


def _pack(folder: Path, target: Path) -> None:
    with tarfile.open(target, "w:xz", preset=9) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)


def make(release: str, postgres_admin: str | None) -> Path:
    engine = "postgres" if postgres_admin else "sqlite"
    out = FIXTURES / f"{release}-{engine}"
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        port = _free_port()
        env = {
            **os.environ,
            "CITYGRAPH_DATA_DIR": str(data_dir),
            "CITYGRAPH_ENVIRONMENT": "development",
            "CITYGRAPH_PUBLIC_URL": "http://127.0.0.1:8000",  # one issuer, whatever port serves
            "CITYGRAPH_AUDIT_SHIPPER": "inline",
            "CITYGRAPH_CACHE_ENABLED": "false",
            # every request is served and recorded: no rate limit or budget turns one away
            "CITYGRAPH_RATE_LIMITS": json.dumps(dict.fromkeys(TIERS, 0)),
            "CITYGRAPH_COST_BUDGETS": json.dumps(dict.fromkeys(TIERS, 0)),
        }
        database = f"citygraph_fixture_{release.replace('.', '_')}"
        libpq = None
        if postgres_admin:
            import psycopg

            with psycopg.connect(postgres_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
                conn.execute(f'CREATE DATABASE "{database}"')
            libpq = postgres_admin.rsplit("/", 1)[0] + f"/{database}"
            env["CITYGRAPH_DATABASE_URL"] = libpq.replace("postgresql://", "postgresql+asyncpg://")
        _run(env, "demo", "--build-only", "--residents", str(RESIDENTS))
        _run(env, "import", "manifest", str(MANIFEST))
        admin = _run(env, "clients", "create", "--name", "Back office", "--scopes", "social:read")
        credentials = dict(
            line.split(":", 1) for line in admin.splitlines() if line.startswith("client_")
        )
        with _serving(env, port) as url:
            registered = httpx.post(
                f"{url}/oauth/register", json={"client_name": "Vélo Paris", "scope": "open-data"}
            ).json()
            app_token = httpx.post(
                f"{url}/oauth/token",
                data={"grant_type": "client_credentials", "scope": "open-data"},
                auth=(registered["client_id"], registered["client_secret"]),
            ).json()["access_token"]
            resident = httpx.post(
                f"{url}/graphql",
                json={"query": "{ residents(first: 1) { nodes { id } } }"},
                headers={
                    "Authorization": "Bearer "
                    + _token(env, "--subject", "agent-1", "--scopes", "registry:read"),
                    "Citygraph-Purpose": PURPOSE,
                },
            ).json()["data"]["residents"]["nodes"][0]["id"]
            tokens = {
                "app": app_token,
                "staff": _token(env, "--subject", "agent-7", "--scopes", "registry:read"),
                "citizen": _token(
                    env, "--subject", "marie", "--scopes", "self", "--resident-id", resident
                ),
            }
            answers = asyncio.run(_traffic(url, tokens))
        verified = subprocess.run(
            ["citygraph", "audit", "verify"], env=env, capture_output=True, text=True, check=False
        )
        if verified.returncode != 0:
            sys.exit(f"the log does not verify:\n{verified.stdout}{verified.stderr}")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        if libpq:
            counts = _counts_postgres(libpq)
            dump = subprocess.run(
                ["pg_dump", "--no-owner", "--no-privileges", libpq],
                capture_output=True,
                check=True,
            ).stdout
            (out / "postgres.sql.xz").write_bytes(lzma.compress(dump, preset=9))
            import psycopg

            with psycopg.connect(postgres_admin, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
        else:
            counts = _counts_sqlite(data_dir)
        _pack(data_dir, out / "data.tar.xz")
        fixture = {
            "release": release,
            "engine": engine,
            "residents": RESIDENTS,
            "requests": REQUESTS,
            "counts": counts,
            "clients": {
                "self_service": {
                    "client_id": registered["client_id"],
                    "client_secret": registered["client_secret"],
                },
                "admin": {k: v.strip() for k, v in credentials.items()},
            },
            "resident_id": resident,
            "purpose": PURPOSE,
            "queries": {"public": PUBLIC, "staff": STAFF, "citizen": CITIZEN},
            "answers": answers,
        }
        (out / "fixture.json").write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", help="the release that makes the fixture, e.g. 0.1.0")
    parser.add_argument("--postgres", help="libpq URL of a maintenance database (CREATE DATABASE)")
    args = parser.parse_args()
    out = make(args.release, args.postgres)
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(f"written {out}: {sizes}")  # noqa: T201


if __name__ == "__main__":
    main()
