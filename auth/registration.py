"""Self-service app registration: one rule set for `POST /oauth/register` and the developer portal.

Anyone may register an app, and gets `open-data` only; personal scopes need an administrator
(`citygraph clients create`). A global cap per hour, counted in the database so every worker
shares it, bounds how fast anyone can fill the registry; per-caller limits are the API rate
limiter's job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth.clients import ClientRegistry, NewClient, count_self_service_since
from auth.scopes import Scope


class RegistrationRefused(Exception):
    """The registration cannot be made; `retry_after_s` is set when it is only for now."""

    def __init__(self, description: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.retry_after_s = retry_after_s


async def register_app(*, clients: ClientRegistry, name: str, per_hour: int) -> NewClient:
    """Register an open-data app; its secret is in the result and nowhere else."""
    if per_hour <= 0:
        raise RegistrationRefused("self-service registration is turned off here")
    since = datetime.now(UTC) - timedelta(hours=1)
    if await count_self_service_since(engine=clients.engine, since=since) >= per_hour:
        raise RegistrationRefused("too many registrations; retry later", retry_after_s=60)
    try:
        return await clients.create(name=name, scopes=[Scope.OPEN_DATA.value], admin_granted=False)
    except ValueError as exc:
        raise RegistrationRefused(str(exc)) from exc
