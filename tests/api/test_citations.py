"""Citable answers over HTTP: cite, change the data, and check the citation still reproduces it.

Given a seeded city whose datasets have their first versions, when a public answer is cited and
the bike stations are then re-imported with rows added, removed and edited, then `/cite/{id}`
re-runs the cited query on the cited versions and gets the same bytes and hash, while the same
query without `asOf` shows the new rows. On SQLite and PostgreSQL; citations survive a restart;
reading one leaves an access record.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from api.citing import CitedRequest, Citer, canonical
from api.settings import Settings
from schema.city import City
from storage.citations import CitationStore, citation_id
from storage.engines import StatementCounter
from storage.versions import parse_version_id
from tests.api.conftest import bike_stations, city_of, on_app_loop
from tests.audit.helpers import audited_client, read_log, settings_for, token

STATIONS = """
query Stations($first: Int) {
  bikeStations(first: $first) {
    totalCount
    pageInfo { endCursor }
    nodes { id name capacity district { code name } }
  }
}
"""
PERMITS = "{ buildingPermits(first: 2) { nodes { id kind } } }"
CATALOG_AND_STATIONS = "{ datasets { name } bikeStations(first: 1) { nodes { id } } }"
VARIABLES = {"first": 100}


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return settings_for(tmp_path)
    return settings_for(tmp_path, database_url=request.getfixturevalue("fresh_postgres_url"))


def changed_stations() -> list[dict[str, Any]]:
    """The seeded stations with the first edited, the second removed, and one added."""
    rows = [dict(r) for r in bike_stations()]
    rows[0]["name"] = "Renamed station"
    removed = rows.pop(1)
    rows.append({**removed, "id": "99999", "name": "Brand-new station"})
    return rows


async def first_versions(city: City) -> None:
    await city.version_unversioned()


async def reimport(city: City) -> None:
    finish = city.versioning("bikeStations", origin="imported", source="test")
    await city.repository("bikeStations").replace_all(changed_stations(), then=finish)
    await city.record_loads({"bikeStations": len(changed_stations())}, origin="imported")


def data_bytes(raw: bytes) -> bytes:
    """The `data` member of a response exactly as it was sent."""
    assert raw.startswith(b'{"data":')
    return raw[len(b'{"data":') : raw.rindex(b',"extensions":')]


def cite(client: TestClient) -> tuple[bytes, dict[str, Any]]:
    response = client.post("/graphql", json={"query": STATIONS, "variables": VARIABLES})
    assert response.status_code == 200
    citation: dict[str, Any] = response.json()["extensions"]["citation"]
    return response.content, citation


def test_a_cited_answer_is_reproduced_byte_for_byte_after_the_data_changed(
    settings: Settings,
) -> None:
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        raw, citation = cite(client)
        assert citation["versions"] == ["bikeStations@1", "districts@1"]
        assert citation["sha256"] == hashlib.sha256(data_bytes(raw)).hexdigest()
        assert citation["url"] == f"{settings.base_url}/cite/{citation['id']}"

        on_app_loop(client, reimport, city)
        now = client.post("/graphql", json={"query": STATIONS, "variables": VARIABLES}).json()
        names = {n["name"] for n in now["data"]["bikeStations"]["nodes"]}
        assert "Brand-new station" in names
        assert "Renamed station" in names
        assert now["extensions"]["citation"]["versions"] == ["bikeStations@2", "districts@1"]

        shown = client.get(f"/cite/{citation['id']}")
        assert shown.status_code == 200
        body = shown.json()
        assert body["rerun"]["matches"] is True
        assert body["rerun"]["sha256"] == citation["sha256"]
        assert orjson.dumps(body["rerun"]["data"]) == data_bytes(raw)  # byte for byte
        assert (body["query"], body["variables"]) == (STATIONS, VARIABLES)
        stations = next(v for v in body["versions"] if v["dataset"] == "bikeStations")
        assert stations["id"] == "bikeStations@1"
        assert stations["rowCount"] == len(bike_stations())
        spec = city.catalog.by_name("bikeStations").meta
        assert (stations["license"], stations["licenseUrl"]) == (spec.license, spec.license_url)
        assert stations["attribution"] == spec.attribution
        assert shown.headers["link"] == f'<{citation["url"]}>; rel="cite-as"'

        page = client.get(f"/cite/{citation['id']}", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "The answer is unchanged" in page.text
        assert "bikeStations@1" in page.text


def test_each_answer_has_the_id_of_its_own_facts(settings: Settings) -> None:
    """What a request shares with its earlier citations is remembered, never an answer's id:
    again, with other variables, and after a load, each id is `citation_id` of its facts."""
    uncached = settings.model_copy(update={"cache_enabled": False})
    with audited_client(uncached) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        ids = []
        for variables, load in ((VARIABLES, False), ({"first": 2}, False), (VARIABLES, True)):
            if load:
                on_app_loop(client, reimport, city)
            for _ in range(2):  # a first answer, then the same again (by the compiled lane)
                response = client.post("/graphql", json={"query": STATIONS, "variables": variables})
                citation = response.json()["extensions"]["citation"]
                versions = dict(filter(None, map(parse_version_id, citation["versions"])))
                assert (
                    citation["sha256"] == hashlib.sha256(data_bytes(response.content)).hexdigest()
                )
                assert citation["id"] == citation_id(
                    document=STATIONS,
                    operation_name=None,
                    variables=variables,
                    versions=versions,
                    answer_sha256=citation["sha256"],
                )
                ids.append(citation["id"])
        assert ids[0] == ids[1] != ids[2] == ids[3] != ids[4] == ids[5] != ids[0]


def test_a_citer_remembers_the_requests_it_cited_lately(tmp_path: Path) -> None:
    with audited_client(settings_for(tmp_path)) as client:
        city = city_of(client)
        store = CitationStore(city.repository("bikeStations").engine)
        citer = Citer(city, store, base_url="https://city.test", remembered=2)

        def cited(first: int) -> CitedRequest:
            return citer.cited(
                document=STATIONS,
                operation_name=None,
                variables={"first": first},
                versions={"districts": 1, "bikeStations": 2},
            )

        one = cited(1)
        assert one.version_ids == ("bikeStations@2", "districts@1")
        cited(2)
        assert cited(1) is one  # the latest used, so 2 is forgotten next
        three = cited(3)
        assert cited(1) is one
        assert cited(3) is three
        cited(2)  # 1 is now the least lately used: forgotten
        assert cited(1) is not one
        answer = hashlib.sha256(b"an answer").hexdigest()
        assert cited(1).facts.id_of(answer) == one.facts.id_of(answer)

        def large() -> CitedRequest:
            variables = {"first": 1, "note": "x" * 10_000}
            return citer.cited(
                document=STATIONS, operation_name=None, variables=variables, versions={}
            )

        two = cited(2)
        cited(1)  # 2 is the least lately used
        assert large() is not large()  # too large to be remembered, so 2 is not forgotten
        assert cited(2) is two


def test_verify_says_whether_a_saved_answer_is_the_cited_one(settings: Settings) -> None:
    with audited_client(settings) as client:
        on_app_loop(client, first_versions, city_of(client))
        raw, citation = cite(client)
        saved = orjson.loads(raw)
        assert client.post("/cite/verify", json=saved).json()["matches"] is True
        saved["data"]["bikeStations"]["nodes"][0]["capacity"] += 1
        checked = client.post("/cite/verify", json=saved).json()
        assert checked["matches"] is False
        assert checked["citedSha256"] == citation["sha256"]
        # by URL, as a reader who kept the link and the data would send it
        by_url = {"citation": citation["url"], "data": orjson.loads(raw)["data"]}
        assert client.post("/cite/verify", json=by_url).json()["matches"] is True
        refused = client.post("/cite/verify", json={"data": {}})
        assert refused.status_code == 400
        unknown = client.post("/cite/verify", json={"citation": "a" * 26, "data": {}})
        assert unknown.status_code == 404
        assert client.get("/cite/not-an-id").status_code == 404


def test_only_public_answers_of_versioned_datasets_are_cited(settings: Settings) -> None:
    with audited_client(settings) as client:
        on_app_loop(client, first_versions, city_of(client))
        # building permits hold personal data in some columns: no history, no citation
        permits = client.post("/graphql", json={"query": PERMITS}).json()
        assert permits["data"]["buildingPermits"]["nodes"]
        assert "citation" not in permits.get("extensions", {})
        # the catalog's load times are not versioned
        mixed = client.post("/graphql", json={"query": CATALOG_AND_STATIONS}).json()
        assert "citation" not in mixed.get("extensions", {})
        # a staff member's restricted read is never cited
        staff = {
            "Authorization": f"Bearer {token(settings.data_dir, ['registry:read'])}",
            "Citygraph-Purpose": "legal-basis=CGCT-L2122-32; case=EC-2026-118",
        }
        residents = (
            "{ residents(first: 1) { nodes { id } } bikeStations(first: 1) { nodes { id } } }"
        )
        restricted = client.post("/graphql", json={"query": residents}, headers=staff).json()
        assert restricted["data"]["residents"]["nodes"]
        assert "citation" not in restricted.get("extensions", {})
        # an answer with an error is not cited either
        broken = client.post("/graphql", json={"query": STATIONS, "variables": {"first": -1}})
        assert "citation" not in broken.json().get("extensions", {})


def test_citations_survive_a_restart_and_reading_one_is_audited(settings: Settings) -> None:
    with audited_client(settings) as client:
        on_app_loop(client, first_versions, city_of(client))
        _, citation = cite(client)
    with audited_client(settings) as client:
        shown = client.get(f"/cite/{citation['id']}", headers={"X-Request-Id": "cite-1"})
        assert shown.json()["rerun"]["matches"] is True
    [record] = [r for r in read_log(settings) if r["request_id"] == "cite-1"]
    assert (record["outcome"], record["status"]) == ("served", 200)
    assert record["datasets"] == ["bikeStations", "districts"]
    assert record["restricted"] is False


def test_an_export_carries_its_citation_and_the_citation_walks_it_again(
    settings: Settings,
) -> None:
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        csv_file = client.get("/export/bikeStations.csv")
        assert csv_file.status_code == 200
        url = csv_file.headers["x-citation"]
        assert f'<{url}>; rel="cite-as"' in csv_file.headers["link"]
        assert f'<{url}>; rel="describedby"' in csv_file.headers["link"]  # the CSV's sidecar
        geojson = client.get("/export/bikeStations.geojson")
        properties = geojson.json()["properties"]
        assert properties["citation"] == geojson.headers["x-citation"]
        assert properties["versions"] == ["bikeStations@1"]

        on_app_loop(client, reimport, city)
        shown = client.get(url.removeprefix(settings.base_url)).json()
        assert shown["export"] == "csv"
        assert shown["answerSha256"] is not None  # stored once the last row was sent
        assert shown["rerun"] == {
            "sha256": shown["answerSha256"],
            "matches": True,
            "rows": len(bike_stations()),
        }
        # the same export now reads the new version, and is another citation
        again = client.get("/export/bikeStations.csv")
        assert again.headers["x-citation"] != url
        assert "Brand-new station" in again.text


def test_an_answer_read_as_of_a_version_is_cited_with_it(settings: Settings) -> None:
    query = """
    query ($asOf: String) {
      past: bikeStations(asOf: $asOf, first: 3) { pageInfo { endCursor } nodes { id name } }
      now: districts(first: 2) { nodes { code name } }
    }
    """
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        on_app_loop(client, reimport, city)
        variables = {"asOf": "bikeStations@1"}
        answer = client.post("/graphql", json={"query": query, "variables": variables})
        citation = answer.json()["extensions"]["citation"]
        assert citation["versions"] == ["bikeStations@1", "districts@1"]
        assert answer.json()["data"]["past"]["pageInfo"]["endCursor"].endswith(".1")
        shown = client.get(f"/cite/{citation['id']}").json()
        assert shown["rerun"]["matches"] is True
        assert orjson.dumps(shown["rerun"]["data"]) == data_bytes(answer.content)


def test_a_compiled_answer_is_cited_from_its_own_statement(settings: Settings) -> None:
    """The compiled statement reads the versions beside the rows, in one snapshot: a cited
    answer costs no statement after it to learn which versions its live rows were."""
    uncached = settings.model_copy(update={"cache_enabled": False})
    with audited_client(uncached) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        cite(client)  # the first: its citation is stored
        with StatementCounter(city.databases.engines()) as counted:
            _raw, citation = cite(client)
        versions = [s for s in counted.statements if "citygraph_version" in s]
        assert len(versions) == 1
        assert "bike_station" in versions[0]  # read by the answer's own statement
        assert citation["versions"] == ["bikeStations@1", "districts@1"]


AREAS = "{ districts(first: 3) { nodes { code areaM2 } } }"


def test_integral_floats_are_cited_alike_by_both_paths(settings: Settings) -> None:
    """A district's area is a float with an integral value (1e6): PostgreSQL's compiled answer
    writes `1000000`, today's path (the re-run) `1000000.0`; the canonical form is `1000000`."""
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        response = client.post("/graphql", json={"query": AREAS})
        citation = response.json()["extensions"]["citation"]
        sent = data_bytes(response.content)
        assert b'"areaM2":1000000}' in sent
        assert citation["sha256"] == hashlib.sha256(sent).hexdigest()
        shown = client.get(f"/cite/{citation['id']}").json()
        assert shown["rerun"]["matches"] is True
        assert orjson.dumps(shown["rerun"]["data"]) == sent


def test_the_canonical_form_writes_integral_floats_as_integers() -> None:
    spaced = orjson.Fragment(b'{"nodes" : [{"a" : 2, "b" : 1.5}]}')
    assert canonical({"x": spaced, "y": [2.0, -3.0, 0.5, 1e16, "v1.0,"]}) == (
        b'{"x":{"nodes":[{"a":2,"b":1.5}]},"y":[2,-3,0.5,1e+16,"v1.0,"]}'
    )
    assert canonical({"y": [1, 2.25, "text"]}) == b'{"y":[1,2.25,"text"]}'


def test_a_citation_is_re_run_by_the_compiled_path(settings: Settings) -> None:
    """`/cite/{id}` re-runs a compiled answer the way it was answered: one statement reads the
    stations, their count and their districts at the cited versions."""
    with audited_client(settings) as client:
        city = city_of(client)
        on_app_loop(client, first_versions, city)
        _raw, citation = cite(client)
        with StatementCounter(city.databases.engines()) as counted:
            shown = client.get(f"/cite/{citation['id']}").json()
        assert shown["rerun"]["matches"] is True
        # the citation and its versions are read first; then the data, in one statement (today's
        # path reads the stations, then their districts through a loader)
        data = [s for s in counted.statements if "bike_station" in s or "district" in s]
        assert len(data) == 1, data
        assert "bike_station" in data[0]
        assert "district" in data[0]
