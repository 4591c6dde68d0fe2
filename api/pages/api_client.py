"""The pages read data the way any client does: GraphQL over HTTP, to this very app, in-process.

Nothing is read behind the API's back: every page's read goes through authentication, rate
limits, access rules and the access log like an app's, as the visitor (their address for
anonymous limits, the citizen's own token on /my-data). The transport is httpx's ASGI transport,
so no socket is opened and the app needs no address of its own.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.types import ASGIApp


class ApiError(Exception):
    """The API answered with errors (or not at all); `codes` are their `extensions.code`."""

    def __init__(self, status: int, codes: list[str]) -> None:
        super().__init__(f"the API answered {status}: {codes}")
        self.status = status
        self.codes = codes


class InProcessApi:
    """GraphQL requests to the app, made on behalf of a page's visitor."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.app: ASGIApp | None = None
        """The whole app, set by create_app once it exists."""

    async def query(
        self,
        request: Request,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        partial: bool = False,
    ) -> dict[str, Any]:
        """The `data` of the answer; ApiError if it is not a 200 or has errors.

        With `partial`, an answer with data and some errors (fields denied: null) is accepted.
        """
        if self.app is None:
            raise RuntimeError("the pages' API client has no app")
        client = (request.client.host, request.client.port) if request.client else ("127.0.0.1", 0)
        transport = httpx.ASGITransport(app=self.app, client=client)
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as http:
            response = await http.post(
                "/graphql", json={"query": document, "variables": variables}, headers=headers
            )
        try:
            body = response.json()
        except ValueError:
            body = {}
        errors = body.get("errors") if isinstance(body, dict) else None
        data = body.get("data") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(data, dict) or (errors and not partial):
            codes = [str((e.get("extensions") or {}).get("code")) for e in errors or ()]
            raise ApiError(response.status_code, codes)
        return data
