"""The typed context of one GraphQL request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auth.principal import ANONYMOUS, Principal

if TYPE_CHECKING:
    from schema.loaders import Loaders


@dataclass(slots=True)
class CityContext:
    """What every resolver may use: who is asking, and the request's loaders."""

    loaders: Loaders
    principal: Principal = ANONYMOUS
    request_id: str = ""
    request: Any = None
    response: Any = None
    datasets_read: set[str] = field(default_factory=set)
    """Names of the datasets this request read; the audit record lists them."""
    denials: list[str] = field(default_factory=list)
    """Codes of the access denials this request met; the audit record lists them."""
