"""Auditors and citizens read the access log through the real app's /graphql (DESIGN section 4).

Each test starts an audited app (its log on SQLite, then on PostgreSQL) where staff have already
read residents R1 and R2; requests carry an `X-Request-Id`, so the records they leave are known
by name. Restricted reads, the log's own reads included, are committed before their response, so
they can be searched at once; public and denied requests are flushed in batches (`eventually`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import RESIDENTS, city_of, on_app_loop, seed
from tests.audit.helpers import BASE, PURPOSE, codes, eventually, read_log, settings_for, token

LOG_Q = """query AuditLog($where: AccessLogFilter, $first: Int! = 50, $after: String) {
  accessLog(where: $where, first: $first, after: $after) {
    nodes { requestId at tier subject clientId datasets departments subjects fields
            restricted legalBasis caseReference outcome errorCodes }
    endCursor hasNextPage } }"""
COUNTS_Q = """query AuditCounts($by: AccessGrouping!, $where: AccessLogFilter) {
  accessLogCounts(by: $by, where: $where) { key count } }"""
HISTORY_Q = """query MyHistory($first: Int! = 50, $after: String) {
  myAccessHistory(first: $first, after: $after) {
    nodes { at departments purpose datasets } endCursor hasNextPage } }"""
ONE_RESIDENT = "query StaffOne($id: String!) { resident(id: $id) { id familyName } }"
ALL_RESIDENTS = "query StaffAll { residents { nodes { id familyName } } }"
STATIONS = "query Stations { bikeStations(first: 2) { nodes { id } } }"

SECOND = {
    **RESIDENTS[0],
    "id": "R2",
    "given_name": "Paul",
    "family_name": "Langevin",
    "household_id": "H2",
}
STAFF_READS = ["staff-r1", "staff-r2", "staff-all"]
"""The staff's served reads of residents, oldest first."""


@dataclass
class Scene:
    """An audited app after the staff's reads, and a token for each tier."""

    client: TestClient
    settings: Settings
    started: datetime
    staff: str
    auditor: str
    citizen_r1: str
    citizen_r2: str

    def ask(
        self, query: str, tok: str | None = None, request_id: str | None = None, **variables: Any
    ) -> Any:
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        if request_id:
            headers["X-Request-Id"] = request_id
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response

    def log(self, request_id: str | None = None, **variables: Any) -> Any:
        """The auditor's `accessLog` page (asserted served), as a dict."""
        response = self.ask(LOG_Q, self.auditor, request_id, **variables)
        assert "errors" not in response.json(), response.text
        return response.json()["data"]["accessLog"]

    def app_token(self) -> str:
        """An app's client-credentials token, through the built-in server's endpoints."""
        registered = self.client.post(
            "/oauth/register", json={"client_name": "Vélo", "scope": "open-data"}
        )
        assert registered.status_code == 201, registered.text
        credentials = registered.json()
        issued = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "open-data"},
            auth=(credentials["client_id"], credentials["client_secret"]),
        )
        assert issued.status_code == 200, issued.text
        access: str = issued.json()["access_token"]
        return access


def ids(page: dict[str, Any]) -> list[str]:
    return [node["requestId"] for node in page["nodes"]]


@pytest.fixture(params=["sqlite", "postgres"])
def scene(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scene]:
    """The log on the city's SQLite file, or in a PostgreSQL database of its own."""
    urls = (
        {}
        if request.param == "sqlite"
        else {"audit": request.getfixturevalue("fresh_postgres_url")}
    )
    settings = settings_for(tmp_path, database_urls=urls)
    # a loopback client: the token endpoint serves plain HTTP only there
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(
            TestClient(create_app(settings), base_url=BASE, client=("127.0.0.1", 50000))
        )
        on_app_loop(client, seed, city_of(client))
        on_app_loop(client, city_of(client).repository("residents").upsert, [SECOND])
        s = Scene(
            client=client,
            settings=settings,
            started=datetime.now(UTC),
            staff=token(tmp_path, ["registry:read"]),
            auditor=token(tmp_path, ["audit:read"], subject="dpo-1"),
            citizen_r1=token(tmp_path, ["self"], subject="marie", resident_id="R1"),
            citizen_r2=token(tmp_path, ["self"], subject="paul", resident_id="R2"),
        )
        for request_id, resident in (("staff-r1", "R1"), ("staff-r2", "R2")):
            with_purpose = s.client.post(
                "/graphql",
                json={"query": ONE_RESIDENT, "variables": {"id": resident}},
                headers={
                    "Authorization": f"Bearer {s.staff}",
                    "X-Request-Id": request_id,
                    **PURPOSE,
                },
            )
            assert with_purpose.json()["data"]["resident"]["id"] == resident
        every = s.client.post(
            "/graphql",
            json={"query": ALL_RESIDENTS},
            headers={"Authorization": f"Bearer {s.staff}", "X-Request-Id": "staff-all", **PURPOSE},
        )
        assert len(every.json()["data"]["residents"]["nodes"]) == 2
        own = s.ask(ALL_RESIDENTS, s.citizen_r1, "marie-own")
        assert [r["id"] for r in own.json()["data"]["residents"]["nodes"]] == ["R1"]
        assert codes(s.ask(ONE_RESIDENT, s.staff, "no-purpose", id="R1")) == ["PURPOSE_REQUIRED"]
        s.ask(STATIONS, None, "anonymous-public")
        yield s


def test_an_auditor_pages_through_the_log_newest_first(scene: Scene) -> None:
    residents = {"dataset": "residents", "outcome": "served"}
    first = scene.log(where=residents, first=2)
    assert ids(first) == ["marie-own", "staff-all"]
    assert first["hasNextPage"] is True
    second = scene.log(where=residents, first=2, after=first["endCursor"])
    assert ids(second) == ["staff-r2", "staff-r1"]
    assert second["hasNextPage"] is False
    staff_read = second["nodes"][0]
    assert staff_read == {
        "requestId": "staff-r2",
        "at": staff_read["at"],
        "tier": "staff",
        "subject": "agent-7",
        "clientId": "citygraph-dev",
        "datasets": ["residents"],
        "departments": ["registry"],
        "subjects": ["R2"],
        "fields": staff_read["fields"],
        "restricted": True,
        "legalBasis": "CGCT-L2122-32",
        "caseReference": "EC-2026-118",
        "outcome": "served",
        "errorCodes": [],
    }
    assert "Resident.familyName" in staff_read["fields"]


def test_an_auditor_filters_the_log(scene: Scene) -> None:
    assert ids(scene.log(where={"subject": "R2"})) == ["staff-all", "staff-r2"]
    assert ids(scene.log(where={"principal": "marie"})) == ["marie-own"]
    by_staff = scene.log(where={"clientId": "citygraph-dev", "purpose": "CGCT-L2122-32"})
    assert ids(by_staff) == list(reversed(STAFF_READS))
    denied = eventually(
        lambda: scene.log(where={"outcome": "denied"}), lambda page: bool(page["nodes"])
    )
    assert ids(denied) == ["no-purpose"]
    assert denied["nodes"][0]["errorCodes"] == ["PURPOSE_REQUIRED"]
    assert denied["nodes"][0]["restricted"] is False
    public = eventually(
        lambda: scene.log(where={"dataset": "bikeStations"}), lambda page: bool(page["nodes"])
    )
    assert ids(public) == ["anonymous-public"]
    assert public["nodes"][0]["tier"] == "anonymous"


def test_the_time_range_is_read_in_utc_whatever_the_offset(scene: Scene) -> None:
    # the same instant two hours east: a comparison of wall clocks would get both wrong
    paris_summer = timezone(timedelta(hours=2))
    start = scene.started.astimezone(paris_summer).isoformat()
    residents = {"dataset": "residents", "outcome": "served"}
    assert len(scene.log(where={**residents, "since": start})["nodes"]) == 4
    assert scene.log(where={**residents, "until": start})["nodes"] == []
    naive_utc = scene.started.replace(tzinfo=None).isoformat()  # no offset: UTC
    assert len(scene.log(where={**residents, "since": naive_utc})["nodes"]) == 4


def test_an_auditor_counts_per_day_department_and_purpose(scene: Scene) -> None:
    def count(by: str, **where: Any) -> Any:
        response = scene.ask(COUNTS_Q, scene.auditor, by=by, where=where)
        assert "errors" not in response.json(), response.text
        return response.json()["data"]["accessLogCounts"]

    served = {"dataset": "residents", "outcome": "served"}
    assert count("PURPOSE", **served) == [
        {"key": "", "count": 1},  # the citizen's own read: no purpose to declare
        {"key": "CGCT-L2122-32", "count": 3},
    ]
    assert count("DEPARTMENT", **served) == [{"key": "registry", "count": 4}]
    days = count("DAY", **served)
    assert sum(d["count"] for d in days) == 4
    assert {d["key"] for d in days} <= {
        scene.started.date().isoformat(),
        datetime.now(UTC).date().isoformat(),
    }
    assert count("PURPOSE", subject="R-nobody") == []


def test_bad_pages_are_refused_with_a_code(scene: Scene) -> None:
    too_many = scene.ask(LOG_Q, scene.auditor, first=501)
    assert too_many.json()["data"] == {"accessLog": None}
    assert codes(too_many) == ["BAD_USER_INPUT"]
    forged = scene.ask(LOG_Q, scene.auditor, after="bm90IGEgY3Vyc29y")
    assert codes(forged) == ["BAD_USER_INPUT"]


def test_reading_the_log_is_itself_recorded_before_the_answer(scene: Scene) -> None:
    scene.log("audit-1", where={"subject": "R1"})
    counted = scene.ask(COUNTS_Q, scene.auditor, "audit-2", by="DAY")
    assert "errors" not in counted.json()
    # committed, not batched: in the database while the app still runs
    records = {r["request_id"]: r for r in read_log(scene.settings)}
    first, second = records["audit-1"], records["audit-2"]
    assert first["restricted"] is True
    assert first["fields"] == ["Query.accessLog"]
    assert first["datasets"] == ["accessLog"]
    assert first["departments"] == []  # the log is no department's
    assert (first["tier"], first["subject"], first["outcome"]) == ("auditor", "dpo-1", "served")
    assert first["operation"] == "AuditLog"
    assert second["fields"] == ["Query.accessLogCounts"]
    assert second["restricted"] is True
    # and an auditor finds who read the log, through the log
    assert ids(scene.log(where={"dataset": "accessLog"})) == ["audit-2", "audit-1"]


def test_apps_anonymous_callers_and_other_tiers_are_refused_and_recorded(scene: Scene) -> None:
    app = scene.app_token()
    refusals = [
        ("app-log", LOG_Q, app, "accessLog", "FORBIDDEN", {}),
        ("app-counts", COUNTS_Q, app, "accessLogCounts", "FORBIDDEN", {"by": "DAY"}),
        ("app-history", HISTORY_Q, app, "myAccessHistory", "FORBIDDEN", {}),
        ("anon-log", LOG_Q, None, "accessLog", "UNAUTHENTICATED", {}),
        ("anon-counts", COUNTS_Q, None, "accessLogCounts", "UNAUTHENTICATED", {"by": "PURPOSE"}),
        ("anon-history", HISTORY_Q, None, "myAccessHistory", "UNAUTHENTICATED", {}),
        ("staff-log", LOG_Q, scene.staff, "accessLog", "FORBIDDEN", {}),
        ("citizen-log", LOG_Q, scene.citizen_r1, "accessLog", "FORBIDDEN", {}),
        ("auditor-history", HISTORY_Q, scene.auditor, "myAccessHistory", "FORBIDDEN", {}),
    ]
    for request_id, query, tok, field, code, variables in refusals:
        response = scene.ask(query, tok, request_id, **variables)
        assert response.json()["data"] == {field: None}, request_id
        assert codes(response) == [code], request_id
        assert "agent-7" not in response.text, request_id
    records = eventually(
        lambda: {r["request_id"]: r for r in read_log(scene.settings)},
        lambda found: all(rid in found for rid, *_ in refusals),
    )
    for request_id, _query, _tok, _field, code, _variables in refusals:
        record = records[request_id]
        assert (record["outcome"], record["error_codes"]) == ("denied", [code]), request_id
        assert record["restricted"] is False, request_id
        assert record["fields"] == [], request_id
    assert records["app-log"]["tier"] == "app"
    assert records["anon-log"]["tier"] == "anonymous"
    assert records["anon-log"]["pseudonym"].startswith("p:")


def test_a_citizen_sees_others_reads_of_their_own_records_only(scene: Scene) -> None:
    response = scene.ask(HISTORY_Q, scene.citizen_r1, "marie-history")
    assert "errors" not in response.json(), response.text
    history = response.json()["data"]["myAccessHistory"]
    # staff-all and staff-r1 read R1; staff-r2 read R2 only; marie's own read is hers
    assert [{k: v for k, v in n.items() if k != "at"} for n in history["nodes"]] == [
        {"departments": ["registry"], "purpose": "CGCT-L2122-32", "datasets": ["residents"]}
    ] * 2
    times = [datetime.fromisoformat(n["at"]) for n in history["nodes"]]
    assert times == sorted(times, reverse=True)
    assert all(t >= scene.started for t in times)
    shown = json.dumps(history["nodes"])
    for staff_detail in ("agent-7", "citygraph-dev", "EC-2026-118", "R2", "R1", "dpo-1"):
        assert staff_detail not in shown
    # the type has no field that could name them
    asked = scene.ask("{ myAccessHistory { nodes { subject clientId } } }", scene.citizen_r1)
    assert codes(asked) == ["GRAPHQL_VALIDATION_FAILED"] * 2  # subject, clientId
    # reading one's history is a restricted read of one's own record, recorded before the answer
    record = next(r for r in read_log(scene.settings) if r["request_id"] == "marie-history")
    assert (record["restricted"], record["subjects"]) == (True, ["R1"])
    assert record["fields"] == ["Query.myAccessHistory"]
    # ... and, being hers, it does not show in it
    again = scene.ask(HISTORY_Q, scene.citizen_r1)
    assert len(again.json()["data"]["myAccessHistory"]["nodes"]) == 2


def test_a_citizen_pages_through_their_history_and_never_sees_another_residents(
    scene: Scene,
) -> None:
    first = scene.ask(HISTORY_Q, scene.citizen_r2, first=1).json()["data"]["myAccessHistory"]
    assert len(first["nodes"]) == 1
    assert first["hasNextPage"] is True
    rest = scene.ask(HISTORY_Q, scene.citizen_r2, first=1, after=first["endCursor"])
    second = rest.json()["data"]["myAccessHistory"]
    assert len(second["nodes"]) == 1
    assert second["hasNextPage"] is False
    seen = [n["at"] for n in first["nodes"] + second["nodes"]]
    # what the auditor sees of the staff's reads: R2's history is exactly the reads of R2
    staff = {n["requestId"]: n["at"] for n in scene.log(where={"principal": "agent-7"})["nodes"]}
    assert seen == [staff["staff-all"], staff["staff-r2"]]
    assert staff["staff-r1"] not in seen  # R1's record, read by the same staff member
