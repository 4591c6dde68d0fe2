"""The city's web pages: server-rendered, in French and English, working without JavaScript.

    /                       home: what the city publishes, links to everything
    /datasets               the catalog, by department
    /datasets/{name}        one dataset: DCAT metadata, fields and access, downloads, map, example
    /developers             register an app, see its secret once, rotate, revoke, its standing
    /my-data                the citizen's records and who consulted them (sign-in with PKCE)
    /oauth/authorize        the demo's sign-in (outside production, without an issuer)
    /graphql                GraphiQL for browsers (api.pages.graphiql), the API for the rest
    /static/...             the pages' CSS and scripts, GraphiQL's libraries (api.pages.vendor)

    render       templates, language, session cookie       i18n      the two languages
    session      encrypted session cookie, CSRF            maps      the SVG map
    api_client   GraphQL to this app, in-process, as the visitor
    catalog, developers, my_data, demo_signin, graphiql    the pages themselves

Security headers (api.headers) and CORS (api.cors) are the app's middleware, not the pages'.
docs/web.md tells the whole story.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from api.pages.api_client import InProcessApi
from api.pages.catalog import CatalogPages
from api.pages.demo_signin import DemoSignIn
from api.pages.developers import DeveloperPages
from api.pages.graphiql import GraphiQLFront
from api.pages.my_data import MyDataPages
from api.pages.render import Renderer
from api.pages.session import Sessions
from api.security import PAGES_CALLBACK, Security
from api.settings import Environment, Settings
from api.traffic import Traffic
from auth.keys import secret_key
from auth.relying_party import RelyingParty
from schema.city import City

STATIC = Path(__file__).resolve().parent / "static"
CALLBACK = PAGES_CALLBACK


def session_key(settings: Settings) -> bytes:
    """The session cookies' key: from the settings, else a key file beside the signing keys."""
    if settings.session_secret is not None:
        return hashlib.sha256(settings.session_secret.get_secret_value().encode()).digest()
    return secret_key(settings.signing_keys_dir / "session.key")


class Pages:
    """The pages of one app; `bind(app)` once the whole app exists (they call it in-process)."""

    def __init__(
        self, settings: Settings, *, city: City, security: Security, traffic: Traffic
    ) -> None:
        self.settings = settings
        production = settings.environment is Environment.PRODUCTION
        self.sessions = Sessions(
            session_key(settings), secure=production, origins=frozenset({settings.base_url})
        )
        self.renderer = Renderer(self.sessions)
        self.api = InProcessApi(settings.base_url)
        self.catalog = CatalogPages(self.renderer, self.api, city)
        self.developers = DeveloperPages(
            self.renderer,
            self.sessions,
            clients=security.clients,
            traffic=traffic,
            settings=settings,
        )
        self.demo = None
        server = security.server
        if server is not None and server.pages_client is not None:
            self.demo = DemoSignIn(self.renderer, self.sessions, server, city)
        self._own_http: httpx.AsyncClient | None = None
        self.relying_party: RelyingParty | None = None
        redirect_uri = settings.base_url + CALLBACK
        if settings.issuer_url:
            secret = settings.pages_client_secret
            self.relying_party = RelyingParty(
                issuer=settings.issuer_url,
                client_id=settings.pages_client_id,
                client_secret=secret.get_secret_value() if secret else None,
                redirect_uri=redirect_uri,
                resource=security.audience,
                http=security.http,
                timeout_s=settings.idp_timeout_s,
            )
        self.my_data = MyDataPages(
            self.renderer, self.sessions, self.api, city.catalog, self.relying_party
        )

    def bind(self, app: ASGIApp) -> None:
        """Give the pages the whole app: their API calls, and the demo issuer's, go to it."""
        self.api.app = app
        if self.demo is not None and self.relying_party is None:
            # the built-in server, reached in-process: the pages are its client like any other
            self._own_http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=self.settings.base_url
            )
            self.relying_party = self.my_data.relying_party = RelyingParty(
                issuer=self.settings.base_url,
                client_id=self.settings.pages_client_id,
                redirect_uri=self.settings.base_url + CALLBACK,
                resource=self.settings.token_audience,
                http=self._own_http,
                scope="self open-data",
            )

    async def close(self) -> None:
        if self._own_http is not None:
            await self._own_http.aclose()

    def graphiql(self, api: ASGIApp) -> ASGIApp:
        """`/graphql`: GraphiQL for browsers in front of the API."""
        return GraphiQLFront(api, self.renderer)

    def routes(self) -> list[BaseRoute]:
        c, d, m = self.catalog, self.developers, self.my_data
        routes: list[BaseRoute] = [
            Route("/", c.home, methods=["GET"]),
            Route("/datasets", c.index, methods=["GET"]),
            # `/datasets/{name}` itself is api.catalog's (the dataset's IRI): it hands browsers
            # to `self.catalog.dataset` and RDF clients get the dataset's DCAT description
            Route("/datasets/{name}/download", c.download, methods=["GET"]),
            Route("/developers", d.page, methods=["GET"]),
            Route("/developers/register", d.register, methods=["POST"]),
            Route("/developers/open", d.open, methods=["POST"]),
            Route("/developers/rotate", d.rotate, methods=["POST"]),
            Route("/developers/revoke", d.revoke, methods=["POST"]),
            Route("/developers/close", d.close, methods=["POST"]),
            Route("/my-data", m.page, methods=["GET"]),
            Route("/my-data/sign-in", m.sign_in, methods=["GET"]),
            Route(CALLBACK, m.callback, methods=["GET"]),
            Route("/my-data/sign-out", m.sign_out, methods=["POST"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
        if self.demo is not None:
            routes += [
                Route("/oauth/authorize", self.demo.show, methods=["GET"]),
                Route("/oauth/authorize", self.demo.decide, methods=["POST"]),
            ]
        return routes
