"""Shared test infrastructure: the real components of tests/services.py as fixtures and markers.

This file is about services only. App, schema and principal fixtures live in plugin modules
(tests/fixtures_*.py) that a `pytest_plugins = [...]` list here loads.

A test that needs a component either uses its fixture (and is marked automatically, so that
`-m "not postgres"` deselects it) or carries the marker (postgres, redis, node, browser, shared_data);
either way, an absent component skips the test with the reason, or fails it when
CITYGRAPH_REQUIRE_SERVICES=1, as in CI.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.services import SpawnedServer

# Tests build many apps per process, and a shipper child per app costs a process start: the log
# is flushed inline unless a test asks for the shipper (tests/audit/test_shipper.py does). Set at
# import, before any Settings is built; servers spawned as subprocesses inherit it.
os.environ.setdefault("CITYGRAPH_AUDIT_SHIPPER", "inline")
# Settings fall back on the twelve-factor DATABASE_URL and REDIS_URL: a developer's shell that sets
# them must not point the tests at that database (tests/api/test_settings.py sets them itself).
os.environ.pop("DATABASE_URL", None)
os.environ.pop("REDIS_URL", None)

# Fixture -> the marker it implies (the marker's component is checked before the test runs).
FIXTURE_MARKERS = {
    "postgres_admin_url": "postgres",
    "postgres_url": "postgres",
    "fresh_postgres_url": "postgres",
    "redis_session_url": "redis",
    "redis_url": "redis",
    "node_tools": "node",
    "chromium_executable": "browser",
    "shared_data": "shared_data",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in fixtures:
                item.add_marker(marker)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, component in services.MARKER_COMPONENTS.items():
        if item.get_closest_marker(marker) is not None:
            services.requires(component)


def pytest_sessionstart(session: pytest.Session) -> None:
    services.reap_orphan_servers()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    services.stop_all_spawned()


# --- the machine's PostgreSQL: a database of our own -------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """libpq URL of the maintenance database (CITYGRAPH_TEST_POSTGRES); for CREATE/DROP and checks."""
    services.requires("postgres")
    url = services.postgres_admin_url()
    services.reap_stale_databases(url)
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """postgresql+asyncpg:// URL of a new database for this test session, dropped at its end."""
    with services.temporary_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def fresh_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """postgresql+asyncpg:// URL of a new database for this test alone, dropped after it."""
    with services.temporary_database(postgres_admin_url) as url:
        yield url


# --- the machine's Redis: a logical db of our own ------------------------------------------------


@pytest.fixture(scope="session")
def _redis_claim() -> Iterator[services.RedisClaim]:
    services.requires("redis")
    claim = services.claim_redis_db(services.redis_base_url())
    yield claim
    claim.release()


@pytest.fixture(scope="session")
def redis_session_url(_redis_claim: services.RedisClaim) -> str:
    """redis:// URL of this session's own db (for session-scoped fixtures); emptied at session end."""
    return _redis_claim.url


@pytest.fixture
def redis_url(_redis_claim: services.RedisClaim) -> str:
    """redis:// URL of this session's own db, emptied (FLUSHDB of that db only) before the test."""
    _redis_claim.flush()
    return _redis_claim.url


# --- other components ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """tools/node, with its node_modules installed (graphql-http, ...)."""
    services.requires("node")
    return services.NODE_TOOLS


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    """Debian's chromium, for Playwright's executable_path."""
    services.requires("chromium")
    return services.CHROMIUM


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets (CITYGRAPH_SHARED_DATA, else ../shared/data)."""
    services.requires("shared_data")
    return services.shared_data_dir()


# --- private servers that a test may stop, freeze or kill ---------------------------------------


@pytest.fixture
def spawned_redis() -> Iterator[SpawnedServer]:
    """A private redis-server on a free loopback port, stopped after the test."""
    with services.spawn_redis() as server:
        yield server


@pytest.fixture
def spawned_postgres() -> Iterator[SpawnedServer]:
    """A private PostgreSQL cluster on a free loopback port, stopped and deleted after the test."""
    with services.spawn_postgres() as server:
        yield server
