"""The citizen's page, `/my-data`: sign in at the city's identity provider, see own records and who
consulted them.

The page is an OAuth client of the issuer (auth.relying_party: authorization code with PKCE): the
city's provider when `CITYGRAPH_ISSUER_URL` is set, else, outside production, the built-in
server's demo sign-in. The access token stays in the encrypted session; the page reads the API
with it like any client, so the citizen sees exactly what the API gives a `self` token: their own
rows (row-level rules) and `myAccessHistory` (date, departments, purpose, datasets; never who).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.api_client import ApiError, InProcessApi
from api.pages.render import Renderer
from api.pages.session import CsrfRefused, Sessions
from auth.relying_party import Pending, RelyingParty, SignInFailed
from schema.datasets import Catalog, DatasetSpec

HISTORY = (
    "query History { myAccessHistory(first: 100) { nodes { at departments purpose datasets } } }"
)
ROWS_SHOWN = 50


def own_datasets(catalog: Catalog) -> list[DatasetSpec]:
    """Personal datasets whose rows are about a resident: a citizen's own records.

    (A public dataset with an owner column, such as building permits, lists everyone's rows.)
    """
    return [s for s in catalog.datasets if s.meta.owner and s.restricted]


def own_records_query(specs: list[DatasetSpec]) -> str:
    parts = []
    for spec in specs:
        fields = " ".join(c.field_name for c in spec.columns if c.role != "geometry")
        parts.append(f"{spec.name}(first: {ROWS_SHOWN}) {{ nodes {{ {fields} }} }}")
    return "query Mine { " + " ".join(parts) + " }"


class MyDataPages:
    """The citizen's page and its sign-in round trip."""

    def __init__(
        self,
        renderer: Renderer,
        sessions: Sessions,
        api: InProcessApi,
        catalog: Catalog,
        relying_party: RelyingParty | None,
    ) -> None:
        self.renderer = renderer
        self.sessions = sessions
        self.api = api
        self.relying_party = relying_party
        self.specs = own_datasets(catalog)
        self.records_query = own_records_query(self.specs)

    def _signed_in(self, request: Request) -> tuple[str, float] | None:
        citizen = self.sessions.load(request).get("citizen")
        if not isinstance(citizen, dict):
            return None
        token, expires_at = citizen.get("token"), citizen.get("exp", 0)
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            return None
        return (token, float(expires_at)) if expires_at > time.time() else None

    async def page(self, request: Request) -> Response:
        signed_in = self._signed_in(request)
        context: dict[str, Any] = {
            "available": self.relying_party is not None,
            "signed_in": signed_in is not None,
            "records": [],
            "history": [],
            "until": None,
            "problem": None,
        }
        if signed_in is not None:
            token, expires_at = signed_in
            context["until"] = datetime.fromtimestamp(expires_at, UTC).strftime("%Y-%m-%d %H:%M")
            try:
                # fields the citizen may not read (a permit's other parties) come back null
                rows = await self.api.query(request, self.records_query, token=token, partial=True)
                history = await self.api.query(request, HISTORY, token=token)
            except ApiError as exc:
                if exc.status == 401:  # expired or revoked since: sign in again
                    self.sessions.load(request).pop("citizen")
                    context["signed_in"] = False
                else:
                    context["problem"] = ", ".join(exc.codes) or str(exc.status)
            else:
                context["records"] = [
                    (spec, rows[spec.name]["nodes"])
                    for spec in self.specs
                    if rows.get(spec.name) and rows[spec.name]["nodes"]
                ]
                context["history"] = history["myAccessHistory"]["nodes"]
        response = self.renderer.page(request, "my_data.html", **context)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def sign_in(self, request: Request) -> Response:
        """Send the browser to the issuer, keeping state and the PKCE verifier in the session."""
        if self.relying_party is None:
            return await self.page(request)
        try:
            url, pending = await self.relying_party.start()
        except SignInFailed as exc:
            return self._failed(request, exc.description)
        self.sessions.load(request)["signin"] = {
            "state": pending.state,
            "verifier": pending.verifier,
        }
        response = RedirectResponse(url, status_code=303)
        self.sessions.save(request, response)
        return response

    async def callback(self, request: Request) -> Response:
        session = self.sessions.load(request)
        started = session.pop("signin")
        if self.relying_party is None or not isinstance(started, dict):
            return self._failed(request, "this sign-in was not started here")
        pending = Pending(state=str(started.get("state")), verifier=str(started.get("verifier")))
        try:
            signed = await self.relying_party.finish(pending, dict(request.query_params))
        except SignInFailed as exc:
            return self._failed(request, exc.description)
        session["citizen"] = {"token": signed.access_token, "exp": signed.expires_at}
        response = RedirectResponse("/my-data", status_code=303)
        self.sessions.save(request, response)
        return response

    async def sign_out(self, request: Request) -> Response:
        async with request.form(max_files=0, max_fields=4) as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            self.sessions.check_form(request, fields)
        except CsrfRefused as exc:
            return self._failed(request, str(exc), status=403)
        self.sessions.load(request).pop("citizen")
        response = RedirectResponse("/my-data", status_code=303)
        self.sessions.save(request, response)
        return response

    def _failed(self, request: Request, description: str, *, status: int = 400) -> Response:
        return self.renderer.page(
            request, "signin_failed.html", status=status, description=description
        )
