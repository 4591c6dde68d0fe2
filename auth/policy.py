"""The one place that decides whether a principal may read something marked with an access level.

    can_read(principal, access, owner=...) -> None (allowed) | Denied(code, reason)

- `public` data: everyone.
- restricted data (marked with a scope):
  - anonymous: UNAUTHENTICATED;
  - staff, or an app an administrator registered for the scope: only with a declared purpose
    whose legal basis covers that scope (else PURPOSE_REQUIRED, or FORBIDDEN when the purpose
    covers other scopes);
  - citizens (scope `self`, linked to a resident): only rows about themselves (`owner`);
  - anyone else: FORBIDDEN.

`owner` says whose record is being read: a resident id (the row's owner column), `OWN_ROWS` for a
list whose rows are filtered to the caller's own (see `row_owner_filter`), or `NOT_PERSONAL` for
data that is not one person's record (citizens never read those through `self`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from auth.principal import Principal, Tier
from auth.scopes import PUBLIC, Scope


class DenialCode(StrEnum):
    """Machine-readable reasons of a denial, carried in `extensions.code`."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PURPOSE_REQUIRED = "PURPOSE_REQUIRED"


class Owner(Enum):
    OWN_ROWS = "own rows"
    NOT_PERSONAL = "not personal"


OWN_ROWS = Owner.OWN_ROWS
NOT_PERSONAL = Owner.NOT_PERSONAL

PERSONAL_SCOPES = frozenset(
    {Scope.REGISTRY_READ, Scope.SOCIAL_READ, Scope.TAX_READ, Scope.URBANISM_READ}
)
"""Scopes that open personal data: staff must declare a purpose to use them."""


@dataclass(frozen=True, slots=True)
class Denied:
    code: DenialCode
    reason: str


def is_citizen(principal: Principal) -> bool:
    """A citizen reading through `self`: linked to a resident and holding the scope."""
    return (
        principal.tier is Tier.CITIZEN
        and principal.has(Scope.SELF)
        and principal.resident_id is not None
    )


def can_read(
    principal: Principal, access: str, *, owner: str | Owner | None = NOT_PERSONAL
) -> Denied | None:
    """None when `principal` may read data marked `access` (about `owner`), else why not."""
    if access == PUBLIC:
        return None
    if principal.tier is Tier.ANONYMOUS:
        return Denied(
            DenialCode.UNAUTHENTICATED, f"this field requires a token with the scope {access}"
        )
    scope = Scope(access)
    if is_citizen(principal) and scope in PERSONAL_SCOPES:
        if owner is OWN_ROWS or (isinstance(owner, str) and owner == principal.resident_id):
            return None
        return Denied(DenialCode.FORBIDDEN, "a citizen may read only their own records")
    if not principal.has(scope):
        # An app holds a personal scope only when an administrator registered it for one (a
        # department's back office): auth.resolve refuses such a claim from any other client.
        return Denied(DenialCode.FORBIDDEN, f"this field requires the scope {access}")
    if scope in PERSONAL_SCOPES:
        purpose = principal.purpose
        if purpose is None:
            return Denied(
                DenialCode.PURPOSE_REQUIRED,
                "reading personal data requires a declared purpose (legal basis and case reference)",
            )
        if scope not in purpose.covers:
            return Denied(
                DenialCode.FORBIDDEN,
                f"the declared legal basis {purpose.legal_basis} does not cover the scope {access}",
            )
    return None


def row_owner_filter(principal: Principal) -> str | None:
    """The resident id that rows of personal datasets must belong to, for a citizen; else None."""
    return principal.resident_id if is_citizen(principal) else None
