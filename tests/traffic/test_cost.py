"""Static query cost: pages multiply, nesting multiplies; caps and budgets per tier."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, parse

from auth.principal import Tier
from schema.cost import document_cost
from schema.gateway import build_gateway_schema
from schema.publishing import load_catalog
from tests.traffic.conftest import MakeApp

PAGE = "{ bikeStations(first: 10) { totalCount nodes { id name } } }"
NESTED = "{ districts(first: 5) { nodes { code bikeStations(first: 4) { nodes { id } } } } }"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> GraphQLSchema:
    catalog = load_catalog(Path(tmp_path_factory.mktemp("catalog")))
    return build_gateway_schema(catalog)._schema


def cost(schema: GraphQLSchema, query: str, **variables: int) -> int:
    return document_cost(schema, parse(query), variables=variables).cost


def test_a_page_multiplies_its_fields(gateway: GraphQLSchema) -> None:
    # bikeStations 1 + 10 x (totalCount 1 + nodes 1 + (id 1 + name 1))
    assert cost(gateway, PAGE) == 1 + 10 * 4


def test_nesting_multiplies(gateway: GraphQLSchema) -> None:
    # districts 1 + 5 x (nodes 1 + code 1 + bikeStations (1 + 4 x (nodes 1 + id 1)))
    assert cost(gateway, NESTED) == 1 + 5 * (1 + 1 + (1 + 4 * 2))


def test_page_size_comes_from_variables_defaults_and_the_maximum(gateway: GraphQLSchema) -> None:
    query = "query($n: Int) { bikeStations(first: $n) { nodes { id } } }"
    assert cost(gateway, query, n=3) == 1 + 3 * 2
    assert cost(gateway, query) == 1 + 50 * 2  # the default page
    assert cost(gateway, query, n=10**9) == 1 + 1000 * 2  # the schema's maximum page
    fragment = (
        "{ bikeStations(first: 3) { ...F } } fragment F on BikeStationConnection { nodes { id } }"
    )
    assert cost(gateway, fragment) == 1 + 3 * 2


def test_a_document_over_its_tiers_cost_says_its_cost_and_the_limit(make_app: MakeApp) -> None:
    client = make_app(cost_limits={Tier.ANONYMOUS: 40})
    refused = client.post("/graphql", json={"query": PAGE})
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["message"] == "the document's cost is 41, over the limit of 40 for tier anonymous"
    spec = client.post(
        "/graphql", json={"query": PAGE}, headers={"accept": "application/graphql-response+json"}
    )
    assert spec.status_code == 400
    assert (
        "data"
        in client.post(
            "/graphql",
            json={"query": "{ bikeStations(first: 9) { totalCount nodes { id name } } }"},
        ).json()
    )


def test_tier_caps_on_depth_and_aliases(make_app: MakeApp) -> None:
    client = make_app(tier_max_depth={Tier.ANONYMOUS: 3}, tier_max_aliases={Tier.ANONYMOUS: 1})
    deep = client.post("/graphql", json={"query": NESTED})
    assert deep.json()["errors"][0]["message"].startswith("the document's depth is 5")
    aliased = client.post(
        "/graphql", json={"query": "{ a: districts { totalCount } b: districts { totalCount } }"}
    )
    assert aliased.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_cost_is_counted_against_the_tiers_budget(make_app: MakeApp) -> None:
    client = make_app(cost_budgets={Tier.ANONYMOUS: 100})
    assert client.post("/graphql", json={"query": PAGE}).status_code == 200  # 41
    assert client.post("/graphql", json={"query": PAGE}).status_code == 200  # 82
    spent = client.post("/graphql", json={"query": PAGE})
    assert spent.status_code == 429
    assert spent.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "costs 41" in spent.json()["errors"][0]["message"]
    assert int(spent.headers["retry-after"]) >= 1
