"""Who is calling: the OAuth machinery of one app, built from the settings.

The built-in authorization server signs app tokens (client credentials); the city's identity
provider (`issuer_url`), when configured, signs staff and citizen tokens. Every request's
principal comes from its bearer token alone (auth.resolve.authenticate); a bad token is a 401 with
`WWW-Authenticate`, never a silent downgrade to anonymous.
"""

from __future__ import annotations

import httpx
import structlog
from starlette.requests import Request
from starlette.routing import Route

from api.exchange import RequestError
from api.settings import Environment, Settings
from auth.authorization_code import PagesClient
from auth.clients import AUTH_DEPARTMENT, ClientRegistry
from auth.http import ISSUER_RETRY_AFTER_S, oauth_routes, well_known_url
from auth.keys import KeyStore
from auth.principal import Principal
from auth.purposes import PurposeRegistry
from auth.remembered import RememberedTokens
from auth.resolve import InvalidToken, authenticate
from auth.server import CityAuthorizationServer
from auth.tokens import IssuerUnavailable, TokenVerifier, TrustedIssuers
from storage.engines import Databases

log = structlog.get_logger("citygraph.security")

PAGES_CALLBACK = "/my-data/callback"
"""Where the issuer sends the citizen back to the pages (api.pages.my_data)."""


class Security:
    """Keys, clients, verifiers and routes of one app; opened and closed by its lifespan."""

    def __init__(self, settings: Settings, databases: Databases) -> None:
        self.settings = settings
        self.production = settings.environment is Environment.PRODUCTION
        self.audience = settings.token_audience
        self.engine = databases.engine_for(AUTH_DEPARTMENT)
        self.clients = ClientRegistry(self.engine, cache_ttl_s=settings.client_cache_ttl_s)
        self.purposes = (
            PurposeRegistry.from_toml(settings.purposes_file)
            if settings.purposes_file
            else PurposeRegistry.default()
        )
        self.http = httpx.AsyncClient(follow_redirects=False)
        verifiers = []
        self.server: CityAuthorizationServer | None = None
        if settings.oauth_server_enabled:
            keystore = KeyStore(settings.signing_keys_dir, alg=settings.signing_alg)
            # the demo's citizen sign-in: never in production, not needed with the city's IdP
            demo = not self.production and not settings.issuer_url
            pages = PagesClient(settings.pages_client_id, settings.base_url + PAGES_CALLBACK)
            self.server = CityAuthorizationServer(
                issuer=settings.base_url,
                audience=self.audience,
                keystore=keystore,
                clients=self.clients,
                token_lifetime_s=settings.token_lifetime_s,
                pages_client=pages if demo else None,
            )
            verifiers.append(
                TokenVerifier.from_keystore(
                    keystore,
                    issuer=settings.base_url,
                    audience=self.audience,
                    # in production people sign in at the city's IdP; ours signs app tokens only
                    accept_user_tokens=not self.production,
                    leeway_s=settings.token_leeway_s,
                )
            )
        if settings.issuer_url:
            verifiers.append(
                TokenVerifier.from_issuer_url(
                    settings.issuer_url,
                    audience=self.audience,
                    http=self.http,
                    timeout_s=settings.idp_timeout_s,
                    http_hosts=frozenset(settings.issuer_http_hosts),
                    keys_ttl_s=settings.jwks_ttl_s,
                    min_refetch_interval_s=settings.jwks_min_refetch_interval_s,
                    leeway_s=settings.token_leeway_s,
                )
            )
        # a client sends the same token with every request: its signature is checked once
        self.issuers = TrustedIssuers(verifiers)
        self.verifier = RememberedTokens(self.issuers)
        self.resource_metadata = well_known_url(self.audience, "oauth-protected-resource")

    def routes(self) -> list[Route]:
        """The OAuth endpoints and metadata."""
        return oauth_routes(
            resource=self.audience,
            authorization_servers=self.issuers.issuers,
            server=self.server,
            registrations_per_hour=self.settings.registrations_per_hour,
            resource_documentation=f"{self.settings.base_url}/schema.graphql",
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def principal(self, request: Request) -> Principal:
        """The request's principal; RequestError (401/400/503) when its credentials fail."""
        try:
            return await authenticate(
                request.headers,
                verifier=self.verifier,
                clients=self.clients,
                purposes=self.purposes,
            )
        except InvalidToken as exc:
            raise RequestError(
                exc.status_code,
                exc.description,
                code="UNAUTHENTICATED" if exc.status_code == 401 else "BAD_REQUEST",
                headers={
                    "WWW-Authenticate": exc.www_authenticate(
                        resource_metadata=self.resource_metadata
                    ),
                    "Cache-Control": "no-store",
                },
            ) from None
        except IssuerUnavailable:
            # the token may well be good: "later", not "invalid", so clients keep it
            raise RequestError(
                503,
                "tokens cannot be checked right now",
                code="SERVICE_UNAVAILABLE",
                headers={"Retry-After": str(ISSUER_RETRY_AFTER_S)},
            ) from None
