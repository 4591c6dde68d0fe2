"""The client registry on SQLite and PostgreSQL: secrets hashed, scopes checked, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.clients import (
    AUTH_DEPARTMENT,
    ClientRegistry,
    count_self_service_since,
    create_client,
    get_client,
    hash_secret,
    list_clients,
    oauth_client,
    revoke_client,
    verify_secret,
)
from storage.engines import make_engine
from storage.migrate import upgrade


async def test_a_secret_is_stored_as_a_salted_hash_and_checked(engine: AsyncEngine) -> None:
    new = await create_client(engine=engine, name="Vélo", scopes=["open-data"], admin_granted=False)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(oauth_client.c.secret_hash))).scalar_one()
    assert new.secret not in stored
    assert stored.startswith("scrypt$")
    record = await get_client(engine=engine, client_id=new.record.client_id)
    assert record is not None
    assert record.check_secret(new.secret)
    assert not record.check_secret(new.secret[:-1])
    assert not record.check_secret("")
    assert new.secret not in repr(new)
    assert stored not in repr(record)


def test_the_same_secret_hashes_differently_each_time() -> None:
    assert hash_secret("s") != hash_secret("s")
    assert verify_secret("s", hash_secret("s"))


@pytest.mark.parametrize("encoded", ["", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA$AA"])
def test_a_malformed_hash_never_matches(encoded: str) -> None:
    assert not verify_secret("s", encoded)


async def test_round_trip_and_timezones(engine: AsyncEngine) -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    new = await create_client(
        engine=engine,
        name="  Air  ",
        scopes=["open-data", "registry:read"],
        admin_granted=True,
        now=created,
    )
    record = await get_client(engine=engine, client_id=new.record.client_id)
    assert record == new.record
    assert record is not None
    assert record.name == "Air"
    assert record.created_at == created
    assert record.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("scopes", "admin", "message"),
    [
        (["registry:read"], False, "administrator"),
        (["open-data", "audit:read"], False, "administrator"),
        (["self"], True, "self"),
        (["open-data", "self"], True, "self"),
        (["root"], True, "unknown scope"),
        ([], True, "at least one"),
    ],
)
async def test_scopes_a_client_may_not_hold(
    engine: AsyncEngine, scopes: list[str], admin: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await create_client(engine=engine, name="x", scopes=scopes, admin_granted=admin)
    assert await list_clients(engine=engine) == []


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 201])
async def test_names_are_printable_and_bounded(engine: AsyncEngine, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        await create_client(engine=engine, name=name, scopes=["open-data"], admin_granted=True)


async def test_list_and_revoke(engine: AsyncEngine) -> None:
    a = await create_client(engine=engine, name="a", scopes=["open-data"], admin_granted=True)
    b = await create_client(engine=engine, name="b", scopes=["open-data"], admin_granted=False)
    assert {r.client_id for r in await list_clients(engine=engine)} == {
        a.record.client_id,
        b.record.client_id,
    }
    assert await revoke_client(engine=engine, client_id=a.record.client_id)
    assert not await revoke_client(engine=engine, client_id=a.record.client_id)  # already
    assert not await revoke_client(engine=engine, client_id="cg_unknown")
    active = await list_clients(engine=engine, include_revoked=False)
    assert [r.client_id for r in active] == [b.record.client_id]
    revoked = await get_client(engine=engine, client_id=a.record.client_id)
    assert revoked is not None
    assert not revoked.active
    assert revoked.revoked_at is not None


async def test_self_service_counting(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    await create_client(
        engine=engine,
        name="old",
        scopes=["open-data"],
        admin_granted=False,
        now=now - timedelta(hours=2),
    )
    await create_client(
        engine=engine, name="new", scopes=["open-data"], admin_granted=False, now=now
    )
    await create_client(
        engine=engine, name="admin", scopes=["open-data"], admin_granted=True, now=now
    )
    assert await count_self_service_since(engine=engine, since=now - timedelta(hours=1)) == 1


@pytest.mark.parametrize("client_id", ["", "x" * 65, "a b", "'; DROP TABLE oauth_client; --"])
async def test_odd_client_ids_are_simply_unknown(engine: AsyncEngine, client_id: str) -> None:
    assert await get_client(engine=engine, client_id=client_id) is None


async def test_the_cached_registry_sees_its_own_revocations_at_once(engine: AsyncEngine) -> None:
    registry = ClientRegistry(engine, cache_ttl_s=3600)
    new = await registry.create(name="a", scopes=["open-data"], admin_granted=True)
    record = await registry.get(new.record.client_id)
    assert record is not None
    assert record.active
    await registry.revoke(new.record.client_id)
    record = await registry.get(new.record.client_id)
    assert record is not None
    assert not record.active


async def test_the_auth_branch_makes_the_table_on_an_empty_postgres_database(
    fresh_postgres_url: str,
) -> None:
    engine = make_engine(fresh_postgres_url)
    try:
        assert await upgrade(engine, [AUTH_DEPARTMENT]) != []
        assert await upgrade(engine, [AUTH_DEPARTMENT]) == []  # nothing left to apply
        new = await create_client(
            engine=engine, name="pg", scopes=["open-data"], admin_granted=True
        )
        assert await get_client(engine=engine, client_id=new.record.client_id) == new.record
    finally:
        await engine.dispose()
