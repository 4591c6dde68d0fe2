"""Access marks in the schema: the `@requiresScopes` directive and the guard that enforces it.

A restricted field is declared once (its column's access mark) and gets both: the directive, so
the SDL says what it needs, and `AccessGuard`, the one enforcement point, which asks
`auth.policy.can_read` and answers null plus an `AccessDenied` error when the answer is no.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location

from auth.policy import can_read
from auth.scopes import PUBLIC
from schema.context import CityContext
from schema.errors import AccessDenied


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT, Location.INPUT_FIELD_DEFINITION],
    name="requiresScopes",
    description="The caller's token must carry one of these sets of scopes (OR of ANDs).",
)
class RequiresScopes:
    scopes: list[list[str]]


def requires(access: str) -> RequiresScopes:
    """The directive for an access mark."""
    return RequiresScopes(scopes=[[access]])


def check(info: strawberry.Info[CityContext, Any], access: str) -> None:
    """Raise AccessDenied unless the request's principal may read data marked `access`."""
    denied = can_read(info.context.principal, access)
    if denied is not None:
        raise AccessDenied(denied)


class AccessGuard(FieldExtension):
    """Resolves a restricted field only for principals the policy lets through."""

    def __init__(self, access: str) -> None:
        self.access = access

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        check(info, self.access)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: strawberry.Info,
        **kwargs: Any,
    ) -> Any:
        check(info, self.access)
        result = next_(source, info, **kwargs)
        return await result if hasattr(result, "__await__") else result


def guarded_field(access: str, **kwargs: Any) -> Any:
    """A strawberry field that is guarded and marked when `access` is restricted."""
    if access != PUBLIC:
        kwargs.setdefault("extensions", []).append(AccessGuard(access))
        kwargs.setdefault("directives", []).append(requires(access))
    return strawberry.field(**kwargs)
