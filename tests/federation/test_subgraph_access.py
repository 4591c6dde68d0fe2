"""A subgraph guards itself: `_entities`, `_service` and introspection sent straight to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.settings import Environment, Settings
from api.subgraph import ROUTER_HEADER, create_subgraph_app
from auth.keys import KeyStore
from auth.server import sign_access_token
from schema.city import City
from tests.api.conftest import RESIDENTS, city_of, on_app_loop, seed

BASE = "http://127.0.0.1:8000"
SECRET = "router-only"
PURPOSE = {"Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=EC-2026-118"}
RESIDENT = str(RESIDENTS[0]["id"])

ENTITIES = """query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Resident { id givenName familyName birthDate }
  }
}"""


async def seed_with_tables(city: City) -> None:
    await city.migrate()  # a subgraph leaves its tables to the one-process app or migrations
    await seed(city)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, environment=Environment.TEST, public_url=BASE)
    app = create_subgraph_app(settings, "registry", router_secret=SECRET)
    with TestClient(app, base_url=BASE) as client:
        on_app_loop(client, seed_with_tables, city_of(client))
        yield client


def staff_token(tmp_path: Path, *scopes: str) -> str:
    return sign_access_token(
        keys=KeyStore(tmp_path / "keys").signing_keys(),
        issuer=BASE,
        audience=BASE,
        subject="agent-7",
        client_id="citygraph-dev",
        scopes=scopes,
        lifetime_s=600,
    )


def entities(client: TestClient, ids: list[str], **headers: str) -> Any:
    representations = [{"__typename": "Resident", "id": i} for i in ids]
    return client.post(
        "/graphql",
        json={"query": ENTITIES, "variables": {"representations": representations}},
        headers=headers,
    ).json()


def codes(body: Any) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


def test_entities_without_a_token_get_no_restricted_value(registry: TestClient) -> None:
    body = entities(registry, [RESIDENT])
    assert body["data"]["_entities"] == [
        {"id": None, "givenName": None, "familyName": None, "birthDate": None}
    ]
    assert codes(body) == {"UNAUTHENTICATED"}


def test_entities_are_no_oracle_of_who_exists(registry: TestClient) -> None:
    known, unknown = entities(registry, [RESIDENT]), entities(registry, ["R404"])
    assert known["data"] == unknown["data"]
    assert codes(known) == codes(unknown)


def test_entities_with_the_scope_and_a_purpose_are_served(
    registry: TestClient, tmp_path: Path
) -> None:
    token = staff_token(tmp_path, "registry:read")
    body = entities(registry, [RESIDENT], Authorization=f"Bearer {token}", **PURPOSE)
    assert "errors" not in body
    assert body["data"]["_entities"][0]["familyName"] == RESIDENTS[0]["family_name"]
    without_purpose = entities(registry, [RESIDENT], Authorization=f"Bearer {token}")
    assert codes(without_purpose) == {"PURPOSE_REQUIRED"}
    assert without_purpose["data"]["_entities"][0]["familyName"] is None


def test_a_token_of_another_department_reads_nothing(registry: TestClient, tmp_path: Path) -> None:
    token = staff_token(tmp_path, "social:read")
    body = entities(registry, [RESIDENT], Authorization=f"Bearer {token}", **PURPOSE)
    assert body["data"]["_entities"][0]["familyName"] is None
    assert codes(body) == {"FORBIDDEN"}


def test_a_forged_token_is_refused_by_the_subgraph_itself(registry: TestClient) -> None:
    response = registry.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer forged"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "{ _service { sdl } }",
        "{ __schema { types { name } } }",
        '{ __type(name: "Resident") { name } }',
    ],
)
def test_the_subgraph_describes_itself_to_the_router_only(registry: TestClient, query: str) -> None:
    refused = registry.post("/graphql", json={"query": query}).json()
    assert refused["data"] is None
    assert codes(refused) == {"FORBIDDEN"}
    served = registry.post("/graphql", json={"query": query}, headers={ROUTER_HEADER: SECRET})
    assert "errors" not in served.json()
    assert registry.get("/schema.graphql").status_code == 403


def test_the_router_reads_the_sdl(registry: TestClient) -> None:
    sdl = registry.post(
        "/graphql", json={"query": "{ _service { sdl } }"}, headers={ROUTER_HEADER: SECRET}
    ).json()["data"]["_service"]["sdl"]
    assert '@key(fields: "id")' in sdl
    assert "@requiresScopes" in sdl
