"""Every request to /graphql, served, denied or failed, leaves exactly one access record."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from audit.records import AccessRecord, next_record_id, next_request_id, now, now_text
from auth.principal import Tier
from auth.pseudonym import Pseudonyms
from tests.api.conftest import RESIDENTS, http_scope, on_app_loop
from tests.audit.helpers import (
    PURPOSE,
    ask,
    audited_client,
    codes,
    logged,
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
        # the event this test needs: every record in the log (public ones come in batches)
        records = logged(settings, 8)
    assert len(records) == 8
    for record in records:  # the view builds bodies directly: in AccessRecord's exact form
        assert set(record) == {f.name for f in fields(AccessRecord)}
        assert AccessRecord.from_body(record).body() == record
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
    # no token, no restricted value; the birth date whole, as the answer writes it: the year
    # alone turned up once inside a record's random hex (a pseudonym's `...f9819677...`)
    for secret in (staff, citizen, "Curie", "Marie", "1967-11-07", "rue Cuvier"):
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


def test_a_client_gone_before_its_body_is_recorded_as_such_not_as_our_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that closes its connection while sending its body (a mobile network, a proxy's
    timeout) gets nothing, since nobody is there; its record says 499 and CLIENT_CLOSED_REQUEST,
    and the server logs no error: it is not one of ours."""
    settings = settings_for(tmp_path)
    sent: list[dict[str, Any]] = []
    half = b'{"query": "{ districts { nodes { code } } }"'

    async def gone() -> None:
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": half[:20], "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = http_scope(
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % (len(half) + 1)),
            (b"x-request-id", b"went-away"),
        )
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    with (
        audited_client(settings) as client,
        structlog.testing.capture_logs() as events,
        caplog.at_level(logging.WARNING),
    ):
        on_app_loop(client, gone)
        records = logged(settings, 1)
    assert sent == []
    (record,) = records
    assert record["request_id"] == "went-away"
    assert (record["status"], record["error_codes"]) == (499, ["CLIENT_CLOSED_REQUEST"])
    assert record["outcome"] == "failed"
    assert [e for e in events if e["log_level"] in ("warning", "error")] == []
    assert caplog.records == []


def test_a_request_id_is_the_callers_when_sane_else_a_new_unique_one(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    body = orjson.dumps({"query": STATIONS})
    sent = {
        "router": "2c0f9d1e-7b7a-4c55-a0f3-0c6d1b9e8a21",
        "too long": "x" * 129,
        "with spaces": "drop table; --",
        "none": None,
        "none again": None,
    }
    with audited_client(settings) as client:
        for given in sent.values():
            headers = {"content-type": "application/json"}
            if given is not None:
                headers["x-request-id"] = given
            assert client.post("/graphql", content=body, headers=headers).status_code == 200
    ids = [r["request_id"] for r in sorted(read_log(settings), key=lambda r: r["at"])]
    assert ids[0] == sent["router"]
    made = ids[1:]
    assert sent["too long"] not in made
    assert sent["with spaces"] not in made
    assert len(set(made)) == 4  # each request its own
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in made)


def test_a_forked_worker_draws_its_own_id_prefix() -> None:
    parent = [next_record_id(), next_request_id()]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, then out without running pytest's teardown
        os.write(write, f"{next_record_id()} {next_request_id()}".encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 2
    # ids are a 16-hex-digit prefix and a count: the child's prefixes are new, its counts restart
    assert {c[:16] for c in child}.isdisjoint({p[:16] for p in parent})
    assert all(int(c[16:], 16) == 0 for c in child)
    assert parent[0][:16] != parent[1][:16]  # record ids and request ids are separate series


def test_a_records_time_is_written_as_the_log_reads_it() -> None:
    for _ in range(3):
        before = now()
        text = now_text()
        after = now()
        at = datetime.fromisoformat(text)
        assert before <= at <= after
        assert at.isoformat(timespec="microseconds") == text  # the canonical form, exactly
