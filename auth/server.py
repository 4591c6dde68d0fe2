"""The built-in authorization server: client credentials in, RFC 9068 `at+jwt` access tokens out.

authlib's framework-agnostic `AuthorizationServer` does the protocol (grant selection, client
authentication with client_secret_basic or client_secret_post, error bodies); this module adapts it
to Starlette. authlib is synchronous and our client registry is async, so the endpoint reads the
form and looks the client up first, then runs authlib in a worker thread with that client at hand
(the scrypt secret check and the RSA signature stay off the event loop too).

Outside production it also has the authorization-code grant of the demo's citizen sign-in, for
the pages' own client only (auth.authorization_code).
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import parse_qsl

import anyio.to_thread
import structlog
from authlib.oauth2 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.authorization_code import DemoResident, PagesClient, S256Challenge, demo_grant
from auth.clients import ClientRecord, ClientRegistry
from auth.keys import KeyStore, SigningKeys
from auth.scopes import Scope
from storage.controls import control_character

log = structlog.get_logger("citygraph.auth")

DEFAULT_TOKEN_LIFETIME_S = 900
MAX_TOKEN_LIFETIME_S = 3600
MAX_FORM_BYTES = 8 * 1024
MAX_FORM_FIELDS = 16
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# Tokens name the scopes they carry; `self` is for people, and no client ever gets it.
SERVER_SCOPES = tuple(scope.value for scope in Scope if scope is not Scope.SELF)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class InvalidTargetError(OAuth2Error):
    """RFC 8707: the requested resource is not one we issue tokens for."""

    error = "invalid_target"


def sign_access_token(
    *,
    keys: SigningKeys,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scopes: Iterable[str],
    lifetime_s: int,
    extra: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> str:
    """An RFC 9068 JWT access token signed with the current key (kid in the header)."""
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        **(extra or {}),
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "scope": " ".join(sorted(set(scopes))),
        "iat": issued_at,
        "exp": issued_at + lifetime_s,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": keys.alg, "typ": "at+jwt", "kid": keys.kid}
    return jwt.encode(header, claims, keys.current, algorithms=[keys.alg])


class CityClient(ClientMixin):
    """authlib's view of a registered, unrevoked client."""

    def __init__(self, record: ClientRecord) -> None:
        self.record = record

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str:
        return ""  # no authorization endpoint, so no redirects

    def get_allowed_scope(self, scope: Iterable[str] | str | None) -> str:
        """The scopes to grant: those asked for if all are the client's, else invalid_scope."""
        requested = set(scope.split() if isinstance(scope, str) else scope or ())
        granted = {s.value for s in self.record.scopes}
        if not requested:
            # Least privilege by default: personal scopes are granted only when asked for.
            default = granted & {Scope.OPEN_DATA.value}
            if not default:
                raise InvalidScopeError("this client must ask for its scopes explicitly")
            return " ".join(sorted(default))
        personal = requested - {Scope.OPEN_DATA.value}
        if not requested <= granted or (personal and not self.record.admin_granted):
            raise InvalidScopeError("the client may not ask for these scopes")
        return " ".join(sorted(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.record.check_secret(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class StarletteOAuth2Request(OAuth2Request):
    """An authlib request built from a Starlette request whose form and client are already read."""

    def __init__(
        self,
        *,
        method: str,
        uri: str,
        headers: Headers,
        form: dict[str, str],
        clients: Mapping[str, CityClient],
    ) -> None:
        # Starlette's Headers, not a dict: authlib reads "Authorization" case-sensitively.
        super().__init__(method, uri, headers=cast(Mapping[str, str], headers))
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self.prefetched_clients = clients

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str | None]:
        return {}


class CityClientCredentialsGrant(ClientCredentialsGrant):
    """Client credentials with both secret methods, and RFC 8707 `resource` checked."""

    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self) -> None:
        resource = self.request.form.get("resource")
        server = cast(CityAuthorizationServer, self.server)
        if resource is not None and resource != server.audience:
            raise InvalidTargetError(f"tokens are issued for {server.audience} only")
        super().validate_token_request()


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """authlib's RFC 9068 generator, signing with our key store and naming the key (kid)."""

    def __init__(self, *, server: CityAuthorizationServer) -> None:
        super().__init__(
            issuer=server.issuer,
            alg=server.keystore.alg,
            expires_generator=lambda _client, _grant_type: server.token_lifetime_s,
        )
        self.server = server

    def access_token_generator(  # type: ignore[override]
        self, client: ClientMixin, grant_type: str, user: object, scope: str
    ) -> str:
        # RFC 9068 section 2.2: without a resource owner, the subject is the client itself
        subject, extra = client.get_client_id(), None
        if isinstance(user, DemoResident):  # the demo sign-in (auth.authorization_code)
            subject, extra = user.subject, {"resident_id": user.resident_id}
        return sign_access_token(
            keys=self.server.keystore.signing_keys(),
            issuer=self.server.issuer,
            audience=self.server.audience,
            subject=subject,
            client_id=client.get_client_id(),
            scopes=scope.split(),
            lifetime_s=self.server.token_lifetime_s,
            extra=extra,
        )


class CityAuthorizationServer(AuthorizationServer):
    """The token endpoint of the built-in server, for Starlette."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keystore: KeyStore,
        clients: ClientRegistry,
        token_lifetime_s: int = DEFAULT_TOKEN_LIFETIME_S,
        pages_client: PagesClient | None = None,
    ) -> None:
        if not 30 <= token_lifetime_s <= MAX_TOKEN_LIFETIME_S:
            raise ValueError(f"token lifetime must be between 30 and {MAX_TOKEN_LIFETIME_S} s")
        super().__init__(scopes_supported=SERVER_SCOPES)
        self.issuer = issuer
        self.audience = audience
        self.keystore = keystore
        self.clients = clients
        self.token_lifetime_s = token_lifetime_s
        keystore.signing_keys()  # first start: generate the key now, not on the first request
        self.register_grant(CityClientCredentialsGrant)
        self.pages_client = pages_client
        if pages_client is not None:  # the demo's sign-in, never in production (api.security)
            self.register_grant(demo_grant(), [S256Challenge(required=True)])
        self.register_token_generator("default", AccessTokenGenerator(server=self))

    def query_client(self, client_id: str) -> ClientMixin | None:  # type: ignore[override]
        # The authorization endpoint's only client is the pages'; the token endpoint looks in
        # the request's prefetched clients (authenticate_client below).
        pages = self.pages_client
        return pages if pages is not None and pages.client_id == client_id else None

    def authorization_request(self, request: Request, params: dict[str, str]) -> OAuth2Request:
        """The authorization endpoint's request (its parameters from the query or the form)."""
        return StarletteOAuth2Request(
            method="GET",
            uri=_authlib_uri(request),
            headers=request.headers,
            form=params,
            clients={},
        )

    def authorize(self, oauth_request: OAuth2Request, resident: DemoResident | None) -> Response:
        """Redirect back to the client with a code for `resident` (None: access denied)."""
        grant = self.get_consent_grant(oauth_request, end_user=resident)  # type: ignore[no-untyped-call]
        response = self.create_authorization_response(oauth_request, resident, grant)
        return cast(Response, response)

    def authenticate_client(
        self, request: OAuth2Request, methods: Iterable[str], endpoint: str = "token"
    ) -> ClientMixin:
        prefetched = cast(StarletteOAuth2Request, request).prefetched_clients
        lookup = cast(Any, prefetched.get)
        return ClientAuthentication(lookup)(request, list(methods), endpoint)

    def save_token(self, token: dict[str, str | int], request: OAuth2Request) -> None:
        # JWTs are self-contained; revocation works by client (see ClientRegistry.revoke).
        client = request.client
        log.info("token issued", client_id=client.get_client_id() if client else None)

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        # authlib's hook for framework signals; nothing listens here.
        return None

    def create_oauth2_request(self, request: object) -> OAuth2Request:
        if not isinstance(request, StarletteOAuth2Request):
            raise TypeError("use token_endpoint(request), which prepares the request")
        return request

    def handle_response(
        self,
        status: int,
        body: Mapping[str, object],
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
    ) -> Response:
        # authlib passes a list of pairs, whatever its stubs say.
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        merged = {k: v for k, v in pairs if k.lower() != "content-type"} | NO_STORE
        if status in (401, 403) and "WWW-Authenticate" not in merged:
            # authlib sets no challenge on a 403 (nor on a 401 outside client_secret_basic): a
            # client must always learn how to authenticate here.
            merged["WWW-Authenticate"] = 'Basic realm="citygraph"'
        return JSONResponse(dict(body), status_code=status, headers=merged)

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        if isinstance(error, InvalidClientError):
            # Always 401 with a challenge, whichever method the client tried (RFC 6749 5.2 allows
            # it, and one answer for every failure tells an attacker nothing about which one).
            error.status_code = 401
        return cast(Response, super().handle_error_response(request, error))

    async def token_endpoint(self, request: Request) -> Response:
        """POST /oauth/token."""
        try:
            form = await _read_form(request)
            uri = _authlib_uri(request)
        except InvalidRequestError as exc:
            return self.handle_response(*exc())
        basic_id, _secret = extract_basic_authorization(cast(Any, request.headers))
        if request.headers.get("authorization") and (
            "client_secret" in form or "client_assertion" in form
        ):
            return self.handle_response(
                *InvalidRequestError("use one client authentication method per request")()
            )
        client_id = basic_id or form.get("client_id")
        prefetched: dict[str, CityClient] = {}
        if client_id is not None and control_character(client_id) is not None:
            client_id = None  # no such client: invalid_client, before any lookup
        pages = self.query_client(client_id) if client_id else None
        if pages is not None and client_id:
            prefetched[client_id] = cast(CityClient, pages)
        elif client_id:
            record = await self.clients.get_fresh(client_id)
            if record is not None and record.active:
                prefetched[client_id] = CityClient(record)
        oauth_request = StarletteOAuth2Request(
            method=request.method, uri=uri, headers=request.headers, form=form, clients=prefetched
        )
        response = await anyio.to_thread.run_sync(self.create_token_response, oauth_request)
        return cast(Response, response)


async def read_body(request: Request, *, limit: int) -> bytes:
    """The request body, or InvalidRequestError once it exceeds `limit` bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise InvalidRequestError(f"the request body exceeds {limit} bytes")
    return bytes(body)


async def _read_form(request: Request) -> dict[str, str]:
    if request.query_params:
        # RFC 6749 section 2.3.1: credentials never in the URL, where logs and proxies keep them.
        raise InvalidRequestError("token parameters belong in the form body, not the URL")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("the body must be application/x-www-form-urlencoded")
    raw = await read_body(request, limit=MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("the form body is malformed") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if control_character(key + value) is not None:
            # PostgreSQL refuses NUL in text and SQLite does not: refuse it, and its kin, here
            raise InvalidRequestError("a parameter holds a control character")
        if key in form:
            # RFC 6749 section 3.2: parameters must not be repeated.
            # The name is not echoed: it is the client's text, and error descriptions are ASCII.
            raise InvalidRequestError("a parameter is repeated")
        form[key] = value
    return form


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authlib_uri(request: Request) -> str:
    """The URI given to authlib, whose transport check refuses plain HTTP.

    Plain HTTP is accepted between loopback addresses only (a developer's machine), as RFC 8252
    does for native apps; anywhere else TLS must reach us (behind a proxy: run uvicorn with
    --proxy-headers so that the scheme is the client's). authlib's global switch
    AUTHLIB_INSECURE_TRANSPORT is never needed.
    """
    url = request.url
    if url.scheme == "https":
        return str(url)
    client_host = request.client.host if request.client else None
    if _is_loopback(url.hostname) and _is_loopback(client_host):
        return str(url.replace(scheme="https"))
    raise InvalidRequestError("this endpoint requires https")
