"""bench.peer's query set: each contender's documents, the ceiling's statements, the comparison.

The ceiling (bench/ceiling.py) must answer what citygraph answers, byte for byte once parsed, or
the benchmark compares two different jobs: here both answer every query on one PostgreSQL
database. PostGraphile itself is not started in the suite (its Node 22 and npm packages are the
benchmark's, tools/peer); its documents are checked for syntax only.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import graphql
import pytest
from starlette.testclient import TestClient

from bench.ceiling import ceiling_app
from bench.peer_queries import (
    AGGREGATE,
    HOUSEHOLDS_X_MEMBERS,
    RESIDENTS_100,
    SHAPES,
    STATIONS_20,
    canonical,
    differences,
)
from schema.city import builtin_specs
from schema.datasets import Catalog
from schema.gateway import QueryLimits, build_gateway_schema
from tests.api.conftest import city_of, on_app_loop
from tests.audit.helpers import PURPOSE, audited_client, settings_for, token
from tests.services import libpq_url

HOUSEHOLD = {
    "id": "H1",
    "address": "1 rue de l'Œuvre",
    "district_code": "75101",
    "quartier_code": "7510101",
}
MORE_RESIDENTS = [
    {
        "id": f"R{n}",
        "given_name": given,
        "family_name": family,
        "birth_date": date(1950 + n, n % 12 + 1, n % 27 + 1),
        "sex": "X" if n % 3 else "F",
        "household_id": "H1",
        "address": f'{n} rue de l\'Œuvre "B"',
        "district_code": f"7510{n % 3 + 1}",
        "quartier_code": "7510101",
    }
    for n, (given, family) in enumerate(
        [("Zoé", "Ölçer"), ("Jean-Luc", "D'Arc"), ("Ève", "Nguyễn"), ("Åsa", "Smith")], start=2
    )
]


def test_citygraph_documents_are_valid_in_our_schema() -> None:
    gateway = build_gateway_schema(Catalog(builtin_specs()), QueryLimits())
    for shape in (*SHAPES, HOUSEHOLDS_X_MEMBERS):
        errors = graphql.validate(gateway._schema, graphql.parse(shape.citygraph))
        assert not errors, (shape.name, errors)


def test_postgraphile_documents_parse_and_alias_to_our_root_fields() -> None:
    for shape in SHAPES:
        if shape.postgraphile is None:
            assert shape.restricted  # only the staff page is not asked of the peer
            continue
        ours = graphql.parse(shape.citygraph).definitions[0]
        theirs = graphql.parse(shape.postgraphile).definitions[0]
        root = theirs.selection_set.selections[0]  # type: ignore[attr-defined]
        assert root.alias is not None
        assert root.alias.value == ours.selection_set.selections[0].name.value  # type: ignore[attr-defined]


PEER_GROUPS = {
    "data": {
        "bikeStationsAggregate": {
            "groupedAggregates": [
                {"keys": ["75102"], "distinctCount": {"rowId": "2"}, "sum": {"capacity": "30"}},
                {"keys": [None], "distinctCount": {"rowId": "1"}, "sum": {"capacity": "5"}},
                {"keys": ["75101"], "distinctCount": {"rowId": "3"}, "sum": {"capacity": "45"}},
            ]
        }
    }
}
OUR_GROUPS = {
    "data": {
        "bikeStationsAggregate": [
            {"key": {"districtCode": "75101"}, "count": 3, "sum": {"capacity": 45.0}},
            {"key": {"districtCode": "75102"}, "count": 2, "sum": {"capacity": 30.0}},
            {"key": {"districtCode": None}, "count": 1, "sum": {"capacity": 5.0}},
        ]
    }
}


def test_aggregates_compare_by_group_whatever_the_spelling() -> None:
    assert canonical(AGGREGATE, PEER_GROUPS) == canonical(AGGREGATE, OUR_GROUPS)
    assert differences(AGGREGATE, {"citygraph": OUR_GROUPS, "postgraphile": PEER_GROUPS}) == []
    changed: Any = {
        "data": {"bikeStationsAggregate": OUR_GROUPS["data"]["bikeStationsAggregate"][:2]}
    }
    assert differences(AGGREGATE, {"citygraph": changed, "postgraphile": PEER_GROUPS}) == [
        "postgraphile's answer differs from citygraph's"
    ]


def test_pages_compare_exactly_and_errors_are_named() -> None:
    page = {"data": {"bikeStations": {"nodes": [{"id": "1", "name": "a"}]}}}
    other = {"data": {"bikeStations": {"nodes": [{"id": "1", "name": "b"}]}}}
    assert differences(STATIONS_20, {"a": page, "b": page}) == []
    assert differences(STATIONS_20, {"a": page, "b": other}) == ["b's answer differs from a's"]
    failed = {"errors": [{"message": "boom"}], "data": None}
    assert differences(STATIONS_20, {"a": page, "b": failed})[0].startswith("b answered no data")


@pytest.mark.postgres
def test_the_ceiling_answers_what_citygraph_answers(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    # given a city on PostgreSQL, served by citygraph, and the ceiling app on the same database
    settings = settings_for(tmp_path, database_url=fresh_postgres_url)
    staff = token(tmp_path, ["registry:read"])
    restricted_headers = {"Authorization": f"Bearer {staff}", **PURPOSE}
    with audited_client(settings) as city_client:
        city = city_of(city_client)
        on_app_loop(city_client, city.repository("households").upsert, [HOUSEHOLD])
        on_app_loop(city_client, city.repository("residents").upsert, MORE_RESIDENTS)
        with TestClient(ceiling_app(libpq_url(fresh_postgres_url))) as ceiling:
            answered = {}
            for shape in (*SHAPES, HOUSEHOLDS_X_MEMBERS):
                headers = restricted_headers if shape.restricted else {}
                # when both are asked the same document
                ours = city_client.post(
                    "/graphql", json={"query": shape.citygraph}, headers=headers
                )
                theirs = ceiling.post("/graphql", json={"query": shape.citygraph}, headers=headers)
                # then they agree once parsed, and the answer is not empty
                assert ours.status_code == theirs.status_code == 200
                answers = {"citygraph": ours.json(), "ceiling": theirs.json()}
                assert differences(shape, answers) == [], (shape.name, answers)
                assert canonical(shape, ours.json()) not in ([], {"data": {}})
                answered[shape] = ours.json()["data"]
    # and the ceiling's restricted statements recorded whom they read, as citygraph does
    page = answered[RESIDENTS_100]["residents"]["nodes"]
    assert len(page) == 1 + len(MORE_RESIDENTS)
    households = answered[HOUSEHOLDS_X_MEMBERS]["households"]["nodes"]
    members = sorted(m["id"] for h in households for m in h["members"]["nodes"])
    assert len(members) >= len(MORE_RESIDENTS)  # theirs is H1

    async def recorded() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(libpq_url(fresh_postgres_url))
        try:
            return await conn.fetch(
                "SELECT subject, purpose, residents FROM bench_access ORDER BY at"
            )
        finally:
            await conn.close()

    flat, nested = asyncio.run(recorded())
    assert flat["residents"] == [r["id"] for r in page]
    assert nested["residents"] == members
    assert flat["purpose"] == nested["purpose"] == PURPOSE["Citygraph-Purpose"]
