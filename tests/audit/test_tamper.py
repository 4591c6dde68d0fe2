# ruff: noqa: S608  # tampering is hand-written SQL on purpose, with values the test made
"""Tamper evidence: every kind of change made directly in the database is found by `verify`.

Each test fills one chain, changes the tables as someone with the database owner's rights would
(append-only triggers off), and asserts the first broken record verify reports. On SQLite and on
PostgreSQL alike.
"""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.checkpoint import CheckpointError, read_checkpoint, sign_checkpoint
from audit.store import ChainAppender
from audit.verify import Report, verify
from auth.keys import KeyStore
from tests.audit.conftest import KEY, record, tamper

RECORDS = 9


async def filled(engine: AsyncEngine, chains: int = 1) -> list[str]:
    """Chains of RECORDS records each, appended in a few transactions; their ids."""
    ids = []
    for c in range(chains):
        appender = ChainAppender(engine, KEY)
        await appender.append([record(n + 10 * c) for n in range(1, 4)])
        for n in range(4, RECORDS + 1):
            await appender.append([record(n + 10 * c)])
        ids.append(appender.chain_id)
    return ids


def first_break(report: Report) -> tuple[int, str]:
    broken = [c.broken for c in report.chains if c.broken is not None]
    assert len(broken) == 1, report.problems()
    return broken[0].seq, broken[0].reason


async def test_an_untouched_log_verifies(log_engine: AsyncEngine) -> None:
    await filled(log_engine, chains=2)
    report = await verify(log_engine, KEY)
    assert report.ok, report.problems()
    assert [c.records for c in report.chains] == [RECORDS, RECORDS]


async def test_the_wrong_key_breaks_the_first_record(log_engine: AsyncEngine) -> None:
    await filled(log_engine)
    report = await verify(log_engine, bytes(32))
    assert first_break(report) == (1, "its HMAC does not match its content")


async def test_an_edited_body_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        f"UPDATE audit_log SET body = replace(body, '\"R6\"', '\"R66\"') WHERE chain_id = '{chain}' AND seq = 6",
    )
    assert first_break(await verify(log_engine, KEY)) == (6, "its HMAC does not match its content")


async def test_an_edited_query_column_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        f"UPDATE audit_log SET subject = 'someone-else' WHERE chain_id = '{chain}' AND seq = 3",
    )
    seq, reason = first_break(await verify(log_engine, KEY))
    assert (seq, reason) == (3, "column subject does not match the signed body")


async def test_a_removed_subject_row_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        f"DELETE FROM audit_access WHERE chain_id = '{chain}' AND seq = 6 AND kind = 'subject'",
    )
    seq, reason = first_break(await verify(log_engine, KEY))
    assert seq == 6
    assert "subject, dataset or department rows" in reason


async def test_a_repeated_access_row_is_found(log_engine: AsyncEngine) -> None:
    # no key makes a row unique, and an INSERT needs no rights beyond the application's: a
    # repeated department row would count a read twice in the auditors' counts per department
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        "INSERT INTO audit_access (chain_id, seq, kind, value) SELECT chain_id, seq, kind, value "
        f"FROM audit_access WHERE chain_id = '{chain}' AND seq = 5 AND kind = 'department'",
    )
    seq, reason = first_break(await verify(log_engine, KEY))
    assert seq == 5
    assert "subject, dataset or department rows" in reason


async def test_a_deleted_record_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(log_engine, f"DELETE FROM audit_log WHERE chain_id = '{chain}' AND seq = 4")
    assert first_break(await verify(log_engine, KEY)) == (4, "missing (the next record found is 5)")


async def test_a_deleted_record_renumbered_over_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        *(
            f"DELETE FROM {table} WHERE chain_id = '{chain}' AND seq = 4"
            for table in ("audit_log", "audit_access")
        ),
        *(
            f"UPDATE {table} SET seq = seq - 1 WHERE chain_id = '{chain}' AND seq > 4"
            for table in ("audit_log", "audit_access")
        ),
    )
    assert first_break(await verify(log_engine, KEY)) == (4, "does not follow the record before it")


async def test_reordered_records_are_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    where = f"chain_id = '{chain}'"
    await tamper(
        log_engine,
        f"UPDATE audit_log SET seq = -5 WHERE {where} AND seq = 5",
        f"UPDATE audit_log SET seq = 5 WHERE {where} AND seq = 6",
        f"UPDATE audit_log SET seq = 6 WHERE {where} AND seq = -5",
    )
    assert first_break(await verify(log_engine, KEY)) == (5, "does not follow the record before it")


async def test_an_inserted_record_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    await tamper(
        log_engine,
        f"INSERT INTO audit_log (chain_id, seq, record_id, at, tier, subject, client_id, outcome,"
        f" restricted, legal_basis, status, latency_ms, body, prev, hmac)"
        f" SELECT chain_id, {RECORDS + 1}, 'forged', at, tier, subject, client_id, outcome,"
        f" restricted, legal_basis, status, latency_ms, body, hmac, hmac FROM audit_log"
        f" WHERE chain_id = '{chain}' AND seq = {RECORDS}",
    )
    seq, reason = first_break(await verify(log_engine, KEY))
    assert (seq, reason) == (RECORDS + 1, "its HMAC does not match its content")


async def test_a_record_inserted_in_the_middle_is_found(log_engine: AsyncEngine) -> None:
    (chain,) = await filled(log_engine)
    where = f"chain_id = '{chain}'"
    await tamper(
        log_engine,
        # make room at 4 (from the top down, so the key never collides), then copy 3 into it
        *(
            f"UPDATE audit_log SET seq = {n + 1} WHERE {where} AND seq = {n}"
            for n in range(RECORDS, 3, -1)
        ),
        f"INSERT INTO audit_log (chain_id, seq, record_id, at, tier, subject, client_id, outcome,"
        f" restricted, legal_basis, status, latency_ms, body, prev, hmac)"
        f" SELECT chain_id, 4, 'forged', at, tier, subject, client_id, outcome,"
        f" restricted, legal_basis, status, latency_ms, body, hmac, hmac FROM audit_log"
        f" WHERE {where} AND seq = 3",
    )
    seq, _reason = first_break(await verify(log_engine, KEY))
    assert seq == 4


async def test_a_truncated_tail_is_found_against_an_earlier_checkpoint(
    log_engine: AsyncEngine, tmp_path: object
) -> None:
    chains = await filled(log_engine, chains=2)
    keys = KeyStore(tmp_path / "keys").signing_keys()  # type: ignore[operator]
    token = sign_checkpoint(await verify(log_engine, KEY), keys=keys, issuer="https://city.test")
    heads = read_checkpoint(token, keys.jwks())
    assert heads[chains[0]][0] == RECORDS
    await tamper(log_engine, f"DELETE FROM audit_log WHERE chain_id = '{chains[0]}' AND seq > 6")
    # what remains is a valid chain: only the checkpoint can tell
    assert (await verify(log_engine, KEY)).ok
    report = await verify(log_engine, KEY, checkpoint_heads=heads)
    assert not report.ok
    assert report.problems() == [
        f"chain {chains[0]}: record 7: missing, the chain was truncated (the checkpoint had {RECORDS} records)"
    ]


async def test_a_deleted_chain_is_found_against_an_earlier_checkpoint(
    log_engine: AsyncEngine, tmp_path: object
) -> None:
    chains = await filled(log_engine, chains=2)
    keys = KeyStore(tmp_path / "keys").signing_keys()  # type: ignore[operator]
    token = sign_checkpoint(await verify(log_engine, KEY), keys=keys, issuer="https://city.test")
    await tamper(
        log_engine,
        f"DELETE FROM audit_log WHERE chain_id = '{chains[1]}'",
        f"DELETE FROM audit_access WHERE chain_id = '{chains[1]}'",
    )
    report = await verify(log_engine, KEY, checkpoint_heads=read_checkpoint(token, keys.jwks()))
    assert [m.reason for m in report.missing] == [
        f"chain {chains[1]}: every record is gone (the checkpoint had {RECORDS})"
    ]


async def test_a_checkpoint_signed_by_another_key_is_refused(
    log_engine: AsyncEngine, tmp_path: object
) -> None:
    await filled(log_engine)
    ours = KeyStore(tmp_path / "ours").signing_keys()  # type: ignore[operator]
    theirs = KeyStore(tmp_path / "theirs").signing_keys()  # type: ignore[operator]
    token = sign_checkpoint(await verify(log_engine, KEY), keys=theirs, issuer="x")
    with pytest.raises(CheckpointError):
        read_checkpoint(token, ours.jwks())


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'denied'",
        "DELETE FROM audit_log",
        "DELETE FROM audit_access",
    ],
)
async def test_the_application_cannot_update_or_delete(
    log_engine: AsyncEngine, statement: str
) -> None:
    await filled(log_engine)
    with pytest.raises(DBAPIError, match="append-only"):
        async with log_engine.begin() as conn:
            await conn.exec_driver_sql(statement)
    assert (await verify(log_engine, KEY)).ok
