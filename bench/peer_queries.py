"""The queries bench/peer.py sends, as each contender spells them, and how their answers compare.

Each shape is asked of citygraph (its GraphQL), of PostGraphile 5 (the same question in the amber
preset's names, aliased so that the answer has citygraph's shape) and of the ceiling (one
hand-written statement that builds citygraph's answer in PostgreSQL, bench/ceiling.py). Answers
must be equal once parsed; the aggregate is compared after `canonical`, since pg-aggregates
names its groups and types its numbers its own way (`keys: ["75101"]`, counts and sums as
strings).

Everything here is pure: the unit tests check it without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RESIDENT_PAGE = "id familyName givenName birthDate address districtCode"


@dataclass(frozen=True)
class Shape:
    """One question, as each contender is asked it."""

    name: str
    citygraph: str
    ceiling_sql: str
    postgraphile: str | None = None
    """None: PostGraphile is not asked (restricted data: it has no purpose or audit to match)."""
    restricted: bool = False
    """Asked with a staff token and a purpose; the ceiling's statement records the access."""


def _page(root: str, nodes_sql: str, source: str) -> str:
    """SQL for `{"data": {root: {"nodes": [...]}}}` over the rows of `source` (aliased `r`)."""
    return (
        f"SELECT json_build_object('data', json_build_object('{root}', json_build_object("  # noqa: S608 (our constants)
        f"'nodes', coalesce(json_agg({nodes_sql} ORDER BY r.id), '[]'::json))))::text "
        f"FROM ({source}) r"
    )


STATIONS_100 = Shape(
    name="100 stations x 6 columns",
    citygraph="{ bikeStations(first: 100, orderBy: [{field: ID, direction: ASC}]) "
    "{ nodes { id name capacity latitude longitude districtCode } } }",
    postgraphile="{ bikeStations: allBikeStations(first: 100, orderBy: ROW_ID_ASC) "
    "{ nodes { id: rowId name capacity latitude longitude districtCode } } }",
    ceiling_sql=_page(
        "bikeStations",
        "json_build_object('id', r.id, 'name', r.name, 'capacity', r.capacity, "
        "'latitude', r.latitude, 'longitude', r.longitude, 'districtCode', r.district_code)",
        "SELECT * FROM bike_station ORDER BY id LIMIT 100",
    ),
)

STATIONS_20 = Shape(
    name="20 stations x 2 columns",
    citygraph="{ bikeStations(first: 20, orderBy: [{field: ID, direction: ASC}]) "
    "{ nodes { id name } } }",
    postgraphile="{ bikeStations: allBikeStations(first: 20, orderBy: ROW_ID_ASC) "
    "{ nodes { id: rowId name } } }",
    ceiling_sql=_page(
        "bikeStations",
        "json_build_object('id', r.id, 'name', r.name)",
        "SELECT id, name FROM bike_station ORDER BY id LIMIT 20",
    ),
)

DISTRICTS_X_STATIONS = Shape(
    name="20 districts x 10 stations",
    citygraph="{ districts(first: 20, orderBy: [{field: CODE, direction: ASC}]) { nodes { code "
    "name bikeStations(first: 10, orderBy: [{field: ID, direction: ASC}]) { nodes { id name } } } } }",
    postgraphile="{ districts: allDistricts(first: 20, orderBy: CODE_ASC) { nodes { code name "
    "bikeStations: bikeStationsByDistrictCode(first: 10, orderBy: ROW_ID_ASC) "
    "{ nodes { id: rowId name } } } } }",
    # a lateral subquery per district: one statement, each district's first ten by the index
    ceiling_sql=(
        "SELECT json_build_object('data', json_build_object('districts', json_build_object("
        "'nodes', coalesce(json_agg(json_build_object('code', d.code, 'name', d.name, "
        "'bikeStations', json_build_object('nodes', s.nodes)) ORDER BY d.code), '[]'::json))))::text "
        "FROM (SELECT code, name FROM district ORDER BY code LIMIT 20) d "
        "CROSS JOIN LATERAL (SELECT coalesce(json_agg(json_build_object('id', b.id, 'name', b.name) "
        "ORDER BY b.id), '[]'::json) AS nodes FROM (SELECT id, name FROM bike_station "
        "WHERE district_code = d.code ORDER BY id LIMIT 10) b) s"
    ),
)

AGGREGATE = Shape(
    name="count, capacity sum by district",
    citygraph="{ bikeStationsAggregate(groupBy: [DISTRICT_CODE]) "
    "{ key { districtCode } count sum { capacity } } }",
    postgraphile="{ bikeStationsAggregate: allBikeStations { groupedAggregates("
    "groupBy: [DISTRICT_CODE]) { keys distinctCount { rowId } sum { capacity } } } }",
    ceiling_sql=(
        "SELECT json_build_object('data', json_build_object('bikeStationsAggregate', "
        "coalesce(json_agg(json_build_object('key', json_build_object('districtCode', g.code), "
        "'count', g.n, 'sum', json_build_object('capacity', g.total)) ORDER BY g.code), "
        "'[]'::json)))::text FROM (SELECT district_code AS code, count(*) AS n, "
        "sum(capacity)::float8 AS total FROM bike_station GROUP BY district_code) g"
    ),
)

RESIDENTS_100 = Shape(
    name="staff: 100 residents",
    citygraph="{ residents(first: 100, orderBy: [{field: ID, direction: ASC}]) "
    f"{{ nodes {{ {RESIDENT_PAGE} }} }} }}",
    restricted=True,
    # the page and its access record in one statement: the record is committed with it, before
    # the answer leaves (autocommit), and names every resident read
    ceiling_sql=(
        "WITH r AS (SELECT id, family_name, given_name, birth_date, address, district_code "
        "FROM resident ORDER BY id LIMIT 100), "
        "logged AS (INSERT INTO bench_access (subject, purpose, residents) "
        "SELECT $1, $2, coalesce(array_agg(id ORDER BY id), '{}') FROM r) "
        "SELECT json_build_object('data', json_build_object('residents', json_build_object("
        "'nodes', coalesce(json_agg(json_build_object('id', r.id, 'familyName', r.family_name, "
        "'givenName', r.given_name, 'birthDate', r.birth_date, 'address', r.address, "
        "'districtCode', r.district_code) ORDER BY r.id), '[]'::json))))::text FROM r"
    ),
)

SHAPES = (STATIONS_100, STATIONS_20, DISTRICTS_X_STATIONS, AGGREGATE, RESIDENTS_100)

HOUSEHOLDS_X_MEMBERS = Shape(
    name="staff: 50 households x members",
    citygraph="{ households(first: 50, orderBy: [{field: ID, direction: ASC}]) "
    "{ nodes { id address members(first: 10, orderBy: [{field: ID, direction: ASC}]) "
    "{ nodes { id familyName givenName birthDate } } } } }",
    restricted=True,
    # about 95 residents beneath 50 households (1.9 a household), each a subject of the record,
    # inserted by the same statement
    ceiling_sql=(
        "WITH h AS (SELECT id, address FROM household ORDER BY id LIMIT 50), "
        "m AS (SELECT h.id AS hid, r.* FROM h CROSS JOIN LATERAL (SELECT id, family_name, "
        "given_name, birth_date FROM resident WHERE household_id = h.id ORDER BY id LIMIT 10) r), "
        "logged AS (INSERT INTO bench_access (subject, purpose, residents) "
        "SELECT $1, $2, coalesce(array_agg(id ORDER BY id), '{}') FROM m) "
        "SELECT json_build_object('data', json_build_object('households', json_build_object("
        "'nodes', coalesce((SELECT json_agg(json_build_object('id', h.id, 'address', h.address, "
        "'members', json_build_object('nodes', coalesce((SELECT json_agg(json_build_object("
        "'id', m.id, 'familyName', m.family_name, 'givenName', m.given_name, "
        "'birthDate', m.birth_date) ORDER BY m.id) FROM m WHERE m.hid = h.id), '[]'::json))) "
        "ORDER BY h.id) FROM h), '[]'::json))))::text"
    ),
)

STAFF_SHAPES = (RESIDENTS_100, HOUSEHOLDS_X_MEMBERS)
"""What bench.restricted asks: a staff member's flat page, and a nested one."""

ACCESS_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_access (at timestamptz NOT NULL DEFAULT now(), "
    "subject text NOT NULL, purpose text, residents text[] NOT NULL)"
)
"""The ceiling's access log: one row per restricted read, written by the read's own statement."""


def canonical(shape: Shape, answer: Any) -> Any:
    """An answer in the form every contender's must match (aggregates: sorted, numbers typed)."""
    if not isinstance(answer, dict) or "data" not in answer:
        return answer
    if shape is not AGGREGATE:
        # `data` alone: citygraph's public answers also carry extensions.citation (issue 15)
        return answer["data"]
    groups = (answer["data"] or {}).get("bikeStationsAggregate")
    if isinstance(groups, dict):  # PostGraphile's groupedAggregates
        rows = [
            (g["keys"][0], int(g["distinctCount"]["rowId"]), float(g["sum"]["capacity"]))
            for g in groups["groupedAggregates"]
        ]
    else:
        rows = [
            (g["key"]["districtCode"], int(g["count"]), float(g["sum"]["capacity"]))
            for g in groups or []
        ]
    return sorted(rows, key=lambda row: (row[0] is None, row[0] or ""))


def differences(shape: Shape, answers: dict[str, Any]) -> list[str]:
    """What keeps the contenders' parsed answers from being equal (empty: they agree)."""
    problems = [
        f"{who} answered no data: {answer.get('errors') if isinstance(answer, dict) else answer!r}"
        for who, answer in answers.items()
        if not isinstance(answer, dict) or answer.get("errors") or answer.get("data") is None
    ]
    if problems:
        return problems
    (first, reference), *others = answers.items()
    expected = canonical(shape, reference)
    return [
        f"{who}'s answer differs from {first}'s"
        for who, answer in others
        if canonical(shape, answer) != expected
    ]
