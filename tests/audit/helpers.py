"""An audited app to test against: seeded like tests/api's, tokens from its own keys, its log read back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from audit.chain import load_key
from audit.store import audit_log
from audit.verify import Report, verify
from auth.keys import KeyStore
from auth.server import sign_access_token
from storage.engines import make_engine
from tests.api.conftest import city_of, on_app_loop, seed

T = TypeVar("T")
BASE = "http://127.0.0.1:8000"
PURPOSE = {"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=EC-2026-118"}


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"audit_flush_interval_s": 0.05, **overrides}
    return Settings(data_dir=data_dir, environment=Environment.TEST, public_url=BASE, **values)


@contextlib.contextmanager
def audited_client(settings: Settings) -> Iterator[TestClient]:
    """A started, seeded app; leaving the block shuts it down, which flushes the log."""
    with TestClient(create_app(settings), base_url=BASE, client=("203.0.113.9", 50000)) as client:
        on_app_loop(client, seed, city_of(client))
        yield client


def token(data_dir: Path, scopes: list[str], subject: str = "agent-7", **extra: Any) -> str:
    """A person's token signed with the app's own keys (what `citygraph token` prints)."""
    return sign_access_token(
        keys=KeyStore(data_dir / "keys").signing_keys(),
        issuer=BASE,
        audience=BASE,
        subject=subject,
        client_id="citygraph-dev",
        scopes=scopes,
        lifetime_s=600,
        extra=extra,
    )


def ask(client: TestClient, query: str, tok: str | None = None, **headers: str) -> Any:
    if tok:
        headers["Authorization"] = f"Bearer {tok}"
    return client.post("/graphql", json={"query": query}, headers=headers)


def codes(response: Any) -> list[str]:
    return sorted(e["extensions"]["code"] for e in response.json().get("errors", []))


def eventually(read: Callable[[], T], until: Callable[[T], bool], seconds: float = 30) -> T:
    """`read()` again until `until` holds of it (the event a test waits for), or the deadline
    passes: then the last value, for the test's assertion to show."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if until(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


async def reached(condition: Callable[[], bool], seconds: float = 30) -> bool:
    """Let the loop run until `condition()` holds; False if it still does not at the deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def logged(settings: Settings, count: int, seconds: float = 30) -> list[dict[str, Any]]:
    """The log's records once it holds `count` of them: public records reach it with the
    writer's next batch, which a busy machine may delay; never read it sooner and hope."""
    return eventually(lambda: read_log(settings), lambda records: len(records) >= count, seconds)


def log_url(settings: Settings) -> str:
    return settings.database_urls.get("audit", settings.default_database_url)


def log_rows(settings: Settings) -> list[tuple[str, str]]:
    """(chain id, body text) of every record, in chain order."""

    async def run() -> list[tuple[str, str]]:
        engine = make_engine(log_url(settings))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    select(audit_log.c.chain_id, audit_log.c.body).order_by(
                        audit_log.c.chain_id, audit_log.c.seq
                    )
                )
                return [(r.chain_id, r.body) for r in rows]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def read_log(settings: Settings) -> list[dict[str, Any]]:
    """Every record's body, in chain order."""
    return [orjson.loads(body) for _, body in log_rows(settings)]


def verify_log(settings: Settings) -> Report:
    async def run() -> Report:
        engine = make_engine(log_url(settings))
        try:
            return await verify(engine, load_key(settings.audit_dir, settings.audit_chain_key))
        finally:
            await engine.dispose()

    return asyncio.run(run())
