"""Every request to /graphql, served, denied or failed, leaves exactly one access record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import orjson

from audit.records import AccessRecord, now
from auth.principal import Tier
from auth.pseudonym import Pseudonyms
from tests.api.conftest import RESIDENTS
from tests.audit.helpers import (
    PURPOSE,
    ask,
    audited_client,
    codes,
    read_log,
    settings_for,
    token,
    verify_log,
)

STATIONS = "query Stations { bikeStations(first: 3) { nodes { id name } } }"
RESIDENTS_Q = "query People { residents { nodes { id familyName birthDate } } }"


def test_every_request_leaves_one_record_without_secrets(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    staff = token(tmp_path, ["registry:read"])
    citizen = token(tmp_path, ["self"], subject="marie", resident_id=RESIDENTS[0]["id"])
    with audited_client(settings) as client:
        assert ask(client, STATIONS).status_code == 200  # anonymous, public
        assert codes(ask(client, RESIDENTS_Q)) == ["UNAUTHENTICATED"]  # anonymous, denied
        assert codes(ask(client, RESIDENTS_Q, staff)) == ["PURPOSE_REQUIRED"]
        served = ask(client, RESIDENTS_Q, staff, **PURPOSE)
        assert served.json()["data"]["residents"]["nodes"][0]["familyName"] == "Curie"
        assert ask(client, RESIDENTS_Q, citizen).status_code == 200
        assert ask(client, STATIONS, "not.a.token").status_code == 401
        assert (
            client.post(
                "/graphql", content=b"{nope", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        assert ask(client, "{ nope }").status_code == 200  # invalid document, plain JSON
    records = read_log(settings)
    assert len(records) == 8
    by_request = sorted(records, key=lambda r: r["at"])
    public, anon_denied, no_purpose, staff_read, citizen_read, bad_token, bad_json, invalid = (
        by_request
    )
    assert public["outcome"] == "served"
    assert public["tier"] == "anonymous"
    assert public["operation"] == "Stations"
    assert public["datasets"] == ["bikeStations"]
    assert public["departments"] == ["mobility"]
    assert public["pseudonym"].startswith("p:")
    assert "203.0.113.9" not in str(records)
    assert public["subject"] is None
    assert anon_denied["outcome"] == "denied"
    assert anon_denied["error_codes"] == ["UNAUTHENTICATED"]
    assert no_purpose["outcome"] == "denied"
    assert no_purpose["subject"] == "agent-7"
    assert staff_read["restricted"] is True
    assert staff_read["subjects"] == [RESIDENTS[0]["id"]]
    assert staff_read["legal_basis"] == "CGCT-L2122-32"
    assert staff_read["case_reference"] == "EC-2026-118"
    assert "Resident.familyName" in staff_read["fields"]
    assert staff_read["departments"] == ["registry"]
    assert staff_read["pseudonym"] is None
    assert citizen_read["tier"] == "citizen"
    assert citizen_read["subjects"] == [RESIDENTS[0]["id"]]
    assert bad_token["outcome"] == "denied"
    assert bad_token["error_codes"] == ["UNAUTHENTICATED"]
    assert bad_json["outcome"] == "failed"
    assert bad_json["status"] == 400
    assert invalid["outcome"] == "failed"
    assert invalid["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]
    text = str(records)
    # no token, no restricted value
    for secret in (staff, citizen, "Curie", "Marie", "1967", "rue Cuvier"):
        assert secret not in text
    report = verify_log(settings)
    assert report.ok, report.problems()


def test_a_restricted_record_is_in_the_log_before_the_response(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, audit_flush_interval_s=60)  # no batch flush meanwhile
    staff = token(tmp_path, ["registry:read"])
    with audited_client(settings) as client:
        assert ask(client, RESIDENTS_Q, staff, **PURPOSE).status_code == 200
        # read while the app runs and its batches wait: the restricted one is there already
        records = read_log(settings)
        assert [r["restricted"] for r in records] == [True]
        ask(client, STATIONS)
        assert len(read_log(settings)) == 1  # public: spooled, not yet flushed
    assert len(read_log(settings)) == 2  # the shutdown flushed it


def test_a_cached_answer_is_recorded_with_what_it_was_made_of(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, cache_enabled=True)
    with audited_client(settings) as client:
        first = client.get("/graphql", params={"query": STATIONS})
        again = client.get("/graphql", params={"query": STATIONS})
    assert first.headers["x-cache"] == "MISS"
    assert again.headers["x-cache"] == "HIT"
    assert again.content == first.content
    records = sorted(read_log(settings), key=lambda r: r["at"])
    assert len(records) == 2
    for record in records:
        assert record["outcome"] == "served"
        assert record["datasets"] == ["bikeStations"]
        assert record["departments"] == ["mobility"]


def test_a_record_body_holds_every_field_of_the_record() -> None:
    record = AccessRecord(
        request_id="r",
        at=now(),
        tier="app",
        outcome="served",
        status=200,
        latency_ms=1.5,
        datasets=["b", "a", "b"],
        error_codes=["X"],
    )
    body = record.body()
    assert set(body) == {f.name for f in fields(AccessRecord)}
    assert body["datasets"] == ["a", "b"]
    assert AccessRecord.from_body(body).body() == body


def test_a_refused_caller_is_recorded_under_the_rate_limiters_pseudonym(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, rate_limits={Tier.ANONYMOUS: 1}, cache_enabled=False)
    with audited_client(settings) as client:
        assert ask(client, STATIONS).status_code == 200
        refused = ask(client, STATIONS)
    assert refused.status_code == 429
    records = sorted(read_log(settings), key=lambda r: r["at"])
    assert [r["error_codes"] for r in records] == [[], ["RATE_LIMITED"]]
    # one pseudonym per caller and period, from the keys the rate limiter uses too
    expected = Pseudonyms.for_data_dir(tmp_path)("203.0.113.9")
    assert {r["pseudonym"] for r in records} == {expected}
    assert expected is not None
    assert expected.startswith("p:")
    assert len(expected) == 34


def test_bodies_refused_for_their_size_are_recorded_once(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_body_bytes=1_024)
    big = orjson.dumps({"query": "{ districts { nodes { code } } }", "pad": "x" * 2_000})

    def chunks() -> Iterator[bytes]:
        yield big[:800]
        yield big[800:]

    with audited_client(settings) as client:
        declared = client.post(
            "/graphql",
            content=big,
            headers={"content-type": "application/json", "x-request-id": "big-declared"},
        )
        streamed = client.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    assert declared.status_code == streamed.status_code == 413
    records = sorted(read_log(settings), key=lambda r: r["at"])
    assert [r["error_codes"] for r in records] == [["PAYLOAD_TOO_LARGE"]] * 2
    assert [r["status"] for r in records] == [413, 413]
    assert records[0]["request_id"] == "big-declared"
    assert len(records[1]["request_id"]) == 32  # none sent: one is made, never left empty
