"""The compiled lane (api.compiled_lane): an operation learnt once is answered without execution,
with the very bytes, headers and access record the usual way gives.

Given an app with the compiled path on, when an operation is sent once (the usual way: strawberry
executes it, every root field compiled) and then again, then the second answer comes from the
lane and is the first one byte for byte; its variables, a citizen's own rows, a staff member's
purpose and access record, and bad variables all behave as the usual way does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.compiled_lane import CompiledLane
from api.settings import Settings
from storage.engines import StatementCounter
from tests.api.conftest import RESIDENTS, city_of, on_app_loop
from tests.audit.helpers import PURPOSE, audited_client, logged, settings_for, token
from tests.schema.conftest import measurements

AIR_STATION = {"id": "FR04014", "latitude": 48.8375, "longitude": 2.3939, "district_code": "75103"}

PAGE = """
query Page($first: Int, $withDistrict: Boolean!) {
  bikeStations(first: $first, orderBy: [{field: ID, direction: ASC}]) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name ...Place } }
  }
}
fragment Place on BikeStation { capacity district @include(if: $withDistrict) { code name } }
"""
AGGREGATE = "{ bikeStationsAggregate(groupBy: [DISTRICT_CODE]) { key { districtCode } count } }"
LOOKUP = 'query One($id: String!) { bikeStation(id: $id) { id name } other: district(code: "75101") { name } }'
FACTS = (
    "tier", "subject", "client_id", "operation", "document_hash", "datasets", "departments",
    "fields", "subjects", "restricted", "legal_basis", "case_reference", "outcome", "status",
    "error_codes",
)  # fmt: skip
"""Everything an access record says but its ids, time and latency."""
PEOPLE = "query People { residents(first: 5) { nodes { id familyName birthDate } } }"


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    # the response cache would answer a repeated query before the lane sees it
    if request.param == "sqlite":
        return settings_for(tmp_path, cache_enabled=False)
    url = request.getfixturevalue("fresh_postgres_url")
    return settings_for(tmp_path, cache_enabled=False, database_url=url)


def lane_of(client: TestClient) -> CompiledLane:
    for route in client.app.routes:  # type: ignore[attr-defined]
        view = getattr(getattr(route, "endpoint", None), "api", None)
        if getattr(view, "lane", None) is not None:
            lane: CompiledLane = view.lane  # type: ignore[union-attr]
            return lane
    raise AssertionError("the app has no compiled lane")


def post(
    client: TestClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> Any:
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def headers_of(response: Any) -> dict[str, str]:
    # the rate limit's standing moves on with each request; everything else is the answer's
    moving = ("date", "x-request-id", "ratelimit-remaining", "ratelimit-reset")
    return {k: v for k, v in response.headers.items() if k not in moving}


def twice(
    client: TestClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> tuple[Any, Any]:
    """The usual way's answer, then the lane's: asserts that the lane answered the second."""
    lane = lane_of(client)
    first = post(client, query, variables, **headers)
    before = lane.answered
    second = post(client, query, variables, **headers)
    assert lane.answered == before + 1, "the second request did not take the lane"
    return first, second


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (PAGE, {"first": 3, "withDistrict": True}),
        (PAGE, {"first": 2, "withDistrict": False}),
        (AGGREGATE, None),
        (LOOKUP, {"id": "S001"}),
    ],
)
def test_a_learnt_operation_is_answered_byte_for_byte_by_the_lane(
    settings: Settings, query: str, variables: dict[str, Any] | None
) -> None:
    with audited_client(settings) as client:
        on_app_loop(client, city_of(client).version_unversioned)
        first, second = twice(client, query, variables)
        assert first.status_code == second.status_code == 200
        assert second.content == first.content
        assert headers_of(second) == headers_of(first)
        assert "errors" not in first.json()
        assert "citation" in first.json()["extensions"]


def test_a_lookup_that_finds_nothing_is_cited_by_the_lane(settings: Settings) -> None:
    """No row, yet the statement gives one: the versions the row was not found in. So the lane
    answers the null, cited, with the same bytes, and each root field is one statement."""
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, city.version_unversioned)
        lane = lane_of(client)
        first = post(client, LOOKUP, {"id": "no such station"})
        with StatementCounter(city.databases.engines()) as counted:
            second = post(client, LOOKUP, {"id": "no such station"})
        assert lane.answered == 1
        assert second.content == first.content
        answer = first.json()
        assert answer["data"]["bikeStation"] is None
        assert answer["extensions"]["citation"]["versions"] == ["bikeStations@1", "districts@1"]
        # the two root fields, each with its versions: no check of the versions after the answer
        data = [s for s in counted.statements if "bike_station" in s or "district" in s]
        assert len(data) == 2, data
        assert all("citygraph_version" in s for s in data)
        assert len([s for s in counted.statements if "citygraph_version" in s]) == 2


def test_new_variables_and_switches_are_bound_afresh(settings: Settings) -> None:
    with audited_client(settings) as client:
        twice(client, PAGE, {"first": 2, "withDistrict": True})
        lane = lane_of(client)
        before = lane.answered
        wider = post(client, PAGE, {"first": 4, "withDistrict": True}).json()
        assert lane.answered == before + 1  # the same plan, bound to new values
        edges = wider["data"]["bikeStations"]["edges"]
        assert len(edges) == 4
        assert "district" in edges[0]["node"]
        # a switch the lane has not seen is the usual way's, which teaches it
        plain = post(client, PAGE, {"first": 2, "withDistrict": False}).json()
        assert lane.answered == before + 1
        assert "district" not in plain["data"]["bikeStations"]["edges"][0]["node"]
        post(client, PAGE, {"first": 2, "withDistrict": False})
        assert lane.answered == before + 2


MEASURED = """
query Measured($since: DateTime!, $after: String) {
  airQualityMeasurements(first: 2, after: $after, where: {measuredAt: {gte: $since}},
                         orderBy: [{field: MEASURED_AT, direction: DESC}]) {
    pageInfo { endCursor }
    edges { cursor node { stationId measuredAt } }
  }
}
"""


def test_a_page_keyed_on_a_datetime_takes_the_lane(settings: Settings) -> None:
    """A DateTime variable, and a cursor holding a time with a fraction of a second: bound by
    the lane, with the usual way's bytes."""
    with audited_client(settings) as client:
        city = city_of(client)

        async def measured() -> None:
            await city.repository("airQualityStations").upsert([AIR_STATION])
            await city.repository("airQualityMeasurements").upsert(measurements())

        on_app_loop(client, measured)
        on_app_loop(client, city.version_unversioned)
        since = {"since": "2019-06-02T23:00:00+02:00"}
        first, second = twice(client, MEASURED, since)
        assert second.content == first.content
        page = first.json()["data"]["airQualityMeasurements"]
        assert [e["node"]["measuredAt"] for e in page["edges"]] == [
            "2019-06-05T01:02:03.450000+00:00",
            "2019-06-05T01:02:03.000001+00:00",
        ]
        lane = lane_of(client)
        before = lane.answered
        after = {**since, "after": page["pageInfo"]["endCursor"]}
        following = post(client, MEASURED, after)
        assert lane.answered == before + 1  # the same plan, past the cursor
        edges = following.json()["data"]["airQualityMeasurements"]["edges"]
        assert [e["node"]["measuredAt"] for e in edges] == [
            "2019-06-02T23:00:00+00:00",
            "2019-06-02T22:00:00+00:00",
        ]


def test_bad_variables_get_the_usual_way_s_error(settings: Settings) -> None:
    with audited_client(settings) as client:
        twice(client, PAGE, {"first": 2, "withDistrict": True})
        lane = lane_of(client)
        before = lane.answered
        wrong_type = post(client, PAGE, {"first": "two", "withDistrict": True}).json()
        out_of_range = post(client, PAGE, {"first": -1, "withDistrict": True}).json()
        assert lane.answered == before
        assert [e["extensions"]["code"] for e in wrong_type["errors"]] == ["BAD_USER_INPUT"]
        assert out_of_range["data"]["bikeStations"] is None
        assert [e["extensions"]["code"] for e in out_of_range["errors"]] == ["BAD_USER_INPUT"]


def test_a_staff_read_by_the_lane_leaves_the_same_record(
    settings: Settings, tmp_path: Path
) -> None:
    staff = token(tmp_path, ["registry:read"])
    auth = {"Authorization": f"Bearer {staff}", **PURPOSE}
    with audited_client(settings) as client:
        first, second = twice(client, PEOPLE, None, **auth)
        assert second.content == first.content
        assert "extensions" not in first.json()  # restricted: never cited
        records = logged(settings, 2)
    facts = [{k: r[k] for k in FACTS} for r in records[-2:]]
    assert facts[0] == facts[1]
    assert facts[0]["subjects"] == sorted(str(r["id"]) for r in RESIDENTS[:5])


def test_each_citizen_gets_their_own_rows_from_the_lane(settings: Settings, tmp_path: Path) -> None:
    mine = "query Mine { residents { nodes { id familyName } } }"
    first = RESIDENTS[0]["id"]
    second = "R9"  # a resident with no record here: their list is empty, never marie's
    marie = token(tmp_path, ["self"], subject="marie", resident_id=first)
    paul = token(tmp_path, ["self"], subject="paul", resident_id=second)
    with audited_client(settings) as client:
        lane = lane_of(client)
        _, again = twice(client, mine, None, Authorization=f"Bearer {marie}")
        before = lane.answered
        other = post(client, mine, None, Authorization=f"Bearer {paul}")
        assert lane.answered == before + 1  # the same plan, bound to paul's own rows
    assert [n["id"] for n in orjson.loads(again.content)["data"]["residents"]["nodes"]] == [first]
    assert other.json()["data"]["residents"]["nodes"] == []


def citizens(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The headers of marie (the first resident here) and of paul (R9, who has no record)."""

    def headers(resident: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token(tmp_path, ['self'], resident_id=resident)}"}

    return headers(str(RESIDENTS[0]["id"])), headers("R9")


def test_each_citizen_gets_their_own_nested_rows_from_the_lane(
    settings: Settings, tmp_path: Path
) -> None:
    """A list of personal rows beneath public rows is narrowed to the citizen's own: the lane
    binds paul's request to paul, never to the rows it answered marie with."""
    near = "query Near { districts { nodes { code residents { nodes { id familyName } } } } }"
    marie_id = RESIDENTS[0]["id"]
    marie, paul = citizens(tmp_path)
    with audited_client(settings) as client:
        lane = lane_of(client)
        first, again = twice(client, near, None, **marie)
        assert again.content == first.content
        before = lane.answered
        other = post(client, near, None, **paul)
        assert lane.answered == before + 1  # the same plan, bound to paul's own rows
        records = logged(settings, 3)

    def listed(response: Any) -> list[str]:
        data = orjson.loads(response.content)["data"]["districts"]["nodes"]
        return [r["id"] for d in data for r in d["residents"]["nodes"]]

    assert listed(again) == [marie_id]
    assert listed(other) == []
    assert [r["subjects"] for r in records[-3:]] == [[marie_id], [marie_id], ["R9"]]


def test_a_citizen_s_lookup_takes_the_lane_only_for_their_own_row(
    settings: Settings, tmp_path: Path
) -> None:
    """The lane answers marie's lookup of her own record again; paul's lookup of marie's record,
    the same document, is refused as the usual way refuses it, with the same record each time."""
    lookup = "query Me($id: String!) { resident(id: $id) { id familyName } }"
    marie_id = RESIDENTS[0]["id"]
    marie, paul = citizens(tmp_path)
    with audited_client(settings) as client:
        lane = lane_of(client)
        first, second = twice(client, lookup, {"id": marie_id}, **marie)
        assert second.content == first.content
        assert first.json()["data"]["resident"]["id"] == marie_id
        before = lane.answered
        refused = [post(client, lookup, {"id": marie_id}, **paul) for _ in range(2)]
        assert lane.answered == before
        records = logged(settings, 4)
    for response in refused:
        assert response.json()["data"] == {"resident": None}
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["FORBIDDEN"]
    facts = [{k: r[k] for k in FACTS} for r in records[-4:]]
    assert facts[0] == facts[1]
    assert facts[0]["subjects"] == [marie_id]
    assert facts[2] == facts[3]
    assert facts[2]["error_codes"] == ["FORBIDDEN"]
    assert facts[2]["subjects"] == ["R9"]


def test_a_control_character_in_a_variable_is_refused_as_the_usual_way_does(
    settings: Settings,
) -> None:
    query = "query Named($name: String) { bikeStations(where: {name: {contains: $name}}) { totalCount } }"
    with audited_client(settings) as client:
        twice(client, query, {"name": "a"})
        lane = lane_of(client)
        before = lane.answered
        refused = post(client, query, {"name": "a\x00b"}).json()
        assert lane.answered == before
        assert refused["data"] is None
        assert [e["extensions"]["code"] for e in refused["errors"]] == ["BAD_USER_INPUT"]


def test_the_lane_finds_entities_fields_behind_fragments() -> None:
    """The lane keys an operation's plans by the type each `_entities` field's representations
    name; it finds those fields at the root, in inline fragments and in named ones (a fragment
    that spreads itself is read once)."""
    from graphql import build_schema, parse

    from api.compiled_lane import entities_of

    schema = build_schema(
        """
        scalar _Any
        type A { id: ID }
        union _Entity = A
        type Query { _entities(representations: [_Any!]!): [_Entity]! a: A }
        """
    )
    document = parse(
        """
        query Q($r: [_Any!]!) {
          a { id }
          _entities(representations: $r) { __typename }
          ... on Query { inline: _entities(representations: $r) { __typename } }
          ...Named
        }
        fragment Named on Query { named: _entities(representations: $r) { __typename } ...Named }
        """
    )
    (operation,) = document.definitions[:1]
    found = entities_of(document, operation, schema)  # type: ignore[arg-type]
    assert [node.alias.value if node.alias else None for _f, node in found] == [
        None,
        "inline",
        "named",
    ]
    assert all(f is schema.query_type.fields["_entities"] for f, _node in found)  # type: ignore[union-attr]
    assert entities_of(parse("{ a { id } }"), parse("{ a { id } }").definitions[0], schema) == ()  # type: ignore[arg-type]
