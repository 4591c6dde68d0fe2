"""Every export request leaves exactly one access record; a restricted one is committed before it is sent."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.api.conftest import RESIDENTS, STATION_NAMES, city_of, on_app_loop
from tests.api.test_endpoints import UNREACHABLE_POSTGRES
from tests.audit.helpers import PURPOSE, audited_client, read_log, settings_for, token, verify_log

STATIONS_GEO = (
    "query Stations { bikeStations { nodes { id latitude longitude district { name } } } }"
)
MORE_RESIDENTS = [
    {**RESIDENTS[0], "id": f"R{n}", "given_name": f"Person {n}", "birth_date": date(1970, 1, n)}
    for n in (2, 3)
]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def codes(response: Any) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


def staff_headers(data_dir: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(data_dir, ['registry:read'])}", **PURPOSE}


def spooled(data_dir: Path) -> list[dict[str, Any]]:
    """The records waiting in the spool, in the order they were written."""
    segments = sorted((data_dir / "audit" / "spool").rglob("*.jsonl"))
    return [orjson.loads(line) for s in segments for line in s.read_bytes().splitlines()]


def test_a_csv_export_leaves_one_record_however_many_pages(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, page_max=3, page_default=3)
    with audited_client(settings) as client:
        response = client.get("/export/bikeStations.csv", headers={"X-Request-Id": "export-1"})
        assert response.status_code == 200
        assert len(csv_rows(response.text)) == len(STATION_NAMES)  # four pages
    [record] = read_log(settings)
    assert record["request_id"] == "export-1"
    assert (record["outcome"], record["status"], record["error_codes"]) == ("served", 200, [])
    assert record["datasets"] == ["bikeStations"]
    assert record["departments"] == ["mobility"]
    assert record["operation"] == "Export"
    assert record["tier"] == "anonymous"
    assert record["pseudonym"].startswith("p:")
    assert record["restricted"] is False
    assert record["latency_ms"] > 0


def test_a_geojson_query_export_leaves_one_record(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, page_max=3, page_default=3)
    with audited_client(settings) as client:
        response = client.post("/export?format=geojson", json={"query": STATIONS_GEO})
        assert response.status_code == 200
        assert len(response.json()["features"]) == len(STATION_NAMES)
    [record] = read_log(settings)
    assert record["outcome"] == "served"
    assert record["operation"] == "Stations"
    assert record["datasets"] == ["bikeStations", "districts"]
    assert record["departments"] == ["mobility", "territory"]
    assert record["document_hash"] is not None


REFUSALS = [
    # method, url, body, status, codes, outcome
    ("GET", "/export/nowhere.csv", None, 404, ["NOT_FOUND"], "failed"),
    ("GET", "/export/bikeStations.csv?limit=3", None, 400, ["BAD_REQUEST"], "failed"),
    ("GET", "/export/bikeStations.csv?where={", None, 400, ["BAD_REQUEST"], "failed"),
    ("POST", "/export?format=csv", {"query": "{ nope }"}, 400, ["GRAPHQL_VALIDATION_FAILED"], "failed"),
    ("POST", "/export?format=geojson", {"query": "{ budgetLines { nodes { id } } }"}, 400, ["BAD_REQUEST"], "failed"),
    ("GET", "/export/residents.csv", None, 401, ["UNAUTHENTICATED"], "denied"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "body", "status", "error_codes", "outcome"), REFUSALS)
def test_a_refused_export_leaves_one_record_with_its_code(
    tmp_path: Path,
    method: str,
    url: str,
    body: Any,
    status: int,
    error_codes: list[str],
    outcome: str,
) -> None:
    settings = settings_for(tmp_path)
    with audited_client(settings) as client:
        response = client.request(method, url, json=body)
        assert response.status_code == status
        assert codes(response) == error_codes
    [record] = read_log(settings)
    assert (record["status"], record["error_codes"], record["outcome"]) == (
        status,
        error_codes,
        outcome,
    )
    assert record["restricted"] is False
    assert record["request_id"]  # a fresh one when the client sent none


def test_an_export_with_a_bad_token_is_recorded_as_denied(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with audited_client(settings) as client:
        response = client.get("/export/bikeStations.csv", headers={"Authorization": "Bearer no"})
        assert response.status_code == 401
    [record] = read_log(settings)
    assert (record["outcome"], record["error_codes"]) == ("denied", ["UNAUTHENTICATED"])


def test_a_restricted_export_is_committed_before_it_is_sent(tmp_path: Path) -> None:
    # no batch flush meanwhile: before shutdown, only committed records are in the log
    settings = settings_for(tmp_path, audit_flush_interval_s=60, page_max=2, page_default=2)
    with audited_client(settings) as client:
        on_app_loop(client, city_of(client).repository("residents").upsert, MORE_RESIDENTS)
        response = client.get("/export/residents.csv", headers=staff_headers(tmp_path))
        assert response.status_code == 200
        assert [r["id"] for r in csv_rows(response.text)] == ["R1", "R2", "R3"]  # two pages
        [record] = read_log(settings)
        assert record["restricted"] is True
        assert record["subjects"] == ["R1", "R2", "R3"]  # every page's, not the first one's
        assert "Resident.familyName" in record["fields"]
        assert record["datasets"] == ["residents"]
        assert (record["legal_basis"], record["case_reference"]) == ("CGCT-L2122-32", "EC-2026-118")
        assert (record["outcome"], record["subject"]) == ("served", "agent-7")
        assert client.get("/export/bikeStations.csv").status_code == 200
        assert len(read_log(settings)) == 1  # a public export's record waits in the spool
    assert [r["restricted"] for r in read_log(settings)] == [True, False]
    report = verify_log(settings)
    assert report.ok, report.problems()


def test_a_restricted_export_is_refused_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_urls={"audit": UNREACHABLE_POSTGRES})
    with audited_client(settings) as client:
        refused = client.get("/export/residents.csv", headers=staff_headers(tmp_path))
        assert refused.status_code == 503
        assert codes(refused) == ["AUDIT_UNAVAILABLE"]
        assert "Curie" not in refused.text
        public = client.get("/export/bikeStations.csv")
        assert public.status_code == 200  # public exports do not wait for the log
    records = spooled(tmp_path)
    assert [(r["outcome"], r["error_codes"], r["restricted"]) for r in records] == [
        ("denied", ["AUDIT_UNAVAILABLE"], False),
        ("served", [], False),
    ]
    assert records[0]["subjects"] == []  # nothing was served
