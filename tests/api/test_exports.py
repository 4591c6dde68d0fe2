"""CSV and GeoJSON exports: the same rows GraphQL returns, every page, with licence and attribution."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import unquote

import httpx2 as httpx
import orjson
import pytest
from starlette.testclient import TestClient

from api.exports.walk import Walk
from schema.city import builtin_specs
from tests.api.conftest import DISTRICTS, STATION_NAMES, MakeClient, bike_stations, city_of

STATIONS_SPEC = next(s for s in builtin_specs() if s.name == "bikeStations")
STATION_COLUMNS = ["id", "name", "capacity", "latitude", "longitude", "districtCode"]
STATIONS = """
query Stations($where: BikeStationFilter, $orderBy: [BikeStationOrderBy!]) {
  bikeStations(where: $where, orderBy: $orderBy, first: 100) {
    nodes { id name capacity latitude longitude districtCode }
  }
}
"""
WITH_DISTRICT = """
{ bikeStations(orderBy: [{field: ID}]) { nodes { id name district { code name } } } }
"""


def graphql_rows(
    client: TestClient, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    response = client.post("/graphql", json={"query": STATIONS, "variables": variables or {}})
    assert "errors" not in response.json(), response.json()
    nodes: list[dict[str, Any]] = response.json()["data"]["bikeStations"]["nodes"]
    return nodes


def as_cells(row: dict[str, Any]) -> dict[str, str]:
    """A GraphQL row as CSV cells: null is empty, numbers as JSON writes them."""
    return {k: "" if v is None else str(v) for k, v in row.items()}


def parse_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


def error_codes(response: httpx.Response) -> list[str]:
    body = response.json()
    assert "data" not in body
    return [e["extensions"]["code"] for e in body["errors"]]


# --- GET /export/{dataset}.csv ------------------------------------------------------------------


def test_csv_parses_back_to_the_rows_graphql_returns(client: TestClient) -> None:
    response = client.get("/export/bikeStations.csv")
    rows = parse_csv(response)
    assert list(rows[0]) == STATION_COLUMNS
    assert rows == [as_cells(r) for r in graphql_rows(client)]
    assert len(rows) == len(STATION_NAMES)


def test_csv_is_rfc_4180(client: TestClient) -> None:
    raw = client.get("/export/bikeStations.csv").content
    assert raw.startswith(b"id,name,capacity,latitude,longitude,districtCode\r\n")
    assert raw.endswith(b"\r\n")
    # a quote is doubled inside a quoted field; a line break stays inside its field
    assert b'"Quai ""Nord"", c\xc3\xb4t\xc3\xa9 Seine"' in raw
    assert b'"Gare\r\nde l\'Est"' in raw
    assert not raw.startswith(b"\xef\xbb\xbf")  # no byte-order mark


def test_csv_headers_carry_licence_and_attribution(client: TestClient) -> None:
    response = client.get("/export/bikeStations.csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8; header=present"
    assert response.headers["content-disposition"] == 'attachment; filename="bikeStations.csv"'
    assert response.headers["link"] == f'<{STATIONS_SPEC.meta.license_url}>; rel="license"'
    assert response.headers["x-license"] == "ODbL-1.0"
    assert unquote(response.headers["x-attribution"]) == STATIONS_SPEC.meta.attribution


def test_csv_walks_every_page(make_client: MakeClient) -> None:
    client = make_client(page_default=2, page_max=3)
    rows = parse_csv(client.get("/export/bikeStations.csv"))
    assert [r["id"] for r in rows] == sorted(s["id"] for s in bike_stations())


def test_where_and_order_by_apply(client: TestClient) -> None:
    where = {"capacity": {"gte": 20}, "districtCode": {"isNull": False}}
    order = [{"field": "CAPACITY", "direction": "DESC"}]
    response = client.get(
        "/export/bikeStations.csv",
        params={"where": orjson.dumps(where).decode(), "orderBy": orjson.dumps(order).decode()},
    )
    rows = parse_csv(response)
    expected = graphql_rows(client, {"where": where, "orderBy": order})
    assert rows == [as_cells(r) for r in expected]
    assert rows
    assert all(int(r["capacity"]) >= 20 and r["districtCode"] for r in rows)
    assert [int(r["capacity"]) for r in rows] == sorted(
        (int(r["capacity"]) for r in rows), reverse=True
    )


def test_public_columns_only_of_a_dataset_with_restricted_fields(client: TestClient) -> None:
    rows = parse_csv(client.get("/export/buildingPermits.csv"))
    assert len(rows) == 3
    assert "applicantName" not in rows[0]
    assert "address" in rows[0]


# --- GET /export/{dataset}.geojson --------------------------------------------------------------


def test_geojson_is_a_feature_collection_of_points(client: TestClient) -> None:
    response = client.get("/export/bikeStations.geojson")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-disposition"] == 'attachment; filename="bikeStations.geojson"'
    collection = orjson.loads(response.content)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(STATION_NAMES)
    by_id = {s["id"]: s for s in bike_stations()}
    for feature in collection["features"]:
        station = by_id[feature["id"]]
        assert feature["type"] == "Feature"
        # RFC 7946: longitude first
        assert feature["geometry"] == {
            "type": "Point",
            "coordinates": [station["longitude"], station["latitude"]],
        }
        assert feature["properties"]["name"] == station["name"]
    meta = collection["properties"]
    assert meta["license"] == "ODbL-1.0"
    assert meta["licenseUrl"] == STATIONS_SPEC.meta.license_url
    assert meta["attribution"] == STATIONS_SPEC.meta.attribution


def test_geojson_of_districts_uses_their_boundaries(client: TestClient) -> None:
    collection = orjson.loads(client.get("/export/districts.geojson").content)
    assert len(collection["features"]) == len(DISTRICTS)
    assert {f["geometry"]["type"] for f in collection["features"]} == {"Polygon"}
    assert "geometry" not in collection["features"][0]["properties"]


def test_geojson_walks_every_page_and_filters(make_client: MakeClient) -> None:
    client = make_client(page_default=2, page_max=2)
    where = orjson.dumps({"districtCode": {"eq": "75101"}}).decode()
    collection = orjson.loads(
        client.get("/export/bikeStations.geojson", params={"where": where}).content
    )
    expected = sorted(s["id"] for s in bike_stations() if s["district_code"] == "75101")
    assert sorted(f["id"] for f in collection["features"]) == expected
    assert len(expected) > 2  # more than one page


def test_geojson_of_a_dataset_without_location_is_refused(client: TestClient) -> None:
    response = client.get("/export/budgetLines.geojson")
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


# --- POST /export -------------------------------------------------------------------------------


def test_a_query_result_is_flattened_to_dotted_columns(client: TestClient) -> None:
    response = client.post("/export?format=csv", json={"query": WITH_DISTRICT})
    rows = parse_csv(response)
    assert list(rows[0]) == ["id", "name", "district.code", "district.name"]
    names = {d["code"]: d["name"] for d in DISTRICTS}
    for row, station in zip(rows, sorted(bike_stations(), key=lambda s: s["id"]), strict=True):
        assert row["id"] == station["id"]
        code = station["district_code"]
        assert row["district.code"] == (code or "")
        assert row["district.name"] == (names[code] if code else "")


def test_a_query_export_follows_aliases_edges_and_fragments(make_client: MakeClient) -> None:
    client = make_client(page_default=2, page_max=3)
    query = """
    query Named($min: Int) {
      list: bikeStations(where: {capacity: {gte: $min}}) { edges { row: node { ...Station } } }
    }
    fragment Station on BikeStation { key: id capacity }
    """
    response = client.post("/export?format=csv", json={"query": query, "variables": {"min": 25}})
    rows = parse_csv(response)
    assert list(rows[0]) == ["key", "capacity"]
    assert [r["key"] for r in rows] == sorted(
        s["id"] for s in bike_stations() if s["capacity"] >= 25
    )


def test_first_bounds_a_query_export(make_client: MakeClient) -> None:
    client = make_client(page_default=2, page_max=3)
    query = "{ bikeStations(first: 4, orderBy: [{field: ID}]) { nodes { id } } }"
    rows = parse_csv(client.post("/export?format=csv", json={"query": query}))
    assert [r["id"] for r in rows] == ["S000", "S001", "S002", "S003"]


def test_a_query_export_as_geojson(client: TestClient) -> None:
    query = '{ bikeStations(where: {name: {contains: "station"}}) { nodes { id name latitude longitude } } }'
    response = client.post("/export?format=geojson", json={"query": query})
    collection = orjson.loads(response.content)
    assert sorted(f["properties"]["name"] for f in collection["features"]) == [
        "a_b station",
        "axb station",
    ]
    assert collection["properties"]["attribution"] == STATIONS_SPEC.meta.attribution


def test_a_query_export_as_geojson_needs_a_location(client: TestClient) -> None:
    response = client.post(
        "/export?format=geojson", json={"query": "{ bikeStations { nodes { id } } }"}
    )
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]
    assert "latitude" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("{ datasets { name } }", id="no connection"),
        pytest.param(
            "{ a: bikeStations { nodes { id } } b: districts { nodes { code } } }", id="two"
        ),
        pytest.param("{ bikeStations(last: 2) { nodes { id } } }", id="backwards"),
        pytest.param("{ bikeStations { totalCount } }", id="no nodes"),
    ],
)
def test_a_query_that_is_not_one_forward_connection_is_refused(
    client: TestClient, query: str
) -> None:
    response = client.post("/export?format=csv", json={"query": query})
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


def test_an_invalid_query_export_is_refused_like_graphql(client: TestClient) -> None:
    unparsable = client.post("/export?format=csv", json={"query": "{ bikeStations {"})
    assert unparsable.status_code == 400
    assert error_codes(unparsable) == ["GRAPHQL_PARSE_FAILED"]
    invalid = client.post("/export?format=csv", json={"query": "{ bikeStatons { nodes { id } } }"})
    assert invalid.status_code == 400
    assert error_codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "did you mean" not in invalid.text.lower()


def test_a_query_export_needs_a_format(client: TestClient) -> None:
    response = client.post("/export?format=xlsx", json={"query": WITH_DISTRICT})
    assert response.status_code == 400
    assert error_codes(response) == ["BAD_REQUEST"]


# --- access -------------------------------------------------------------------------------------


def test_a_restricted_dataset_is_refused_without_data(client: TestClient) -> None:
    for fmt in ("csv", "geojson"):
        response = client.get(f"/export/residents.{fmt}")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert error_codes(response) == ["UNAUTHENTICATED"]
        assert "Curie" not in response.text


def test_a_restricted_field_in_a_query_export_is_refused_without_data(client: TestClient) -> None:
    query = "{ buildingPermits { nodes { id address applicantName } } }"
    response = client.post("/export?format=csv", json={"query": query})
    assert response.status_code == 401
    assert set(error_codes(response)) == {"UNAUTHENTICATED"}
    assert "rue de Rivoli" not in response.text
    assert "Applicant" not in response.text


def test_filtering_on_a_restricted_field_is_refused(client: TestClient) -> None:
    where = orjson.dumps({"applicantName": {"eq": "Applicant 1"}}).decode()
    response = client.get("/export/buildingPermits.csv", params={"where": where})
    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHENTICATED"]


def test_the_catalog_offers_public_exports_only(client: TestClient) -> None:
    catalog = client.get("/catalog.jsonld").json()
    urls = [
        d["dcat:accessURL"]["@id"]
        for entry in catalog["dcat:dataset"]
        for d in entry.get("dcat:distribution", [])
        if "/export/" in d["dcat:accessURL"]["@id"]
    ]
    assert any(u.endswith("/export/bikeStations.geojson") for u in urls)
    for url in urls:
        path = url[url.index("/export/") :]
        assert client.get(path).status_code == 200, path


# --- bounds and bad parameters ------------------------------------------------------------------


def test_an_export_past_the_row_limit_is_refused_clearly(make_client: MakeClient) -> None:
    client = make_client(export_max_rows=5)
    response = client.get("/export/bikeStations.csv")
    assert response.status_code == 400
    assert error_codes(response) == ["EXPORT_TOO_LARGE"]
    error = response.json()["errors"][0]
    assert error["extensions"]["rows"] == len(STATION_NAMES)
    assert error["extensions"]["limit"] == 5
    # narrowed under the limit, it passes
    narrow = orjson.dumps({"districtCode": {"eq": "75101"}}).decode()
    assert len(parse_csv(client.get("/export/bikeStations.csv", params={"where": narrow}))) <= 5


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/export/nope.csv", {}, 404, "NOT_FOUND"),
        ("/export/bikeStations.xlsx", {}, 404, "NOT_FOUND"),
        ("/export/bikeStations.csv", {"filter": "{}"}, 400, "BAD_REQUEST"),
        ("/export/bikeStations.csv", {"where": "{nope"}, 400, "BAD_REQUEST"),
        ("/export/bikeStations.csv", {"where": '{"nam": {"eq": "x"}}'}, 400, "BAD_USER_INPUT"),
        ("/export/bikeStations.csv", {"orderBy": '[{"field": "NOPE"}]'}, 400, "BAD_USER_INPUT"),
    ],
)
def test_bad_export_parameters_are_refused(
    client: TestClient, path: str, params: dict[str, str], status: int, code: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    assert error_codes(response) == [code]
    assert "did you mean" not in response.text.lower()


def test_an_export_that_grows_past_the_limit_is_cut_short_not_truncated(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the export fits when it starts (10 rows, the limit) and grows while it runs
    client = make_client(export_max_rows=len(STATION_NAMES), page_default=2, page_max=4)
    late = [{**bike_stations()[0], "id": f"S9{i:02d}", "name": f"late {i}"} for i in range(3)]
    original, pages = Walk.page, []

    async def page(self: Walk, *args: Any, **kwargs: Any) -> dict[str, Any]:
        pages.append(args)
        if len(pages) == 2:
            await city_of(client).repository("bikeStations").upsert(late)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(Walk, "page", page)
    # the test client re-raises what the server raised; a real client sees an incomplete body
    with pytest.raises(RuntimeError, match="cut short"):
        client.get("/export/bikeStations.csv")
