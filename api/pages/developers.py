"""The developer portal, `/developers`: register an app, see its secret once, rotate, revoke.

Registration follows the same rules as `POST /oauth/register` (auth.registration: open-data only,
the same hourly cap). The browser that registered an app, or that opened it with its id and
secret, keeps its client id in the session and may rotate its secret or revoke it; no other app.
The page shows the app's standing against its rate limit and cost budget as the API counts them
(api.traffic), without spending any.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from api.pages.render import Renderer
from api.pages.session import CsrfRefused, Sessions
from api.settings import Settings
from api.traffic import Traffic
from auth.clients import ClientRegistry
from auth.principal import Principal, Tier
from auth.registration import RegistrationRefused, register_app
from auth.scopes import Scope
from storage.ratelimit import Decision

MAX_FORM_FIELDS = 8


class DeveloperPages:
    """The portal's handlers."""

    def __init__(
        self,
        renderer: Renderer,
        sessions: Sessions,
        *,
        clients: ClientRegistry,
        traffic: Traffic,
        settings: Settings,
    ) -> None:
        self.renderer = renderer
        self.sessions = sessions
        self.clients = clients
        self.traffic = traffic
        self.settings = settings

    async def show(self, request: Request, *, status: int = 200, **shown: Any) -> Response:
        """The portal, with the session's app (if any) and whatever an action has to say."""
        session = self.sessions.load(request)
        client_id = session.get("app")
        record = await self.clients.get_fresh(client_id) if isinstance(client_id, str) else None
        if record is not None and not record.active:
            session.pop("app")
            record = None
        standing: tuple[Decision | None, Decision | None] | None = None
        if record is not None:
            principal = Principal(
                tier=Tier.APP,
                subject=record.client_id,
                client_id=record.client_id,
                scopes=frozenset({Scope.OPEN_DATA}),
            )
            standing = await self.traffic.standing(principal)
        context = {"app": record, "standing": standing, "secret": None, "message": None, **shown}
        response = self.renderer.page(
            request,
            "developers.html",
            status=status,
            base=self.settings.base_url,
            period=f"{self.settings.rate_period_s:g}",
            registration_open=self.settings.registrations_per_hour > 0,
            **context,
        )
        response.headers["Cache-Control"] = "no-store"  # a secret may be on it
        return response

    async def page(self, request: Request) -> Response:
        return await self.show(request)

    async def _form(self, request: Request) -> dict[str, str] | Response:
        async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            self.sessions.check_form(request, fields)
        except CsrfRefused as exc:
            return await self.show(request, status=403, message=("error", str(exc)))
        return fields

    async def register(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        try:
            new = await register_app(
                clients=self.clients,
                name=form.get("name", ""),
                per_hour=self.settings.registrations_per_hour,
            )
        except RegistrationRefused as exc:
            status = 429 if exc.retry_after_s is not None else 400
            return await self.show(request, status=status, message=("error", exc.description))
        self.sessions.load(request)["app"] = new.record.client_id
        return await self.show(request, status=201, secret=new.secret)

    async def open(self, request: Request) -> Response:
        """Open an app registered earlier, by its id and secret."""
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        record = await self.clients.get_fresh(form.get("client_id", ""))
        if record is None or not record.active or not record.check_secret(form.get("secret", "")):
            return await self.show(request, status=401, message=("error", "bad_credentials"))
        self.sessions.load(request)["app"] = record.client_id
        return await self.show(request)

    async def rotate(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        client_id = self.sessions.load(request).get("app")
        secret = await self.clients.rotate(client_id) if isinstance(client_id, str) else None
        if secret is None:
            return await self.show(request, status=404)
        return await self.show(request, secret=secret)

    async def revoke(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        client_id = self.sessions.load(request).pop("app")
        if isinstance(client_id, str):
            await self.clients.revoke(client_id)
        return await self.show(request, message=("info", "revoked"))

    async def close(self, request: Request) -> Response:
        form = await self._form(request)
        if isinstance(form, Response):
            return form
        self.sessions.load(request).pop("app")
        return await self.show(request)
