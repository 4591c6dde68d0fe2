"""The whole-response cache: hits, ETags and 304s, invalidation on import, never personal data.

Each behaviour runs on the in-process cache and on the machine's Redis (a db of this session's own).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from storage.loads import record_loads
from tests.api.conftest import bike_stations, city_of, on_app_loop
from tests.traffic.conftest import PURPOSE, MakeApp, staff_token, traffic_of

STATIONS = "{ bikeStations(first: 3) { totalCount nodes { id name } } }"
STATIONS_SPACED = "query {\n  bikeStations( first : 3 ) {\n totalCount  nodes { id   name } } }"
BY_CAPACITY = """
query Stations($min: Int, $first: Int) {
  bikeStations(first: $first, where: {capacity: {gte: $min}}) { nodes { id capacity } }
}"""
RESIDENTS = "{ residents { totalCount nodes { id familyName } } }"
CATALOG = "{ datasets { name } }"


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings of the cache backend under test."""
    if request.param == "local":
        return {}
    return {"redis_url": request.getfixturevalue("redis_url")}


def test_a_public_query_is_answered_from_the_cache_the_second_time(
    make_app: MakeApp, backend: dict[str, Any]
) -> None:
    client = make_app(**backend)
    first = client.get("/graphql", params={"query": STATIONS})
    second = client.get("/graphql", params={"query": STATIONS})
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == "public, max-age=30"
    assert traffic_of(client).stats.hits == 1


def test_whitespace_and_variable_order_do_not_change_the_key(
    make_app: MakeApp, backend: dict[str, Any]
) -> None:
    client = make_app(**backend)
    client.post("/graphql", json={"query": STATIONS})
    assert client.post("/graphql", json={"query": STATIONS_SPACED}).headers["x-cache"] == "HIT"
    one = {"query": BY_CAPACITY, "variables": {"min": 20, "first": 2}}
    other = {"query": BY_CAPACITY, "variables": {"first": 2, "min": 20}}
    assert client.post("/graphql", json=one).headers["x-cache"] == "MISS"
    assert client.post("/graphql", json=other).headers["x-cache"] == "HIT"
    different = {"query": BY_CAPACITY, "variables": {"first": 2, "min": 21}}
    assert client.post("/graphql", json=different).headers["x-cache"] == "MISS"


def test_if_none_match_answers_304(make_app: MakeApp) -> None:
    client = make_app()
    etag = client.get("/graphql", params={"query": STATIONS}).headers["etag"]
    again = client.get("/graphql", params={"query": STATIONS}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/graphql", params={"query": STATIONS}, headers={"If-None-Match": '"x"'})
    assert other.status_code == 200


def test_an_import_invalidates_the_responses_that_read_the_dataset(
    make_app: MakeApp, backend: dict[str, Any]
) -> None:
    client = make_app(**backend)
    city = city_of(client)
    before = client.get("/graphql", params={"query": STATIONS}).json()
    catalog = client.get("/graphql", params={"query": CATALOG})
    assert client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "HIT"
    # an import: new rows, and the load recorded as every importer does
    extra = {**bike_stations()[0], "id": "S999", "name": "Nouvelle"}
    on_app_loop(client, city.repository("bikeStations").upsert, [extra])
    on_app_loop(client, lambda: city.record_loads({"bikeStations": 11}, origin="imported"))

    after = client.get("/graphql", params={"query": STATIONS})
    assert after.headers["x-cache"] == "MISS"
    total = after.json()["data"]["bikeStations"]["totalCount"]
    assert total == before["data"]["bikeStations"]["totalCount"] + 1
    # a response that read another dataset is still served; the catalog read every load
    assert (
        client.get("/graphql", params={"query": "{ districts { totalCount } }"}).headers["x-cache"]
        == "MISS"
    )
    assert (
        client.get("/graphql", params={"query": "{ districts { totalCount } }"}).headers["x-cache"]
        == "HIT"
    )
    assert catalog.headers["x-cache"] == "MISS"
    assert client.get("/graphql", params={"query": CATALOG}).headers["x-cache"] == "MISS"


def test_a_load_recorded_by_another_process_invalidates_too(make_app: MakeApp) -> None:
    client = make_app(dataset_versions_ttl_s=0)
    city = city_of(client)
    client.get("/graphql", params={"query": STATIONS})
    assert client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "HIT"
    # `citygraph import` in another process writes the loads table, nothing else
    engine = city.repository("bikeStations").engine
    on_app_loop(
        client,
        lambda: record_loads(
            engine, datasets={"bikeStations": 10}, origin="imported", source="elsewhere"
        ),
    )
    assert client.get("/graphql", params={"query": STATIONS}).headers["x-cache"] == "MISS"


def test_restricted_responses_are_never_cached(make_app: MakeApp, redis_url: str) -> None:
    client = make_app(redis_url=redis_url)
    token = staff_token(client, ["registry:read"])
    headers = {"Authorization": f"Bearer {token}", **PURPOSE}
    for _ in range(2):
        response = client.get("/graphql", params={"query": RESIDENTS}, headers=headers)
        assert response.json()["data"]["residents"]["totalCount"] == 1
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
    # a denied read is not cached either (the denial depends on who asks)
    denied = client.get("/graphql", params={"query": RESIDENTS})
    assert denied.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert traffic_of(client).stats.stored == 0
    assert redis.Redis.from_url(redis_url).keys("citygraph:response:*") == []


def test_staff_get_private_cache_control_on_public_data(make_app: MakeApp) -> None:
    client = make_app()
    token = staff_token(client, ["registry:read"])
    response = client.get(
        "/graphql", params={"query": STATIONS}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.headers["cache-control"] == "private, max-age=30"


def test_two_processes_share_the_redis_cache(make_app: MakeApp, redis_url: str) -> None:
    one = make_app(redis_url=redis_url)
    other = make_app(redis_url=redis_url, data_dir=None)
    # the same data in both cities: the second answers from what the first stored
    first = one.get("/graphql", params={"query": STATIONS})
    second = other.get("/graphql", params={"query": STATIONS})
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
