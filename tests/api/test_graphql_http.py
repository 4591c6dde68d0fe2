"""GraphQL over HTTP: the `graphql-http` conformance audit against the real app, and media types.

The audit runs the npm package's `serverAudits` (tools/node/audit-graphql-http.mjs) against the app
served by uvicorn on a free loopback port; every audit must be "ok", warnings included.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from api.app import create_app
from api.exchange import GRAPHQL_RESPONSE, JSON, negotiate
from api.settings import Environment, Settings
from tests.services import free_port

TYPENAME = {"query": "{ __typename }"}


@pytest.fixture
def served_url(tmp_path: Path) -> Iterator[str]:
    """The app on an empty data dir, served by uvicorn in a thread; its /graphql URL."""
    app = create_app(Settings(data_dir=tmp_path, environment=Environment.TEST))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.slow
def test_graphql_over_http_audit_passes_without_warnings(node_tools: Path, served_url: str) -> None:
    script = node_tools / "audit-graphql-http.mjs"
    run = subprocess.run(
        ["node", str(script), served_url], capture_output=True, text=True, timeout=90, check=False
    )
    results = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    not_ok = [r for r in results if r["status"] != "ok"]
    assert results, run.stderr
    assert not_ok == [], run.stderr
    assert run.returncode == 0, run.stderr


# --- the view's HTTP semantics, in-process ------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        ("text/plain", JSON),
        ("application/json;q=nonsense, " + GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
    ],
)
def test_negotiate(accept: str | None, expected: str) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_the_response_has_the_accepted_media_type(client: TestClient, accept: str) -> None:
    response = client.post("/graphql", json=TYPENAME, headers={"accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == accept
    # Origin too (api.cors): a response to a cross-origin request carries CORS headers
    assert [v.strip() for v in response.headers["vary"].split(",")] == ["Accept", "Origin"]
    assert response.json() == {"data": {"__typename": "Query"}}


def test_a_field_error_keeps_data_and_status_200_with_graphql_response_json(
    client: TestClient,
) -> None:
    # a denied field is an execution error, not a request error: data stays, status 200
    query = "{ bikeStations { totalCount } residents { totalCount } }"
    response = client.post("/graphql", json={"query": query}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"bikeStations": {"totalCount": 10}, "residents": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


def test_get_queries_work(client: TestClient) -> None:
    params = {
        "query": "query Q($n: Int) { bikeStations(first: $n) { nodes { id } } }",
        "variables": '{"n": 2}',
    }
    response = client.get("/graphql", params=params)
    assert response.status_code == 200
    assert response.json() == {
        "data": {"bikeStations": {"nodes": [{"id": "S000"}, {"id": "S001"}]}}
    }


def test_browsers_get_graphiql(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": "text/html,application/xhtml+xml"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def test_get_without_a_query_for_a_program_is_400(client: TestClient) -> None:
    response = client.get("/graphql", headers={"accept": JSON})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
