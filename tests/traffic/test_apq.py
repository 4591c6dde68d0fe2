"""Automatic persisted queries (Apollo's protocol) and the allow-list of registered documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.traffic.conftest import MakeApp

QUERY = "{ bikeStations(first: 2) { nodes { id } } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()
EXT = {"persistedQuery": {"version": 1, "sha256Hash": HASH}}


def codes(response: Any) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def test_apollo_flow_hash_miss_then_register_then_hash_only(
    make_app: MakeApp, redis_url: str
) -> None:
    client = make_app(redis_url=redis_url)
    miss = client.post("/graphql", json={"extensions": EXT})
    assert miss.status_code == 200
    assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert codes(miss) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert "no-cache" in miss.headers["cache-control"]

    registered = client.post("/graphql", json={"query": QUERY, "extensions": EXT})
    assert registered.json()["data"]["bikeStations"]["nodes"]

    by_hash = client.post("/graphql", json={"extensions": EXT})
    assert by_hash.json() == registered.json()
    # GET with the hash only: what a CDN can cache
    params = {"extensions": json.dumps(EXT)}
    got = client.get("/graphql", params=params)
    assert got.json() == registered.json()
    assert got.headers["cache-control"].startswith("public")


def test_another_process_knows_the_document_through_redis(
    make_app: MakeApp, redis_url: str
) -> None:
    one = make_app(redis_url=redis_url)
    other = make_app(redis_url=redis_url)
    one.post("/graphql", json={"query": QUERY, "extensions": EXT})
    assert "data" in other.post("/graphql", json={"extensions": EXT}).json()


def test_a_hash_that_is_not_the_documents_is_refused(make_app: MakeApp) -> None:
    client = make_app()
    wrong = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    response = client.post("/graphql", json={"query": QUERY, "extensions": wrong})
    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    # and nothing was stored under it
    assert codes(client.post("/graphql", json={"extensions": wrong})) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]


def test_a_malformed_persisted_query_extension_is_a_bad_request(make_app: MakeApp) -> None:
    client = make_app()
    for bad in ("abc", {"version": 2, "sha256Hash": HASH}, {"version": 1, "sha256Hash": 7}):
        response = client.post("/graphql", json={"extensions": {"persistedQuery": bad}})
        assert response.status_code == 400
        assert codes(response) == ["BAD_REQUEST"]


def test_without_apq_a_hash_alone_is_never_found(make_app: MakeApp) -> None:
    client = make_app(apq_enabled=False)
    client.post("/graphql", json={"query": QUERY, "extensions": EXT})
    assert codes(client.post("/graphql", json={"extensions": EXT})) == ["PERSISTED_QUERY_NOT_FOUND"]


def _manifest(path: Path, *documents: str) -> Path:
    operations = [
        {"id": hashlib.sha256(d.encode()).hexdigest(), "name": f"Op{i}", "type": "query", "body": d}
        for i, d in enumerate(documents)
    ]
    path.write_bytes(
        orjson.dumps(
            {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
        )
    )
    return path


def _app_token(client: Any) -> tuple[str, str]:
    """A self-registered app's client id and access token."""
    registered = client.post(
        "/oauth/register", json={"client_name": "Mairie", "scope": "open-data"}
    )
    assert registered.status_code == 201, registered.text
    creds = registered.json()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "open-data"},
        auth=(creds["client_id"], creds["client_secret"]),
    )
    return creds["client_id"], token.json()["access_token"]


def test_allow_listed_clients_run_registered_documents_only(
    make_app: MakeApp, tmp_path: Path
) -> None:
    data_dir = tmp_path / "city"
    client_id, token = _app_token(make_app(data_dir=data_dir))
    manifest = _manifest(tmp_path / "manifest.json", QUERY)
    # the same city restarted with the client in allow-list mode
    client = make_app(
        data_dir=data_dir, seeded=False, allowlist_manifest=manifest, allowlist_clients=[client_id]
    )
    auth = {"Authorization": f"Bearer {token}"}
    other = "{ districts { totalCount } }"
    refused = client.post("/graphql", json={"query": other}, headers=auth)
    assert refused.status_code == 403
    assert codes(refused) == ["PERSISTED_QUERY_NOT_ALLOWED"]
    # a registered document runs, sent whole or by hash alone (never sent before)
    assert "data" in client.post("/graphql", json={"extensions": EXT}, headers=auth).json()
    assert "data" in client.post("/graphql", json={"query": QUERY}, headers=auth).json()
    # callers not in allow-list mode run anything
    assert "data" in client.post("/graphql", json={"query": other}).json()


def test_a_manifest_whose_ids_lie_stops_the_boot(make_app: MakeApp, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(
        orjson.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": "0" * 64, "name": "Op", "type": "query", "body": QUERY}],
            }
        )
    )
    with pytest.raises(ValueError, match="not its SHA-256"):
        make_app(allowlist_manifest=path)
