"""The one place that decides whether a principal may read something marked with an access level.

Until the access-tiers work opens restricted data by scope and purpose, every restricted mark is
closed to everyone: closed by default, never open by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.principal import Principal, Tier
from auth.scopes import PUBLIC


class DenialCode(StrEnum):
    """Machine-readable reasons of a denial, carried in `extensions.code`."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PURPOSE_REQUIRED = "PURPOSE_REQUIRED"


@dataclass(frozen=True, slots=True)
class Denied:
    code: DenialCode
    reason: str


def can_read(principal: Principal, access: str) -> Denied | None:
    """None when `principal` may read data marked `access`, else why not."""
    if access == PUBLIC:
        return None
    if principal.tier is Tier.ANONYMOUS:
        return Denied(DenialCode.UNAUTHENTICATED, f"this field requires the scope {access}")
    return Denied(DenialCode.FORBIDDEN, f"this field requires the scope {access}")
