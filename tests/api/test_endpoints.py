"""The other endpoints: the SDL, the DCAT catalog, liveness and readiness, and tables at start-up."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from api.app import READY_TIMEOUT_S, create_app
from api.databases import DatabaseBehind
from api.settings import Environment, Settings
from schema.city import builtin_specs
from storage.revisions import lineage
from tests import services

UNREACHABLE_POSTGRES = "postgresql+asyncpg://citygraph@127.0.0.1:1/citygraph"


def test_schema_sdl(client: TestClient) -> None:
    response = client.get("/schema.graphql")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql")
    sdl = response.text
    assert "type Query" in sdl
    assert "bikeStations(" in sdl
    # restricted fields say what they need
    assert '@requiresScopes(scopes: [["registry:read"]])' in sdl
    assert sdl.endswith("\n")


def test_catalog_jsonld_lists_every_dataset_with_licences(client: TestClient) -> None:
    response = client.get("/catalog.jsonld")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/ld+json"
    catalog = response.json()
    assert catalog["@type"] == "dcat:Catalog"
    assert "dcat" in catalog["@context"]
    entries = {d["dct:identifier"]: d for d in catalog["dcat:dataset"]}
    assert set(entries) == {s.name for s in builtin_specs()}  # restricted ones are listed too
    assert "dcat:distribution" not in entries["residents"]
    stations = entries["bikeStations"]
    licences = {d["dct:license"]["@id"] for d in stations["dcat:distribution"]}
    assert licences == {"http://publications.europa.eu/resource/authority/licence/ODC_BL"}
    assert "Vélib'" in stations["dct:rights"]["rdfs:label"]


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_when_every_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_when_a_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environment=Environment.TEST,
        database_urls={"registry": UNREACHABLE_POSTGRES},
    )
    # the app still starts (its other departments can serve) and says it is not ready
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "failing": ["postgresql"]}
        public = client.post("/graphql", json={"query": "{ bikeStations { totalCount } }"})
        assert public.json() == {"data": {"bikeStations": {"totalCount": 0}}}


def test_development_creates_missing_tables(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, environment=Environment.DEVELOPMENT)
    with TestClient(create_app(settings)) as client:
        response = client.post("/graphql", json={"query": "{ districts { totalCount } }"})
    assert response.json() == {"data": {"districts": {"totalCount": 0}}}


@pytest.mark.postgres
def test_production_refuses_an_unmigrated_database_and_makes_no_table(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path, environment=Environment.PRODUCTION, database_url=fresh_postgres_url
    )
    missing = ", ".join(script.revision for script in lineage("registry"))  # every one, in order
    behind = rf"registry \({re.escape(missing)}\).*run `citygraph migrate`"
    with pytest.raises(DatabaseBehind, match=behind), TestClient(create_app(settings)):
        pass
    with psycopg.connect(services.libpq_url(fresh_postgres_url), connect_timeout=3) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)
    development = settings.model_copy(update={"environment": Environment.DEVELOPMENT})
    with TestClient(create_app(development)):
        pass  # migrates
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_readyz_does_not_hang_on_a_frozen_database(
    tmp_path: Path, spawned_postgres: services.SpawnedServer
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        environment=Environment.TEST,
        database_urls={"registry": spawned_postgres.url},
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        spawned_postgres.freeze()
        try:
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
        finally:
            spawned_postgres.thaw()
    assert response.status_code == 503
    assert response.json()["failing"] == ["postgresql"]
    assert elapsed < READY_TIMEOUT_S + 1.5
