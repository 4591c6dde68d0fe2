"""The demo's sign-in page, `/oauth/authorize`: pick a synthetic resident, go back with a code.

It stands in for the city's identity provider in the embedded default only (auth.authorization_code
has the protocol; api.security registers it outside production, never in it). The request is
checked before anything is shown (client, exact redirect URI, PKCE): a bad one is an error page,
never a redirect to a URI we have not vetted. The demo reads its "user directory", the synthetic
civil registry, directly: it plays the provider, not a client of the API.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from starlette.requests import Request
from starlette.responses import Response

from api.pages.render import Renderer
from api.pages.session import CsrfRefused, Sessions
from auth.authorization_code import DemoResident
from auth.server import CityAuthorizationServer
from schema.city import City
from storage.paging import SortKey
from storage.repository import PageQuery

PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
)
SUGGESTED = 8


class DemoSignIn:
    """GET shows the choice, POST signs the chosen resident in."""

    def __init__(
        self, renderer: Renderer, sessions: Sessions, server: CityAuthorizationServer, city: City
    ) -> None:
        self.renderer = renderer
        self.sessions = sessions
        self.server = server
        self.city = city

    async def show(self, request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if k in PARAMETERS}
        try:
            self.server.get_consent_grant(self.server.authorization_request(request, params))  # type: ignore[no-untyped-call]
        except OAuth2Error as exc:
            return self._refused(request, exc)
        page = await self.city.repository("residents").page(
            PageQuery(order=(SortKey("id"),), first=SUGGESTED)
        )
        residents = [
            {"id": r.id, "name": f"{r.given_name} {r.family_name}", "district": r.district_code}
            for r in page.rows
        ]
        response = self.renderer.page(
            request, "demo_signin.html", params=params, residents=residents, problem=None
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    async def decide(self, request: Request) -> Response:
        async with request.form(max_files=0, max_fields=len(PARAMETERS) + 4) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            self.sessions.check_form(request, fields)
        except CsrfRefused as exc:
            return self.renderer.page(
                request, "signin_failed.html", status=403, description=str(exc)
            )
        params = {k: v for k, v in fields.items() if k in PARAMETERS}
        oauth_request = self.server.authorization_request(request, params)
        resident: DemoResident | None = None
        if "cancel" not in fields:
            resident_id = (fields.get("resident") or "").strip()
            found = await self.city.repository("residents").by_keys("id", [resident_id])
            if not found:
                return self.renderer.page(
                    request, "signin_failed.html", status=400, description="no such resident"
                )
            resident = DemoResident(resident_id)
        try:
            return self.server.authorize(oauth_request, resident)
        except OAuth2Error as exc:
            return self._refused(request, exc)

    def _refused(self, request: Request, error: OAuth2Error) -> Response:
        return self.renderer.page(
            request,
            "signin_failed.html",
            status=400,
            description=f"{error.error}: {error.description or ''}".strip(": "),
        )
