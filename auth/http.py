"""The OAuth endpoints and metadata, as Starlette routes for api/app.py to mount.

- POST /oauth/token                          client credentials (built-in server)
- POST /oauth/register                       RFC 7591 self-service registration, open-data only
- GET  /.well-known/oauth-authorization-server   RFC 8414 metadata (built-in server)
- GET  /.well-known/jwks.json                the built-in server's public keys
- GET  /.well-known/oauth-protected-resource RFC 9728 metadata of the API itself

Outside production the metadata also names the demo's authorization endpoint (the citizen's
sign-in, auth.authorization_code); its page is one of the web pages (api/pages/demo_signin.py).

No /.well-known/openid-configuration: the built-in server issues access tokens to apps, not ID
tokens to people; claiming to be an OpenID provider would be a lie that clients act on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.registration import RegistrationRefused, register_app
from auth.resolve import InvalidToken
from auth.scopes import Scope
from auth.server import AUTH_METHODS, NO_STORE, SERVER_SCOPES, CityAuthorizationServer, read_body
from auth.tokens import IssuerUnavailable

MAX_REGISTRATION_BYTES = 4 * 1024
DEFAULT_REGISTRATIONS_PER_HOUR = 100
ISSUER_RETRY_AFTER_S = 5


def well_known_url(identifier: str, name: str) -> str:
    """RFC 8414 / RFC 9728 placement: /.well-known/<name> inserted between host and path."""
    parts = urlsplit(identifier)
    return f"{parts.scheme}://{parts.netloc}/.well-known/{name}{parts.path.rstrip('/')}"


def auth_error_response(
    exc: InvalidToken | IssuerUnavailable, *, resource_metadata: str | None = None
) -> Response:
    """The HTTP answer to a failed authentication: 400/401 with WWW-Authenticate, or 503."""
    if isinstance(exc, IssuerUnavailable):
        # The token may well be good: say "later", not "invalid", so clients keep it.
        return JSONResponse(
            {"error": "temporarily_unavailable", "error_description": "cannot check tokens now"},
            status_code=503,
            headers={"Retry-After": str(ISSUER_RETRY_AFTER_S), **NO_STORE},
        )
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status_code,
        headers={
            "WWW-Authenticate": exc.www_authenticate(resource_metadata=resource_metadata),
            **NO_STORE,
        },
    )


def insufficient_scope_response(
    scopes: Sequence[str], *, resource_metadata: str | None = None
) -> Response:
    """403 for a valid token that lacks a scope (RFC 6750 section 3.1), with its challenge."""
    wanted = " ".join(scopes)
    params = ['realm="citygraph"']
    if resource_metadata:
        params.append(f'resource_metadata="{resource_metadata}"')
    params += ['error="insufficient_scope"', f'scope="{wanted}"']
    return JSONResponse(
        {"error": "insufficient_scope", "error_description": f"this needs the scope {wanted}"},
        status_code=403,
        headers={"WWW-Authenticate": "Bearer " + ", ".join(params), **NO_STORE},
    )


def oauth_routes(
    *,
    resource: str,
    authorization_servers: Sequence[str],
    server: CityAuthorizationServer | None = None,
    registrations_per_hour: int = DEFAULT_REGISTRATIONS_PER_HOUR,
    resource_documentation: str | None = None,
) -> list[Route]:
    """The routes; the built-in server's only when `server` is given, registration when the cap > 0."""
    resource_metadata: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": list(authorization_servers),
        "scopes_supported": [scope.value for scope in Scope],
        "bearer_methods_supported": ["header"],
        "resource_name": "citygraph",
    }
    if resource_documentation:
        resource_metadata["resource_documentation"] = resource_documentation

    async def protected_resource(_request: Request) -> Response:
        return JSONResponse(resource_metadata, headers={"Cache-Control": "public, max-age=3600"})

    routes = [
        Route(
            urlsplit(well_known_url(resource, "oauth-protected-resource")).path,
            protected_resource,
            methods=["GET"],
        )
    ]
    if server is None:
        return routes

    base = server.issuer.rstrip("/")
    server_metadata: dict[str, Any] = {
        "issuer": server.issuer,
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "scopes_supported": list(SERVER_SCOPES),
        # RFC 8414 requires the member; without the demo's sign-in there is no response type.
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
    }
    if registrations_per_hour > 0:
        server_metadata["registration_endpoint"] = f"{base}/oauth/register"
    if server.pages_client is not None:  # the demo's sign-in (auth.authorization_code)
        server_metadata |= {
            "authorization_endpoint": f"{base}/oauth/authorize",
            "response_types_supported": ["code"],
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
        }

    async def authorization_server(_request: Request) -> Response:
        return JSONResponse(server_metadata, headers={"Cache-Control": "public, max-age=3600"})

    async def jwks(_request: Request) -> Response:
        # Short cache: after a rotation, verifiers elsewhere must see the new key soon.
        body = server.keystore.signing_keys().jwks()
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})

    async def register(request: Request) -> Response:
        return await _register(request, server=server, per_hour=registrations_per_hour)

    routes += [
        Route("/oauth/token", server.token_endpoint, methods=["POST"]),
        Route(
            urlsplit(well_known_url(server.issuer, "oauth-authorization-server")).path,
            authorization_server,
            methods=["GET"],
        ),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]
    if registrations_per_hour > 0:
        routes.append(Route("/oauth/register", register, methods=["POST"]))
    return routes


def _metadata_error(description: str, *, error: str = "invalid_client_metadata") -> Response:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=400, headers=NO_STORE
    )


async def _register(
    request: Request, *, server: CityAuthorizationServer, per_hour: int
) -> Response:
    """RFC 7591 registration of an open-data app; the secret is in the answer and nowhere else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return _metadata_error("the body must be application/json")
    try:
        document = json.loads(await read_body(request, limit=MAX_REGISTRATION_BYTES))
    except InvalidRequestError:
        return _metadata_error(f"the body exceeds {MAX_REGISTRATION_BYTES} bytes")
    except ValueError:
        return _metadata_error("the body is not JSON")
    if not isinstance(document, dict):
        return _metadata_error("the body must be a JSON object")

    name = document.get("client_name")
    if not isinstance(name, str) or not name.strip():
        return _metadata_error("client_name is required")
    scope = document.get("scope", Scope.OPEN_DATA.value)
    if not isinstance(scope, str) or set(scope.split()) != {Scope.OPEN_DATA.value}:
        return _metadata_error(
            "self-registered apps get open-data only; ask the city for other scopes"
        )
    if document.get("grant_types", ["client_credentials"]) != ["client_credentials"]:
        return _metadata_error("the only grant type is client_credentials")
    if document.get("redirect_uris"):
        return _metadata_error("no redirect-based flow is offered", error="invalid_redirect_uri")
    if document.get("response_types", []) != []:
        return _metadata_error("no response type is offered")
    method = document.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        return _metadata_error(
            f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}"
        )

    try:
        new = await register_app(clients=server.clients, name=name, per_hour=per_hour)
    except RegistrationRefused as exc:
        if exc.retry_after_s is None:
            return _metadata_error(exc.description)
        return JSONResponse(
            {"error": "rate_limited", "error_description": exc.description},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after_s), **NO_STORE},
        )
    record = new.record
    return JSONResponse(
        {
            "client_id": record.client_id,
            "client_secret": new.secret,
            "client_id_issued_at": int(record.created_at.timestamp()),
            "client_secret_expires_at": 0,
            "client_name": record.name,
            "scope": Scope.OPEN_DATA.value,
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": method,
        },
        status_code=201,
        headers=NO_STORE,
    )
