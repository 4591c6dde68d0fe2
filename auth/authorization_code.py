"""The built-in server's authorization-code grant (PKCE, S256), for the demo city only.

A city signs its citizens in at its own identity provider (`CITYGRAPH_ISSUER_URL`). The embedded
default has none, so the built-in server stands in for one, outside production only: its sign-in
page (api/pages/demo_signin.py) lets the visitor pick a synthetic resident, and the token it
issues is a citizen's (`self`, with `resident_id`), as the city's provider would issue after a
real identity check. In production the grant is not registered at all and the resource server
refuses the built-in server's user tokens (api/security.py).

The only client is the pages' own (`/my-data`), a public client: no secret, an exact redirect URI,
and PKCE with S256 required at both ends (OAuth 2.1). Codes live 60 seconds in this process and
are used once; the demo is one process.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from authlib.oauth2 import OAuth2Request
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc7636 import CodeChallenge

from auth.scopes import Scope

CODE_LIFETIME_S = 60
CITIZEN_SCOPES = (Scope.OPEN_DATA.value, Scope.SELF.value)
MAX_CODES = 10_000


@dataclass(frozen=True, slots=True)
class DemoResident:
    """The person the demo sign-in vouches for: a resident of the synthetic registry."""

    resident_id: str

    @property
    def subject(self) -> str:
        return f"demo-resident:{self.resident_id}"

    def get_user_id(self) -> str:
        return self.subject


class PagesClient(ClientMixin):
    """The pages' public client at the built-in server (/my-data)."""

    def __init__(self, client_id: str, redirect_uri: str) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: Iterable[str] | str | None) -> str:
        requested = set(scope.split() if isinstance(scope, str) else scope or CITIZEN_SCOPES)
        # other scopes (openid, profile) are a provider's business; ours are at most these
        return " ".join(sorted(requested & set(CITIZEN_SCOPES))) or Scope.SELF.value

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri  # exact match, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """An authorization code as the server remembers it."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    resident_id: str
    challenge: str
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class CodeStore:
    """Codes in this process, each used at most once, forgotten after CODE_LIFETIME_S."""

    def __init__(self) -> None:
        self._codes: dict[str, IssuedCode] = {}
        self._lock = threading.Lock()  # authlib runs in worker threads

    def put(self, issued: IssuedCode) -> None:
        with self._lock:
            now = time.monotonic()
            for code in [c for c, i in self._codes.items() if i.expires_at < now]:
                del self._codes[code]
            if len(self._codes) >= MAX_CODES:
                raise InvalidRequestError("too many sign-ins in progress; retry in a minute")
            self._codes[issued.code] = issued

    def take(self, code: str, client_id: str) -> IssuedCode | None:
        """The code's grant, removed at once: a second use finds nothing."""
        with self._lock:
            issued = self._codes.pop(code, None)
        if issued is None or issued.client_id != client_id or issued.expires_at < time.monotonic():
            return None
        return issued


class DemoCodeGrant(AuthorizationCodeGrant):
    """authlib's code grant with PKCE required, codes in a `CodeStore`, residents as users."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 (authlib's class attribute)
    store = CodeStore()  # replaced per server by `demo_grant`

    def validate_authorization_request(self) -> str:
        data = _payload(self.request)
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: code_challenge with method S256")
        redirect_uri: str = super().validate_authorization_request()
        return redirect_uri

    def validate_requested_scope(self) -> None:
        # the server's scopes are the apps' (SERVER_SCOPES has no `self`); a citizen's are these
        requested = set(_payload(self.request).get("scope", "").split())
        if not requested <= {*CITIZEN_SCOPES, "openid"}:
            raise InvalidScopeError("a citizen's sign-in asks for self and open-data only")

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user = request.user
        if not isinstance(user, DemoResident) or request.client is None:
            raise InvalidRequestError("no resident was signed in")
        self.store.put(
            IssuedCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=_payload(request).get("redirect_uri")
                or request.client.get_default_redirect_uri(),
                scope=request.scope or Scope.SELF.value,
                resident_id=user.resident_id,
                challenge=_payload(request)["code_challenge"],
                expires_at=time.monotonic() + CODE_LIFETIME_S,
            )
        )

    def query_authorization_code(self, code: str, client: ClientMixin) -> IssuedCode | None:
        return self.store.take(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        return None  # `take` already removed it: a code is spent by its first presentation

    def authenticate_user(self, authorization_code: IssuedCode) -> DemoResident:
        return DemoResident(authorization_code.resident_id)


def _payload(request: OAuth2Request) -> dict[str, str]:
    payload = request.payload
    data: dict[str, str] = payload.data if payload is not None else {}
    return data


class S256Challenge(CodeChallenge):
    """PKCE for `DemoCodeGrant`: S256 only, the challenge kept with the code."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's class attribute)

    def get_authorization_code_challenge(self, authorization_code: IssuedCode) -> str:
        return authorization_code.challenge

    def get_authorization_code_challenge_method(self, authorization_code: IssuedCode) -> str:
        return "S256"


def demo_grant() -> type[DemoCodeGrant]:
    """A grant class with a code store of its own (one per server)."""
    return type("DemoCodeGrant", (DemoCodeGrant,), {"store": CodeStore()})
