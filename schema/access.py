"""Access marks in the schema: the `@requiresScopes` directive and the guard that enforces it.

A restricted field is declared once (its column's access mark) and gets both: the directive, so
the SDL says what it needs, and `AccessGuard`, the one enforcement point, which asks
`auth.policy.can_read` and answers null plus an `AccessDenied` error when the answer is no.

Whose record a field belongs to matters for citizens: a column guard reads the row's owner column;
a list guard says `OWN_ROWS` when its rows are filtered to the caller's own (`row_filter`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location

from auth.policy import NOT_PERSONAL, OWN_ROWS, Owner, can_read, row_owner_filter
from auth.scopes import PUBLIC
from schema.context import CityContext
from schema.datasets import DatasetSpec
from schema.errors import AccessDenied
from storage.filters import Compare, Filter


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


def check(
    info: strawberry.Info[CityContext, Any], access: str, owner: str | Owner | None = NOT_PERSONAL
) -> None:
    """Raise AccessDenied unless the request's principal may read data marked `access`."""
    if access == PUBLIC:
        return
    denied = can_read(info.context.principal, access, owner=owner)
    if denied is not None:
        info.context.denials.append(str(denied.code))
        raise AccessDenied(denied)


def list_owner(spec: DatasetSpec) -> Owner:
    """Whose rows a list of `spec` holds: the caller's own when `row_filter` narrows it."""
    return OWN_ROWS if spec.restricted and spec.meta.owner else NOT_PERSONAL


def row_filter(info: strawberry.Info[CityContext, Any], spec: DatasetSpec) -> Filter | None:
    """For a citizen, the condition keeping only their own rows of a personal dataset."""
    if not (spec.restricted and spec.meta.owner):
        return None
    resident = row_owner_filter(info.context.principal)
    return None if resident is None else Compare(spec.meta.owner, "eq", resident)


class AccessGuard(FieldExtension):
    """Resolves a restricted field only for principals the policy lets through."""

    def __init__(
        self, access: str, *, owner_column: str | None = None, rows: Owner = NOT_PERSONAL
    ) -> None:
        self.access = access
        self.owner_column = owner_column
        self.rows = rows

    def _check(self, source: Any, info: strawberry.Info) -> None:
        owner: str | Owner | None = self.rows
        if self.owner_column is not None:
            owner = getattr(source, self.owner_column, None)
        check(info, self.access, owner)

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        self._check(source, info)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: strawberry.Info,
        **kwargs: Any,
    ) -> Any:
        self._check(source, info)
        result = next_(source, info, **kwargs)
        return await result if hasattr(result, "__await__") else result


def guarded_field(
    access: str, *, owner_column: str | None = None, rows: Owner = NOT_PERSONAL, **kwargs: Any
) -> Any:
    """A strawberry field that is guarded and marked when `access` is restricted."""
    if access != PUBLIC:
        kwargs.setdefault("extensions", []).append(
            AccessGuard(access, owner_column=owner_column, rows=rows)
        )
        kwargs.setdefault("directives", []).append(requires(access))
    return strawberry.field(**kwargs)
