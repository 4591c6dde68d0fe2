"""With Redis, a load recorded by another process invalidates cached answers at once, not after
the dataset versions' TTL; without the news, the TTL still bounds how stale an answer can be."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from storage.load_news import CHANNEL, announce
from storage.loads import record_loads
from tests.api.conftest import city_of, on_app_loop
from tests.traffic.conftest import MakeApp, traffic_of

STATIONS = "{ bikeStations(first: 3) { totalCount nodes { id name } } }"
EXAMPLE = Path(__file__).parents[2] / "examples" / "street-trees" / "manifest.toml"
TTL_S = 300.0  # far longer than the test: only the news can make the answer fresh


def test_an_announced_load_reaches_another_process_at_once(
    make_app: MakeApp, redis_url: str
) -> None:
    client = make_app(redis_url=redis_url, dataset_versions_ttl_s=TTL_S)
    assert Settings.model_fields["dataset_versions_ttl_s"].default < TTL_S
    news = traffic_of(client).news
    assert news is not None
    client.get("/graphql", params={"query": STATIONS})
    assert client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "HIT"

    # another process (`citygraph import`) records a load: without news, the answer stays cached
    engine = city_of(client).repository("bikeStations").engine
    on_app_loop(
        client,
        lambda: record_loads(
            engine, datasets={"bikeStations": 10}, origin="imported", source="elsewhere"
        ),
    )
    assert client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "HIT"

    # ... and announces it, as the CLI does after an import
    assert asyncio.run(announce(redis_url, {"bikeStations"}))
    deadline = time.monotonic() + 5
    while client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "HIT":
        assert time.monotonic() < deadline, "the announced load did not invalidate the answer"
        time.sleep(0.02)
    assert news.received == 1


def test_announcing_without_redis_fails_softly() -> None:
    # a load must never fail for want of its news: the others learn of it within the TTL
    assert not asyncio.run(announce("redis://127.0.0.1:9/0", {"bikeStations"}, timeout_s=0.05))


def test_citygraph_import_announces_what_it_loaded(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(CHANNEL)
    monkeypatch.setenv("CITYGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CITYGRAPH_REDIS_URL", redis_url)
    result = CliRunner().invoke(app, ["import", "manifest", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    message, deadline = None, time.monotonic() + 5
    while message is None and time.monotonic() < deadline:  # the subscription's own reply first
        message = subscriber.get_message(timeout=1)
    assert message is not None
    assert message["data"] == b"streetTrees"
    subscriber.close()
