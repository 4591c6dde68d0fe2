"""Access marks in the schema: the `@requiresScopes` directive and the guard that enforces it.

A restricted field is declared once (its column's access mark) and gets both: the directive, so
the SDL says what it needs, and `AccessGuard`, the one enforcement point, which asks
`auth.policy.can_read` and answers null plus an `AccessDenied` error when the answer is no.

Whose record a field belongs to matters for citizens: a column guard reads the row's owner column;
a list guard says `OWN_ROWS` when its rows are filtered to the caller's own (`row_filter`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.federation import schema_directives as federation
from strawberry.schema_directive import Location

from auth.policy import NOT_PERSONAL, OWN_ROWS, PERSONAL_SCOPES, Owner, can_read, row_owner_filter
from auth.scopes import PUBLIC, Scope
from schema.context import CityContext
from schema.datasets import DatasetSpec
from schema.errors import AUDIT_UNAVAILABLE, AccessDenied, CityError
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


# Which marks the builder emits. The one-process schema keeps its own `@requiresScopes` (its SDL
# is the committed contract); a federation subgraph needs Federation's `@authenticated` and
# `@requiresScopes`, which a router reads and enforces. A context variable rather than a flag
# threaded through every builder: columns, relations, connections and aggregates all mark their
# fields through `guarded_field`, and a subgraph build sets the mode once (schema.federation).
_FEDERATION_MARKS: ContextVar[bool] = ContextVar("citygraph_federation_marks", default=False)


@contextmanager
def federation_marks() -> Iterator[None]:
    """While building a subgraph: restricted fields and types get Federation's directives."""
    token = _FEDERATION_MARKS.set(True)
    try:
        yield
    finally:
        _FEDERATION_MARKS.reset(token)


def federated_scopes(access: str) -> list[list[str]]:
    """`@requiresScopes` of an access mark, as a router checks it (OR of ANDs).

    Citizens read their own personal records with the `self` scope (auth.policy.can_read), so a
    personal scope is satisfied by either; which rows a citizen gets is the subgraph's decision.
    """
    scope = Scope(access)
    return [[access], [Scope.SELF.value]] if scope in PERSONAL_SCOPES else [[access]]


def marks(access: str) -> list[object]:
    """The schema directives of a restricted access mark, in the current build mode."""
    if access == PUBLIC:
        return []
    if _FEDERATION_MARKS.get():
        return [
            federation.Authenticated(),
            federation.RequiresScopes(scopes=federated_scopes(access)),
        ]
    return [requires(access)]


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
    info.context.restricted_read = True  # never cached (api.traffic)
    _audit(info, owner)


def _audit(info: strawberry.Info[CityContext, Any], owner: str | Owner | None) -> None:
    """Note an allowed restricted read for the access record, or refuse it when there can be none.

    The view commits the record of a request with `restricted` set before its response leaves;
    when that commit fails it runs the request again with `audit_unavailable`, and then every
    restricted read is refused here, so public fields are still served (DESIGN section 4).
    """
    context = info.context
    if context.audit_unavailable:
        context.denials.append(AUDIT_UNAVAILABLE)
        raise CityError(
            "the access log cannot be written right now, so restricted fields are not served",
            code=AUDIT_UNAVAILABLE,
        )
    context.restricted = True
    context.fields_read.add(f"{info.path.typename}.{info.field_name}")
    subject = context.principal.resident_id if owner is OWN_ROWS else owner
    if isinstance(subject, str):
        context.subjects.add(subject)


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
        kwargs.setdefault("directives", []).extend(marks(access))
    return strawberry.field(**kwargs)
