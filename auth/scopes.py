"""The closed set of OAuth scopes citygraph understands, and what each one opens."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """Every scope a token may carry; anything else in a token is ignored."""

    OPEN_DATA = "open-data"
    REGISTRY_READ = "registry:read"
    SOCIAL_READ = "social:read"
    TAX_READ = "tax:read"
    URBANISM_READ = "urbanism:read"
    AUDIT_READ = "audit:read"
    SELF = "self"


PUBLIC = "public"
"""Access mark of a field or dataset that every tier, anonymous included, may read."""

SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.OPEN_DATA: "Public open data with the app tier's higher limits.",
    Scope.REGISTRY_READ: "Civil registry records (residents, households). Staff only, with a purpose.",
    Scope.SOCIAL_READ: "Social-services benefit cases. Staff only, with a purpose.",
    Scope.TAX_READ: "Property-tax assessments. Staff only, with a purpose.",
    Scope.URBANISM_READ: "Restricted urbanism fields (permit applicants). Staff only, with a purpose.",
    Scope.AUDIT_READ: "The access log and its verification. Auditors only.",
    Scope.SELF: "A citizen's own records and who consulted them.",
}
