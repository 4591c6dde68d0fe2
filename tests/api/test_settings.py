"""The twelve-factor names hosting platforms set, DATABASE_URL and REDIS_URL, read as fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from storage.engines import async_url


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment without any of the four names, from a scratch folder."""
    monkeypatch.chdir(tmp_path)
    for name in ("CITYGRAPH_DATABASE_URL", "DATABASE_URL", "CITYGRAPH_REDIS_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_database_url_and_redis_url_are_read_when_ours_are_unset(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("DATABASE_URL", "postgres://city:pw@db.internal:5432/city")
    env.setenv("REDIS_URL", "redis://cache.internal:6379/0")
    settings = Settings()
    assert settings.default_database_url == "postgresql+asyncpg://city:pw@db.internal:5432/city"
    assert settings.redis_url == "redis://cache.internal:6379/0"


def test_the_citygraph_names_win_when_both_are_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgres://platform@db/platform")
    env.setenv("CITYGRAPH_DATABASE_URL", "postgresql+asyncpg://ours@db/ours")
    env.setenv("REDIS_URL", "redis://platform:6379/0")
    env.setenv("CITYGRAPH_REDIS_URL", "redis://ours:6379/3")
    settings = Settings()
    assert settings.database_url == "postgresql+asyncpg://ours@db/ours"
    assert settings.redis_url == "redis://ours:6379/3"


def test_unset_everywhere_is_the_embedded_default(env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.database_url is None
    assert settings.default_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        (
            "postgresql://u@h:6543/db?sslmode=require",
            "postgresql+asyncpg://u@h:6543/db?ssl=require",
        ),
        ("POSTGRES://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////srv/city.db", "sqlite+aiosqlite:////srv/city.db"),
        ("postgresql+asyncpg://u@h/db?ssl=require", "postgresql+asyncpg://u@h/db?ssl=require"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_platform_urls_get_the_async_driver(given: str, used: str) -> None:
    assert async_url(given) == used
    assert Settings(database_url=given, database_urls={"registry": given}).database_urls == {
        "registry": used
    }


def test_a_server_starts_on_a_platform_style_database_url(
    env: pytest.MonkeyPatch, fresh_postgres_url: str, tmp_path: Path
) -> None:
    # what a platform would set: no driver in the scheme, libpq's sslmode
    plain = fresh_postgres_url.replace("postgresql+asyncpg://", "postgres://") + "?sslmode=disable"
    env.setenv("DATABASE_URL", plain)
    settings = Settings(data_dir=tmp_path / "city", environment=Environment.TEST)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post("/graphql", json={"query": "{ districts { totalCount } }"})
        assert response.json() == {"data": {"districts": {"totalCount": 0}}}
