"""Bad input gets a GraphQL error body with a code, never a 500 or a stack trace (DESIGN section 10).

Each test sends one kind of bad request to the real app and checks the status, the code, and that
nothing the client should not see (hints naming the schema, internals) is in the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
import structlog.testing
from sqlalchemy import text
from starlette.testclient import TestClient

from api.limits import MAX_VARIABLE_DEPTH, MAX_VARIABLE_VALUES
from api.settings import Settings
from tests.api.conftest import GRAPHQL_RESPONSE, STATION_NAMES, MakeClient, city_of, on_app_loop

DEFAULT_MAX_DIRECTIVES = Settings.model_fields["max_directives"].default

TYPENAME = {"query": "{ __typename }"}
NAMES = """
query Names($where: BikeStationFilter) {
  bikeStations(where: $where, first: 100) { nodes { name } }
}
"""
FIRST = "query First($n: Int) { bikeStations(first: $n) { totalCount } }"
ORDER = "query Order($o: [BikeStationOrderBy!]) { bikeStations(orderBy: $o) { totalCount } }"


def codes(response: httpx.Response) -> list[str]:
    """The codes of a GraphQL error body; every error must have one."""
    body = response.json()
    assert body["errors"], body
    return [e["extensions"]["code"] for e in body["errors"]]


def post_json(client: TestClient, raw: bytes, **headers: str) -> httpx.Response:
    return client.post(
        "/graphql", content=raw, headers={"content-type": "application/json", **headers}
    )


# --- the request itself -------------------------------------------------------------------------


def test_malformed_json_is_400_bad_request(client: TestClient) -> None:
    response = post_json(client, b'{"query": "{ __typename }"')
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "data" not in response.json()


@pytest.mark.parametrize("body", [b"1", b'"{ __typename }"', b"null", b"true"])
def test_a_body_that_is_not_an_object_is_400(client: TestClient, body: bytes) -> None:
    response = post_json(client, body)
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_an_empty_body_is_400(client: TestClient) -> None:
    response = post_json(client, b"")
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_a_missing_query_is_400(client: TestClient) -> None:
    response = client.post("/graphql", json={"qeury": "{ __typename }"})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "query" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("query", 1), ("query", ["{ __typename }"]), ("variables", "{}"), ("operationName", {"a": 1})],
)
def test_mistyped_parameters_are_400(client: TestClient, field: str, value: Any) -> None:
    response = client.post("/graphql", json={**TYPENAME, field: value})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_an_unknown_operation_name_is_400(client: TestClient) -> None:
    response = client.post("/graphql", json={**TYPENAME, "operationName": "Nope"})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_a_batch_is_refused_with_a_clear_message(client: TestClient) -> None:
    response = client.post("/graphql", json=[TYPENAME, TYPENAME])
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "batch" in response.json()["errors"][0]["message"]


def test_an_unsupported_content_type_is_415(client: TestClient) -> None:
    response = client.post(
        "/graphql", content=b"{ __typename }", headers={"content-type": "application/graphql"}
    )
    assert response.status_code == 415
    assert codes(response) == ["BAD_REQUEST"]


def test_a_mutation_over_get_is_405(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert codes(response) == ["BAD_REQUEST"]


def test_other_methods_are_405(client: TestClient) -> None:
    response = client.put("/graphql", json=TYPENAME)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert codes(response) == ["BAD_REQUEST"]


# --- sizes --------------------------------------------------------------------------------------


def test_an_oversize_declared_body_is_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=10_000)
    response = post_json(client, b'{"query": "' + b" " * 20_000 + b'{ __typename }"}')
    assert response.status_code == 413
    assert codes(response) == ["PAYLOAD_TOO_LARGE"]


def test_an_oversize_chunked_body_is_413(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=10_000)

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "'
        for _ in range(10):
            yield b" " * 2_000
        yield b'{ __typename }"}'

    # a generator body goes out with Transfer-Encoding: chunked and no Content-Length
    response = client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert codes(response) == ["PAYLOAD_TOO_LARGE"]


def test_a_body_under_the_limit_passes(make_client: MakeClient) -> None:
    client = make_client(max_body_bytes=10_000)
    response = post_json(client, b'{"query": "' + b" " * 5_000 + b'{ __typename }"}')
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


def test_deeply_nested_variables_are_400(client: TestClient) -> None:
    nested: Any = "x"
    for _ in range(MAX_VARIABLE_DEPTH + 1):
        nested = [nested]
    response = client.post("/graphql", json={**TYPENAME, "variables": {"v": nested}})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_variables_with_too_many_values_are_400(client: TestClient) -> None:
    values = list(range(MAX_VARIABLE_VALUES + 1))
    where = {"capacity": {"in": values}}
    response = client.post("/graphql", json={"query": NAMES, "variables": {"where": where}})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


def test_a_huge_in_list_under_the_variable_limits_is_bad_user_input(client: TestClient) -> None:
    where = {"capacity": {"in": list(range(5_000))}}
    response = client.post("/graphql", json={"query": NAMES, "variables": {"where": where}})
    assert response.status_code == 200
    assert codes(response) == ["BAD_USER_INPUT"]


def test_json_nested_beyond_any_parser_is_400_not_a_crash(client: TestClient) -> None:
    depth = 100_000
    response = post_json(
        client,
        b'{"query": "{ __typename }", "variables": {"v": ' + b"[" * depth + b"]" * depth + b"}}",
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]


# --- documents ----------------------------------------------------------------------------------


def test_an_unparsable_document_is_parse_failed(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ bikeStations { "})
    assert response.status_code == 200  # application/json: a GraphQL response, spec section 6.4.1
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert response.json()["data"] is None


def test_an_unparsable_document_is_400_without_data_for_graphql_response_json(
    client: TestClient,
) -> None:
    response = client.post("/graphql", json={"query": "{"}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "data" not in response.json()


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ bikeStatons { totalCount } }", id="field"),
        pytest.param("{ bikeStations(frist: 1) { totalCount } }", id="argument"),
        pytest.param("{ bikeStations(orderBy: [{field: NAMEE}]) { totalCount } }", id="enum value"),
        pytest.param("{ ...F } fragment F on Quer { __typename }", id="fragment type"),
        pytest.param("{ ... on Quer { __typename } }", id="inline fragment type"),
        pytest.param(
            "query($w: BikeStationFiltre) { bikeStations(where: $w) { totalCount } }",
            id="variable type",
        ),
        pytest.param("{ bikeStations(where: {nam: {eq: 1}}) { totalCount } }", id="input field"),
    ],
)
def test_unknown_names_get_no_did_you_mean(client: TestClient, query: str) -> None:
    response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    assert set(codes(response)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "did you mean" not in response.text.lower()


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        pytest.param(ORDER, {"o": [{"field": "NAMEE"}]}, id="enum value"),
        pytest.param(NAMES, {"where": {"nam": {"eq": "x"}}}, id="input field"),
    ],
)
def test_variables_that_do_not_coerce_get_no_did_you_mean(
    client: TestClient, query: str, variables: dict[str, Any]
) -> None:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "did you mean" not in response.text.lower()


def test_a_wrong_variable_type_is_bad_user_input(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": FIRST, "variables": {"n": "ten"}})
    assert response.status_code == 200
    assert codes(response) == ["BAD_USER_INPUT"]
    assert response.json()["data"] is None


def test_a_wrong_variable_type_is_400_for_graphql_response_json(client: TestClient) -> None:
    response = client.post(
        "/graphql",
        json={"query": FIRST, "variables": {"n": "ten"}},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    assert codes(response) == ["BAD_USER_INPUT"]
    assert "data" not in response.json()


def test_a_wrong_variable_type_says_which_variable(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": FIRST, "variables": {"n": "ten"}})
    assert "$n" in response.json()["errors"][0]["message"]


def test_an_argument_out_of_range_is_bad_user_input(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": FIRST, "variables": {"n": 1_000_000}})
    assert response.status_code == 200
    assert codes(response) == ["BAD_USER_INPUT"]


# --- document limits ----------------------------------------------------------------------------


def test_nesting_beyond_max_depth_is_refused(make_client: MakeClient) -> None:
    client = make_client(max_depth=5)
    inner = "district { bikeStations { nodes { " * 3 + "id" + " } } }" * 3
    response = client.post(
        "/graphql", json={"query": "{ bikeStations { nodes { " + inner + " } } }"}
    )
    assert response.status_code == 200
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert "depth" in response.json()["errors"][0]["message"]


def test_an_alias_bomb_is_refused(client: TestClient) -> None:
    aliases = " ".join(f"a{i}: bikeStations {{ totalCount }}" for i in range(200))
    response = client.post(
        "/graphql", json={"query": "{ " + aliases + " }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert response.status_code == 400
    assert codes(response) == ["QUERY_TOO_COMPLEX"]
    assert "aliases" in response.json()["errors"][0]["message"]


def test_too_many_tokens_are_refused_while_parsing(make_client: MakeClient) -> None:
    client = make_client(max_tokens=200)
    response = client.post("/graphql", json={"query": "{ " + "__typename " * 300 + "}"})
    assert response.status_code == 200
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]
    assert "tokens" in response.json()["errors"][0]["message"]


def test_too_many_directives_are_refused(client: TestClient) -> None:
    # one field repeated (no aliases, which have their own limit), one directive on each
    fields = "__typename @skip(if: false) " * (DEFAULT_MAX_DIRECTIVES + 1)
    response = client.post("/graphql", json={"query": "{ " + fields + " }"})
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_COMPLEX"]
    assert "directives" in errors[0]["message"]


def test_directives_under_the_limit_pass(client: TestClient) -> None:
    fields = "__typename @skip(if: false) " * DEFAULT_MAX_DIRECTIVES
    response = client.post("/graphql", json={"query": "{ " + fields + " }"})
    assert response.status_code == 200
    assert "errors" not in response.json()


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("%' OR 1=1 --", ["%' OR 1=1 --"], id="quote and comment"),
        pytest.param("%", ["100% Vélo", "%' OR 1=1 --"], id="percent is literal"),
        pytest.param("_", ["a_b station"], id="underscore is literal"),
        pytest.param("'; DROP TABLE bike_station; --", [], id="statement"),
    ],
)
def test_filter_text_is_only_text(client: TestClient, text: str, expected: list[str]) -> None:
    response = client.post(
        "/graphql", json={"query": NAMES, "variables": {"where": {"name": {"contains": text}}}}
    )
    assert response.status_code == 200
    assert "errors" not in response.json()
    names = [n["name"] for n in response.json()["data"]["bikeStations"]["nodes"]]
    assert sorted(names) == sorted(expected)
    # and the table is still whole
    everything = client.post("/graphql", json={"query": NAMES}).json()["data"]["bikeStations"][
        "nodes"
    ]
    assert len(everything) == len(STATION_NAMES)


# --- the unexpected -----------------------------------------------------------------------------


def test_an_unexpected_failure_is_masked_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def break_table() -> None:
        async with city_of(client).repository("bikeStations").engine.begin() as conn:
            await conn.execute(text("DROP TABLE bike_station"))

    on_app_loop(client, break_table)
    with structlog.testing.capture_logs() as events, caplog.at_level(logging.ERROR):
        response = client.post("/graphql", json={"query": "{ bikeStations { totalCount } }"})
    assert response.status_code == 200
    assert codes(response) == ["INTERNAL_SERVER_ERROR"]
    assert response.json()["errors"][0]["message"] == "Unexpected error."
    for internal in ("bike_station", "sqlite", "Traceback", "OperationalError"):
        assert internal not in response.text
    logged = [e for e in events if e["log_level"] == "error"] + caplog.records
    assert logged, "the failure was not logged"
