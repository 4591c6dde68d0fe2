"""From a request's headers to its Principal: the tier is decided by the bearer token and nothing else.

- No Authorization header: anonymous. Any Authorization header that is not a valid bearer token is
  an error (401), never a silent downgrade to anonymous.
- A client-credentials token (no subject, `sub` equal to `client_id`, or `gty` client-credentials)
  is the app tier, whatever scopes it carries: an app never acts as staff, auditor or citizen. It
  may carry `open-data`, and personal scopes only when our client registry says an administrator
  granted them to that client; `self` never. The registry covers the built-in server's clients,
  so an external issuer's app tokens carry open-data only. A token of a revoked client is refused.
- A user token (a subject other than the client): `audit:read` makes an auditor, else `self` a
  citizen, else a department scope (`registry:read`, ...) staff; the principal keeps only the scopes
  of its tier. A user token with none of these reads public data at the app tier.
- A citizen is linked to a resident by the token claim `resident_id`, set by the identity provider
  that verified who the person is; a `self` token without it is refused (no link, no own records).
- Purpose: from the token claim `purpose` ({"legal_basis", "case_reference"}) or the header
  `Citygraph-Purpose: legal-basis=CODE; case=REF`. A purpose in the token binds: the header may
  repeat it but not change it (a conflict is an error), because an issuer that bound a token to one
  case must not see it used for another. Unknown legal bases are errors (400), not dropped.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import Headers

from auth.clients import ClientRegistry
from auth.principal import ANONYMOUS, Principal, Purpose, Tier
from auth.purposes import PURPOSE_HEADER, PurposeError, PurposeRegistry
from auth.scopes import Scope
from auth.tokens import AccessToken, IssuerUnavailable, TokenRejected, Verifier

__all__ = [
    "DEPARTMENT_SCOPES",
    "PURPOSE_HEADER",
    "InvalidToken",
    "IssuerUnavailable",
    "authenticate",
]

DEPARTMENT_SCOPES = frozenset(
    {Scope.REGISTRY_READ, Scope.SOCIAL_READ, Scope.TAX_READ, Scope.URBANISM_READ}
)
_SCOPE_VALUES = frozenset(scope.value for scope in Scope)
_RESIDENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# RFC 6750 section 2.1: b64token
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
CLIENT_CREDENTIALS_GTY = frozenset({"client-credentials", "client_credentials"})


class InvalidToken(Exception):
    """The request's credentials (or declared purpose) cannot be accepted: answer with its status."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status_code(self) -> int:
        """401 for a bad token, 400 for a malformed request (RFC 6750 section 3.1)."""
        return 400 if self.error == "invalid_request" else 401

    def www_authenticate(
        self, *, realm: str = "citygraph", resource_metadata: str | None = None
    ) -> str:
        """The WWW-Authenticate header value (RFC 6750, with RFC 9728's resource_metadata)."""
        params = [f'realm="{realm}"']
        if resource_metadata:
            params.append(f'resource_metadata="{resource_metadata}"')
        params.append(f'error="{self.error}"')
        params.append(f'error_description="{_quoted(self.description)}"')
        return "Bearer " + ", ".join(params)


def _quoted(text: str) -> str:
    # An error description is ASCII without quotes or backslashes (RFC 6749 section 5.2).
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


async def authenticate(
    headers: Headers,
    *,
    verifier: Verifier,
    clients: ClientRegistry,
    purposes: PurposeRegistry,
) -> Principal:
    """The principal of a request, from its Authorization and Citygraph-Purpose headers alone."""
    authorizations = headers.getlist("authorization")
    if not authorizations:
        header_purpose = _header_purpose(headers, purposes)
        return ANONYMOUS if header_purpose is None else Principal(purpose=header_purpose)
    if len(authorizations) > 1:
        raise InvalidToken("invalid_request", "more than one Authorization header")
    token = _bearer_token(authorizations[0])
    try:
        access = await verifier.verify(token)
    except TokenRejected as exc:
        raise InvalidToken("invalid_token", exc.description) from None
    principal = await _principal(access, clients)
    # The token first: a client with a bad token and a bad purpose must learn about the token.
    purpose = _purpose(access, _header_purpose(headers, purposes), purposes)
    if purpose is None:
        return principal
    return Principal(
        tier=principal.tier,
        subject=principal.subject,
        client_id=principal.client_id,
        scopes=principal.scopes,
        purpose=purpose,
        resident_id=principal.resident_id,
    )


def _bearer_token(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("invalid_token", "the Authorization header must use the Bearer scheme")
    token = token.strip()
    if not token or not _BEARER_TOKEN.fullmatch(token):
        raise InvalidToken("invalid_token", "the bearer token is missing or malformed")
    return token


def _header_purpose(headers: Headers, purposes: PurposeRegistry) -> Purpose | None:
    values = headers.getlist(PURPOSE_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidToken("invalid_request", f"more than one {PURPOSE_HEADER} header")
    try:
        return purposes.from_header(values[0])
    except PurposeError as exc:
        raise InvalidToken("invalid_request", str(exc)) from None


def _purpose(
    access: AccessToken, header_purpose: Purpose | None, purposes: PurposeRegistry
) -> Purpose | None:
    claim = access.claims.get("purpose")
    if claim is None:
        return header_purpose
    try:
        bound = purposes.from_claim(claim)
    except PurposeError as exc:
        # The token carries a purpose we cannot honour: the token is what is wrong.
        raise InvalidToken("invalid_token", f"token purpose: {exc}") from None
    if header_purpose is not None and header_purpose != bound:
        raise InvalidToken(
            "invalid_request", f"the {PURPOSE_HEADER} header differs from the token's purpose"
        )
    return bound


def _known_scopes(access: AccessToken) -> frozenset[Scope]:
    # Scopes outside the closed set (an IdP's "openid", "profile", another API's) are ignored.
    return frozenset(Scope(s) for s in access.scopes if s in _SCOPE_VALUES)


def _is_client_credentials(access: AccessToken) -> bool:
    subject = access.subject
    return (
        subject is None
        or subject == access.client_id
        or access.claims.get("gty") in CLIENT_CREDENTIALS_GTY
    )


async def _principal(access: AccessToken, clients: ClientRegistry) -> Principal:
    # Our registry speaks for the built-in server's clients only: an external issuer's client that
    # happens to share an id with one of ours must not inherit its grants (or its revocation).
    client = await clients.get(access.client_id) if access.builtin else None
    if client is not None and not client.active:
        raise InvalidToken("invalid_token", "the client of this token has been revoked")
    scopes = _known_scopes(access)
    if _is_client_credentials(access):
        if access.builtin and client is None:
            # Our own server only signs for registered clients: a deleted one is no client at all.
            raise InvalidToken("invalid_token", "the client of this token is not registered")
        personal = scopes - {Scope.OPEN_DATA}
        if Scope.SELF in personal:
            raise InvalidToken("invalid_token", "an app token cannot act for a resident (self)")
        if personal and (
            client is None or not client.admin_granted or not personal <= client.scopes
        ):
            raise InvalidToken(
                "invalid_token",
                "this app token carries personal scopes that no administrator granted its client",
            )
        return Principal(
            tier=Tier.APP, subject=access.client_id, client_id=access.client_id, scopes=scopes
        )
    if not access.user_tokens:
        raise InvalidToken("invalid_token", "this issuer is not trusted for user tokens")
    subject = access.subject
    if Scope.AUDIT_READ in scopes:
        return _user(Tier.AUDITOR, access, scopes & {Scope.AUDIT_READ, Scope.OPEN_DATA})
    if Scope.SELF in scopes:
        resident_id = access.claims.get("resident_id")
        if not isinstance(resident_id, str) or not _RESIDENT_ID.fullmatch(resident_id):
            raise InvalidToken("invalid_token", "a self-scoped token must name its resident_id")
        return _user(
            Tier.CITIZEN, access, scopes & {Scope.SELF, Scope.OPEN_DATA}, resident_id=resident_id
        )
    if scopes & DEPARTMENT_SCOPES:
        return _user(Tier.STAFF, access, scopes & (DEPARTMENT_SCOPES | {Scope.OPEN_DATA}))
    # A signed-in person with no restricted scope reads what apps read.
    return Principal(tier=Tier.APP, subject=subject, client_id=access.client_id, scopes=scopes)


def _user(tier: Tier, access: AccessToken, scopes: frozenset[Scope], **extra: Any) -> Principal:
    return Principal(
        tier=tier, subject=access.subject, client_id=access.client_id, scopes=scopes, **extra
    )
