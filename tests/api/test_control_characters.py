"""Control characters in any string input are refused alike on SQLite and PostgreSQL (issue 13).

A NUL in a text filter used to be cut by SQLite (`contains: "a\\u0000b"` matched like "a") and to
fail on PostgreSQL. Now every refused character (storage.controls) is a BAD_USER_INPUT before any
engine sees it, whether it comes in a variable, a document literal, a cursor or an export's
filter; TAB, LF and CR stay legitimate text and match the same rows on both engines.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from storage.controls import REFUSED, control_character
from tests import services
from tests.api.conftest import STATION_NAMES, city_of, on_app_loop, seed

NAMES = """
query Names($where: BikeStationFilter, $after: String) {
  bikeStations(where: $where, first: 100, after: $after, orderBy: [{field: NAME}]) {
    totalCount nodes { name }
  }
}
"""

REFUSED_SAMPLES = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85", "\x9f"]


def serve(data_dir: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, environment=Environment.TEST, **overrides)
    with TestClient(create_app(settings)) as client:
        on_app_loop(client, seed, city_of(client))
        yield client


# The apps are shared by this module's tests, which only read: one app per engine, not per test.
@pytest.fixture(scope="module")
def sqlite_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    yield from serve(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="module")
def postgres_client(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str
) -> Iterator[TestClient]:
    with services.temporary_database(postgres_admin_url) as url:
        yield from serve(tmp_path_factory.mktemp("postgres"), database_url=url)


@pytest.fixture(params=["sqlite", "postgres"])
def engine_client(request: pytest.FixtureRequest) -> TestClient:
    """The seeded app on each engine."""
    client: TestClient = request.getfixturevalue(f"{request.param}_client")
    return client


def names(client: TestClient, where: dict[str, Any], after: str | None = None) -> Any:
    response = client.post(
        "/graphql", json={"query": NAMES, "variables": {"where": where, "after": after}}
    )
    assert response.status_code < 500, response.text
    return response.json()


def refused(body: dict[str, Any]) -> bool:
    return body.get("data") is None and [e["extensions"]["code"] for e in body["errors"]] == [
        "BAD_USER_INPUT"
    ]


def test_the_rule_refuses_every_cc_character_but_tab_lf_cr() -> None:
    everything = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    cc = {c for c in everything if unicodedata.category(c) == "Cc"}
    assert set(REFUSED.findall(everything)) == cc - {"\t", "\n", "\r"}
    # format characters (zero-width space, bidi override, BOM) and the rest are text
    for text in ("\u200b", "\u202e", "\u2028", "é", "\ufeff", "日本", "a\tb\r\n"):
        assert control_character(text) is None


def test_a_refused_character_in_a_filter_variable(engine_client: TestClient) -> None:
    for char in REFUSED_SAMPLES:
        for where in (
            {"name": {"contains": f"a{char}b"}},
            {"name": {"eq": f"Bastille{char}"}},
            {"name": {"in": ["Zola", f"x{char}"]}},
            {"withinDistrict": f"75101{char}"},
            {"or": [{"name": {"startsWith": char}}]},
        ):
            assert refused(names(engine_client, where)), (char, where)


def test_the_issues_case_is_refused_not_cut(engine_client: TestClient) -> None:
    # SQLite answered the rows containing "a" (34 in the demo city) for this filter
    assert names(engine_client, {"name": {"contains": "a"}})["data"]["bikeStations"]["totalCount"]
    body = names(engine_client, {"name": {"contains": "a\u0000b"}})
    assert refused(body)
    assert "U+0000 (NUL)" in body["errors"][0]["message"]


def test_a_refused_character_in_a_document_literal(engine_client: TestClient) -> None:
    for literal in ('"a\\u0000b"', '"a\\u001bb"', '"a\\u0085b"', '"""a\u0001b"""'):
        query = f"{{ bikeStations(where: {{name: {{contains: {literal}}}}}) {{ totalCount }} }}"
        body = engine_client.post("/graphql", json={"query": query}).json()
        assert refused(body), (literal, body)


def test_a_refused_character_in_an_undeclared_or_nested_variable(
    engine_client: TestClient,
) -> None:
    query = "query Q($w: BikeStationFilter) { bikeStations(where: $w) { totalCount } }"
    for variables in (
        {"w": None, "undeclared": "x\x00"},
        {"w": None, "key\x00": "x"},
        {"w": {"and": [{"not": {"name": {"ne": "\x02"}}}]}},
    ):
        body = engine_client.post("/graphql", json={"query": query, "variables": variables})
        assert refused(body.json()), variables


def test_tab_and_line_breaks_are_text_and_match_alike(engine_client: TestClient) -> None:
    # "Gare\r\nde l'Est" is a seeded name: a filter can find it by its line break
    body = names(engine_client, {"name": {"contains": "\r\nde"}})
    assert [n["name"] for n in body["data"]["bikeStations"]["nodes"]] == ["Gare\r\nde l'Est"]
    assert names(engine_client, {"name": {"contains": "\t"}})["data"]["bikeStations"][
        "totalCount"
    ] == sum("\t" in n for n in STATION_NAMES)


def test_a_cursor_that_hides_a_control_character(engine_client: TestClient) -> None:
    def cursor(value: str) -> str:
        return base64.urlsafe_b64encode(orjson.dumps([value, "S001"])).rstrip(b"=").decode()

    # the same shape without the character is a cursor like any other
    assert "errors" not in names(engine_client, {}, after=cursor("Opéra"))
    for value in ("Zo\x00la", "\x1b[31m"):
        body = names(engine_client, {}, after=cursor(value))
        assert body["data"] == {"bikeStations": None}, value
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


def test_an_export_filter_with_a_control_character(engine_client: TestClient) -> None:
    response = engine_client.get(
        "/export/bikeStations.csv", params={"where": json.dumps({"name": {"contains": "a\x00"}})}
    )
    assert response.status_code == 400
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["BAD_USER_INPUT"]


def test_both_engines_answer_a_battery_the_same(
    sqlite_client: TestClient, postgres_client: TestClient
) -> None:
    lite, pg = sqlite_client, postgres_client
    battery: list[dict[str, Any]] = [
        {"name": {"contains": text}}
        for text in ("a\x00b", "\x00", "a", "\r\n", "\t", "%", "_", "é", "\x7f", "\u200b")
    ] + [{"name": {"gte": "\x00"}}, {"name": {"lt": "Z\x00"}}, {"name": {"eq": "Zola"}}]
    for where in battery:
        assert names(lite, where) == names(pg, where), where


def test_the_token_endpoint_refuses_a_control_character(engine_client: TestClient) -> None:
    for form in (
        {"grant_type": "client_credentials", "client_id": "app\x00", "client_secret": "x"},
        {"grant_type": "client_credentials\x01"},
    ):
        response = engine_client.post(
            "https://testserver/oauth/token",
            content="&".join(f"{k}={v}" for k, v in form.items()).encode(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"
