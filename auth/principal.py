"""Who is asking: the principal of a request, decided from its bearer token and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from auth.scopes import Scope


class Tier(StrEnum):
    """Access tiers (DESIGN section 3)."""

    ANONYMOUS = "anonymous"
    APP = "app"
    STAFF = "staff"
    AUDITOR = "auditor"
    CITIZEN = "citizen"


@dataclass(frozen=True, slots=True)
class Purpose:
    """The declared reason for a restricted read: a legal basis and a case reference."""

    legal_basis: str
    case_reference: str
    covers: frozenset[Scope] = field(default_factory=frozenset)
    """Scopes this legal basis justifies (from the purpose registry)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request."""

    tier: Tier = Tier.ANONYMOUS
    subject: str | None = None
    client_id: str | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    purpose: Purpose | None = None
    resident_id: str | None = None
    """For citizens: the resident their subject is linked to."""

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


ANONYMOUS = Principal()
