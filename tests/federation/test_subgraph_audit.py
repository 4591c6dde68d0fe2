"""A subgraph records every request itself: `_entities` and `_service` sent straight to it included."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.compiled_lane import CompiledLane
from api.graphql_view import CityGraphQL
from api.settings import Settings
from api.subgraph import ROUTER_HEADER, create_subgraph_app
from tests.api.conftest import RESIDENTS, city_of, on_app_loop
from tests.api.test_compiled_lane import FACTS
from tests.audit.helpers import BASE, PURPOSE, log_rows, settings_for, token, verify_log
from tests.federation.test_subgraph_access import ENTITIES, seed_with_tables

SECRET = "router-only"
RESIDENT = str(RESIDENTS[0]["id"])
SERVICE = "{ _service { sdl } }"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # no batch flush while a test runs: before shutdown, only committed records are in the log
    return settings_for(tmp_path, audit_flush_interval_s=60)


@contextlib.contextmanager
def registry(settings: Settings) -> Iterator[TestClient]:
    """The registry's subgraph, started and seeded; leaving the block shuts it down (a flush)."""
    app = create_subgraph_app(settings, "registry", router_secret=SECRET)
    with TestClient(app, base_url=BASE, client=("203.0.113.9", 50000)) as client:
        on_app_loop(client, seed_with_tables, city_of(client))
        yield client


def logged(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Every record in the log with its chain, in chain order."""
    return [(chain, orjson.loads(body)) for chain, body in log_rows(settings)]


def lane_of(client: TestClient) -> CompiledLane:
    """The compiled lane of the app's /graphql view (api.compiled_lane): it counts its answers."""
    (view,) = (
        r.endpoint
        for r in client.app.routes  # type: ignore[attr-defined]
        if isinstance(getattr(r, "endpoint", None), CityGraphQL)
    )
    assert view.lane is not None
    return view.lane


def entities(client: TestClient, **headers: str) -> Any:
    representations = [{"__typename": "Resident", "id": RESIDENT}]
    variables = {"representations": representations}
    return client.post(
        "/graphql", json={"query": ENTITIES, "variables": variables}, headers=headers
    ).json()


def test_entities_without_a_token_leave_a_denied_record(settings: Settings) -> None:
    with registry(settings) as client:
        body = entities(client, **{"X-Request-Id": "router-1"})
    assert body["data"]["_entities"] == [
        {"id": None, "givenName": None, "familyName": None, "birthDate": None}
    ]
    assert str(RESIDENTS[0]["family_name"]) not in str(body)
    [(chain, record)] = logged(settings)
    assert chain.startswith("registry@")
    assert record["outcome"] == "denied"
    assert record["error_codes"] == ["UNAUTHENTICATED"]
    assert record["tier"] == "anonymous"
    assert record["pseudonym"].startswith("p:")
    assert record["restricted"] is False
    assert record["subjects"] == []
    assert record["request_id"] == "router-1"  # the router's id: both sides' records correlate


def test_a_restricted_entities_read_is_committed_before_the_answer(
    settings: Settings, tmp_path: Path
) -> None:
    staff = token(tmp_path, ["registry:read"])
    headers = {"Authorization": f"Bearer {staff}", "X-Request-Id": "router-2", **PURPOSE}
    with registry(settings) as client:
        body = entities(client, **headers)
        assert body["data"]["_entities"][0]["familyName"] == RESIDENTS[0]["family_name"]
        # read while the subgraph runs and no batch has been flushed: the record is there already
        [(chain, record)] = logged(settings)
        assert chain.startswith("registry@")
        assert record["restricted"] is True
        assert record["subjects"] == [RESIDENT]
        assert "Resident.familyName" in record["fields"]
        assert record["datasets"] == ["residents"]
        assert record["departments"] == ["registry"]
        assert record["subject"] == "agent-7"
        assert record["legal_basis"] == "CGCT-L2122-32"
        assert record["request_id"] == "router-2"
        # a public request meanwhile is spooled, not committed: the first was no batch flush
        assert client.post("/graphql", json={"query": "{ __typename }"}).status_code == 200
        assert len(logged(settings)) == 1
    assert [r["restricted"] for _, r in logged(settings)] == [True, False]
    report = verify_log(settings)
    assert report.ok, report.problems()


def test_service_leaves_a_record_whether_served_or_refused(settings: Settings) -> None:
    with registry(settings) as client:
        served = client.post("/graphql", json={"query": SERVICE}, headers={ROUTER_HEADER: SECRET})
        assert "sdl" in served.json()["data"]["_service"]
        refused = client.post("/graphql", json={"query": SERVICE})
        assert refused.json()["data"] is None
    records = [r for _, r in logged(settings)]
    assert [(r["outcome"], r["error_codes"]) for r in records] == [
        ("served", []),
        ("denied", ["FORBIDDEN"]),
    ]
    assert all(r["datasets"] == [] and r["restricted"] is False for r in records)


def test_an_entities_read_fails_closed_while_the_log_cannot_commit(tmp_path: Path) -> None:
    """The fail-closed second run gets the representations the router sent, unchanged.

    Strawberry's `_entities` takes `__typename` out of each representation it is given; the
    second run (every restricted read refused) used the same, emptied dicts, and answered
    INTERNAL_SERVER_ERROR (seen in CI through the router, on a log locked by other processes).
    """
    settings = settings_for(tmp_path, audit_flush_interval_s=60, audit_commit_timeout_s=0.3)
    staff = token(tmp_path, ["registry:read"])
    headers = {"Authorization": f"Bearer {staff}", **PURPOSE}
    with registry(settings) as client:
        log = sqlite3.connect(settings.data_dir / "city.db", timeout=0)
        try:
            log.execute("BEGIN IMMEDIATE")  # another process writes the log: commits must wait
            body = entities(client, **headers)
        finally:
            log.rollback()
            log.close()
        assert body.get("data") is not None, body
        assert body["data"]["_entities"] == [  # not even the id: no oracle of who exists
            {"id": None, "givenName": None, "familyName": None, "birthDate": None}
        ]
        assert {e["extensions"]["code"] for e in body["errors"]} == {"AUDIT_UNAVAILABLE"}
        assert str(RESIDENTS[0]["family_name"]) not in str(body)
        # the log free again, the same read is served and committed
        served = entities(client, **headers)
        assert served["data"]["_entities"][0]["familyName"] == RESIDENTS[0]["family_name"]


def test_a_subgraph_answers_a_learnt_read_by_its_compiled_lane(settings: Settings) -> None:
    """The registry's subgraph compiles a staff member's page of residents: the second request
    is the compiled lane's (api.compiled_lane), with the same bytes and the same record."""
    people = "query People { residents(first: 5) { nodes { id familyName } } }"
    staff = token(settings.data_dir, ["registry:read"])
    auth = {"Authorization": f"Bearer {staff}", **PURPOSE}
    with registry(settings) as client:
        lane = lane_of(client)
        first = client.post("/graphql", json={"query": people}, headers=auth)
        second = client.post("/graphql", json={"query": people}, headers=auth)
        assert lane.answered == 1
    assert second.content == first.content
    assert first.json()["data"]["residents"]["nodes"][0]["id"] == RESIDENT
    records = [body for _chain, body in logged(settings) if body.get("operation") == "People"]
    assert len(records) == 2
    facts = [{k: r[k] for k in FACTS} for r in records]
    assert facts[0] == facts[1]
    assert facts[0]["subjects"] == [RESIDENT]


def test_a_staff_member_s_entities_read_is_answered_by_the_compiled_lane(
    settings: Settings,
) -> None:
    """The registry's subgraph compiles a staff member's `_entities` of residents (with a
    purpose): the same request again is the lane's, with the same bytes and the same record,
    which names the fields read and the resident found, not the key of no resident."""
    staff = token(settings.data_dir, ["registry:read"])
    auth = {"Authorization": f"Bearer {staff}", **PURPOSE}
    variables = {
        "representations": [
            {"__typename": "Resident", "id": RESIDENT},
            {"__typename": "Resident", "id": "nobody"},
        ]
    }
    body = {"query": ENTITIES, "variables": variables}
    with registry(settings) as client:
        lane = lane_of(client)
        first = client.post("/graphql", json=body, headers=auth)
        second = client.post("/graphql", json=body, headers=auth)
        assert lane.answered == 1
    assert second.content == first.content
    found = first.json()["data"]["_entities"]
    assert found[0]["familyName"] == RESIDENTS[0]["family_name"]
    assert found[1] is None
    records = [r for _chain, r in logged(settings)]
    assert len(records) == 2
    facts = [{k: r[k] for k in FACTS} for r in records]
    assert facts[0] == facts[1]
    assert facts[0]["subjects"] == [RESIDENT]
    assert facts[0]["restricted"] is True
    assert "Resident.familyName" in facts[0]["fields"]


def test_a_citizen_s_entities_take_the_lane_only_for_their_own_record(
    settings: Settings,
) -> None:
    """The lane answers marie's `_entities` of her own record again; paul's of marie's record,
    the same document, goes the usual way each time (a bare reference, every field
    FORBIDDEN), with the same record each time."""
    own = {"representations": [{"__typename": "Resident", "id": RESIDENT}]}
    body = {"query": ENTITIES, "variables": own}
    marie = token(settings.data_dir, ["self"], subject="marie", resident_id=RESIDENT)
    paul = token(settings.data_dir, ["self"], subject="paul", resident_id="R9")
    with registry(settings) as client:
        lane = lane_of(client)
        as_marie = {"Authorization": f"Bearer {marie}"}
        first = client.post("/graphql", json=body, headers=as_marie)
        second = client.post("/graphql", json=body, headers=as_marie)
        assert lane.answered == 1
        as_paul = {"Authorization": f"Bearer {paul}"}
        refused = [client.post("/graphql", json=body, headers=as_paul) for _ in range(2)]
        assert lane.answered == 1
    assert second.content == first.content
    assert first.json()["data"]["_entities"][0]["familyName"] == RESIDENTS[0]["family_name"]
    for response in refused:
        assert str(RESIDENTS[0]["family_name"]) not in response.text
        assert {e["extensions"]["code"] for e in response.json()["errors"]} == {"FORBIDDEN"}
    facts = [{k: r[k] for k in FACTS} for _chain, r in logged(settings)]
    assert len(facts) == 4
    assert facts[0] == facts[1]
    assert facts[0]["subjects"] == [RESIDENT]
    assert facts[2] == facts[3]
    assert facts[2]["error_codes"] == ["FORBIDDEN"]


STATIONS = """
query Stations($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on District { code bikeStations(first: 5) { nodes { id name } } }
    ... on BikeStation { id name }
    ... on TransitStop { id name }
  }
}
"""


def test_a_subgraph_answers_a_learnt_entities_read_by_its_compiled_lane(
    settings: Settings,
) -> None:
    """The mobility subgraph compiles the router's `_entities` of districts (another
    department's entity, with its stations): the same request again is the lane's, with the
    same bytes and record. The lane keeps a plan per type the representations name: another
    type, even with the same key field (stations, then transit stops), goes the usual way once
    and is learnt beside the first, so a router alternating types is answered by the lane."""

    def given(type_name: str, key: str, *values: str) -> dict[str, Any]:
        return {"representations": [{"__typename": type_name, key: v} for v in values]}

    districts = given("District", "code", "75101", "75199", "75101")
    stations = given("BikeStation", "id", "S000")
    stops = given("TransitStop", "id", "S000")
    app = create_subgraph_app(settings, "mobility", router_secret=SECRET)
    with TestClient(app, base_url=BASE) as client:
        on_app_loop(client, seed_with_tables, city_of(client))
        lane = lane_of(client)

        def post(variables: dict[str, Any]) -> Any:
            return client.post("/graphql", json={"query": STATIONS, "variables": variables})

        first, second = post(districts), post(districts)
        assert lane.answered == 1
        station, station_again = post(stations), post(stations)
        assert lane.answered == 2  # learnt beside the districts, for stations
        stop = post(stops)
        assert lane.answered == 2  # no stop is a station
        # other keys, so that no statement bound for the requests above can answer them
        third = post(given("District", "code", "75101"))
        stop_again = post(given("TransitStop", "id", "S001"))
        station_third = post(given("BikeStation", "id", "S000", "S000"))
        assert lane.answered == 5  # each type its own plan, none relearnt
    assert third.json()["data"]["_entities"] == first.json()["data"]["_entities"][:1]
    assert stop_again.json()["data"]["_entities"] == [None]
    assert station_third.json()["data"]["_entities"] == station.json()["data"]["_entities"] * 2
    assert second.content == first.content
    found = first.json()["data"]["_entities"]
    assert [e["code"] for e in found] == ["75101", "75199", "75101"]
    assert found[1]["bikeStations"]["nodes"] == []
    assert found[0]["bikeStations"]["nodes"]
    assert found[0] == found[2]
    assert station_again.content == station.content
    assert station.json()["data"]["_entities"][0]["id"] == "S000"
    assert stop.json()["data"]["_entities"] == [None]  # the fixture city has no transit stop
    records = [body for _chain, body in logged(settings) if body.get("operation") == "Stations"]
    assert len(records) == 8
    facts = [{k: r[k] for k in FACTS} for r in records]
    assert facts[0] == facts[1] == facts[5]
    assert facts[0]["datasets"] == ["bikeStations"]
    assert facts[2] == facts[3] == facts[7]
    assert facts[4] == facts[6]
    assert [f["datasets"] for f in facts[2:5]] == [["bikeStations"]] * 2 + [["transitStops"]]
