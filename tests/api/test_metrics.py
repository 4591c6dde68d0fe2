"""`GET /metrics`: Prometheus' text format, the app's own counters read at scrape time, access settings.

Every test scrapes before and after what it does and compares: the counters belong to the app
(one registry per app), so a test sees only its own traffic.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from auth.principal import Tier
from tests.api.conftest import MakeClient
from tests.services import SpawnedServer

STATIONS = "{ bikeStations(first: 3) { nodes { id name } } }"
DISTRICTS = "{ districts(first: 2) { totalCount } }"
TOKEN = "scrape-me-0123456789abcdef"
UNREACHABLE_POSTGRES = "postgresql+asyncpg://citygraph@127.0.0.1:1/citygraph"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    """Every sample of one scrape, by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist yet (a counter nobody touched)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def graphql_series(status: int, method: str = "GET") -> dict[str, str]:
    return {"route": "/graphql", "method": method, "status": str(status)}


def duration_series(status: int, method: str = "GET") -> dict[str, str]:
    return {"route": "/graphql", "method": method, "status_class": f"{status // 100}xx"}


def test_a_scrape_is_prometheus_text_with_the_apps_series(client: TestClient) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "citygraph_cache_hits",
        "citygraph_cache_misses",
        "citygraph_requests_refused",
        "citygraph_http_requests",
        "citygraph_http_request_duration_seconds",
        "citygraph_audit_store_up",
        "process_cpu_seconds",
    } <= names
    # without redis_url there is no breaker, so no dependency series
    assert "citygraph_dependency_up" not in names
    # the app's registry is its own: nothing of ours lands in prometheus_client's global one
    assert not [m.name for m in REGISTRY.collect() if m.name.startswith("citygraph")]


def test_a_cache_hit_adds_one_hit(client: TestClient) -> None:
    assert client.get("/graphql", params={"query": STATIONS}).status_code == 200  # stored
    before = scrape(client)

    response = client.get("/graphql", params={"query": STATIONS})

    assert response.status_code == 200
    after = scrape(client)
    assert (
        value(after, "citygraph_cache_hits_total")
        == value(before, "citygraph_cache_hits_total") + 1
    )
    assert value(after, "citygraph_cache_misses_total") == value(
        before, "citygraph_cache_misses_total"
    )


def test_a_new_query_is_a_miss_and_a_store(client: TestClient) -> None:
    before = scrape(client)

    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200

    after = scrape(client)
    for name in ("citygraph_cache_misses_total", "citygraph_cache_stores_total"):
        assert value(after, name) == value(before, name) + 1, name
    assert value(after, "citygraph_cache_hits_total") == value(before, "citygraph_cache_hits_total")


def test_a_429_counts_as_refused_and_in_the_request_series(make_client: MakeClient) -> None:
    client = make_client(rate_limits={Tier.ANONYMOUS: 1}, cache_enabled=False)
    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200
    before = scrape(client)

    refused = client.get("/graphql", params={"query": DISTRICTS})

    assert refused.status_code == 429
    after = scrape(client)
    refused_series = ("citygraph_requests_refused_total", {"code": "RATE_LIMITED"})
    assert value(after, refused_series[0], **refused_series[1]) == (
        value(before, refused_series[0], **refused_series[1]) + 1
    )
    count = "citygraph_http_requests_total"
    assert (
        value(after, count, **graphql_series(429))
        == value(before, count, **graphql_series(429)) + 1
    )
    assert value(after, count, **graphql_series(200)) == value(before, count, **graphql_series(200))
    histogram = "citygraph_http_request_duration_seconds_count"
    assert value(after, histogram, **duration_series(429)) == (
        value(before, histogram, **duration_series(429)) + 1
    )


def test_each_graphql_request_is_counted_and_timed_by_method_and_status(
    client: TestClient,
) -> None:
    before = scrape(client)

    get = client.get("/graphql", params={"query": DISTRICTS})
    post = client.post("/graphql", json={"query": "{ districts(first: 1) { totalCount } }"})
    bad = client.post(
        "/graphql",
        json={"query": "{ nosuchfield }"},
        headers={"Accept": "application/graphql-response+json"},
    )

    assert (get.status_code, post.status_code, bad.status_code) == (200, 200, 400)
    after = scrape(client)
    count = "citygraph_http_requests_total"
    histogram = "citygraph_http_request_duration_seconds_count"
    for method, status in (("GET", 200), ("POST", 200), ("POST", 400)):
        labels = graphql_series(status, method)
        assert value(after, count, **labels) == value(before, count, **labels) + 1, labels
    assert value(after, histogram, **duration_series(200, "POST")) == (
        value(before, histogram, **duration_series(200, "POST")) + 1
    )
    assert value(after, histogram, **duration_series(400, "POST")) == (
        value(before, histogram, **duration_series(400, "POST")) + 1
    )
    total = "citygraph_http_request_duration_seconds_sum"
    assert value(after, total, **duration_series(200)) > value(
        before, total, **duration_series(200)
    )


def test_labels_come_from_fixed_sets_only(client: TestClient) -> None:
    before = scrape(client)

    odd = client.request("BREW", "/graphql")
    client.get("/healthz")
    client.get("/no-such-route")

    assert odd.status_code == 405
    after = scrape(client)
    count = "citygraph_http_requests_total"
    assert value(after, count, **graphql_series(405, "OTHER")) == (
        value(before, count, **graphql_series(405, "OTHER")) + 1
    )
    methods = {dict(labels).get("method") for name, labels in after if name == count}
    routes = {dict(labels).get("route") for name, labels in after if name == count}
    assert methods <= {"GET", "POST", "OTHER"}
    assert routes == {"/graphql"}


def test_metrics_can_be_turned_off(make_client: MakeClient) -> None:
    client = make_client(metrics_enabled=False)

    response = client.get("/metrics")

    assert response.status_code == 404
    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200


def test_a_metrics_token_is_required_when_set(make_client: MakeClient) -> None:
    client = make_client(metrics_token=TOKEN)

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + TOKEN[:-1] + "x"})
    right = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "citygraph_" not in missing.text
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "citygraph_cache_hits_total" in right.text


def test_a_short_metrics_token_stops_the_boot(make_client: MakeClient) -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        make_client(metrics_token="short")


def test_the_breaker_gauge_says_redis_is_down_once_it_is_killed(
    make_client: MakeClient, spawned_redis: SpawnedServer
) -> None:
    # a long reset: the breaker stays open until the scrape, no probe closes it meanwhile
    client = make_client(redis_url=spawned_redis.url, redis_breaker_reset_s=60)
    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200
    up = scrape(client)
    assert value(up, "citygraph_dependency_up", dependency="redis") == 1
    assert value(up, "citygraph_breaker_opened_total", dependency="redis") == 0

    spawned_redis.kill()
    statuses = [
        client.get(
            "/graphql", params={"query": f"{{ districts(first: {n}) {{ totalCount }} }}"}
        ).status_code
        for n in range(1, 6)
    ]

    assert statuses == [200] * 5  # public reads keep flowing on the local fallbacks
    down = scrape(client)
    assert ("citygraph_dependency_up", frozenset({("dependency", "redis")})) in down
    assert value(down, "citygraph_dependency_up", dependency="redis") == 0
    assert value(down, "citygraph_breaker_opened_total", dependency="redis") == 1


def test_the_audit_gauge_says_the_log_is_down_when_its_database_is_unreachable(
    make_client: MakeClient,
) -> None:
    client = make_client(database_urls={"audit": UNREACHABLE_POSTGRES}, audit_flush_interval_s=0.05)
    assert value(scrape(client), "citygraph_audit_store_up") == 1  # nothing tried yet

    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200  # spooled

    deadline = time.monotonic() + 5
    while value(scrape(client), "citygraph_audit_store_up") != 0:
        assert time.monotonic() < deadline, "the audit gauge still says the log is up"
        time.sleep(0.05)
    # records keep coming while the log is down: their segments pile up in the spool
    assert client.get("/graphql", params={"query": DISTRICTS}).status_code == 200
    while value(scrape(client), "citygraph_audit_spool_segments") < 2:
        assert time.monotonic() < deadline, "the spool gauge does not show the backlog"
        time.sleep(0.05)
