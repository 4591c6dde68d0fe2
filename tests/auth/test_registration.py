"""Self-service registration (shared by /oauth/register and /developers) and secret rotation,
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.clients import ClientRegistry
from auth.registration import RegistrationRefused, register_app
from auth.scopes import Scope


async def test_a_self_registered_app_gets_open_data_only(engine: AsyncEngine) -> None:
    new = await register_app(clients=ClientRegistry(engine), name="Vélo", per_hour=10)
    assert new.record.scopes == frozenset({Scope.OPEN_DATA})
    assert not new.record.admin_granted
    assert new.record.check_secret(new.secret)


async def test_the_hourly_cap_holds_and_says_when_to_retry(engine: AsyncEngine) -> None:
    clients = ClientRegistry(engine)
    for n in range(2):
        await register_app(clients=clients, name=f"app {n}", per_hour=2)
    with pytest.raises(RegistrationRefused) as refused:
        await register_app(clients=clients, name="one too many", per_hour=2)
    assert refused.value.retry_after_s == 60


async def test_registration_turned_off_and_bad_names_are_refused_for_good(
    engine: AsyncEngine,
) -> None:
    clients = ClientRegistry(engine)
    with pytest.raises(RegistrationRefused) as off:
        await register_app(clients=clients, name="app", per_hour=0)
    assert off.value.retry_after_s is None
    with pytest.raises(RegistrationRefused) as blank:
        await register_app(clients=clients, name="   ", per_hour=10)
    assert blank.value.retry_after_s is None


async def test_rotation_replaces_the_secret_at_once(engine: AsyncEngine) -> None:
    clients = ClientRegistry(engine)
    new = await register_app(clients=clients, name="Vélo", per_hour=10)
    rotated = await clients.rotate(new.record.client_id)
    assert rotated is not None
    assert rotated != new.secret
    record = await clients.get(new.record.client_id)
    assert record is not None
    assert record.check_secret(rotated)
    assert not record.check_secret(new.secret)


async def test_a_revoked_or_unknown_client_gets_no_new_secret(engine: AsyncEngine) -> None:
    clients = ClientRegistry(engine)
    new = await register_app(clients=clients, name="Vélo", per_hour=10)
    await clients.revoke(new.record.client_id)
    assert await clients.rotate(new.record.client_id) is None
    assert await clients.rotate("cg_nobody") is None
