"""Versions in compiled reads: which version of each dataset a compiled root field reads.

The decisions schema.as_of makes for today's resolvers, taken once per root field:

- a citation's run pinned to versions (`CityContext.pins`) reads each dataset at its pin;
- a page `after` or `before` a cursor that carries a version (`<cursor>.<n>`) reads its dataset
  at that version, and the datasets beneath it live;
- `asOf` (a version id or a time) reads every dataset at the version current then, resolved by
  one statement on the versions table before the field's own (storage.versions.numbers_as_of).

A dataset read at a version is read through its statement parameter (storage.compiled.objects'
`visible_rows` and `version_key`), so a statement is built once for every version. What today's
path refuses (an unknown version, a time before the first one, `asOf` reaching a dataset without
history, a cursor of another version) is handed back to it, and it answers with its own error.
What a read notes on the context (`versions_read`, `as_of`, `mixed_versions`, the datasets) is
what today's resolvers note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql.execution.values import VariableValues, get_argument_values
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from schema.as_of import CURRENT, Snapshot, read_as_of, record
from schema.compiled.plans import EntitiesPlan, HandBack, NotCompiled, RootPlan
from schema.context import CityContext
from schema.errors import BadInput
from storage.compiled.objects import version_key
from storage.paging import InvalidCursor, cursor_version
from storage.repository import Repository
from storage.versions import numbers_as_of

_VERSION_ARGUMENTS = frozenset({"asOf", "after", "before"})


@dataclass(slots=True)
class Reading:
    """The versions one compiled root field reads, and what reading them notes."""

    key: str
    """The root field's response key (`CityContext.as_of` is by it)."""
    root: str
    numbers: dict[str, int | None]
    """What a read of each dataset notes (schema.as_of.record): a version, CURRENT, or None
    for a dataset without history. Filled by `settle` for an `asOf`."""
    tables: dict[str, Table] = field(default_factory=dict)
    """The datasets read at a version, and their tables (the statement's parameters)."""
    root_shows: bool = False
    """The root page's cursors carry its version (schema.as_of.cursor_shows)."""
    nested_show: bool = False
    """So do the cursors of the lists beneath it: an `asOf` chose the version."""
    snapshot: Snapshot | None = None
    """What `CityContext.as_of` holds for the field once it ran, as begin_as_of registers it."""
    named: tuple[str, int] | None = None
    """`asOf` names this version: resolved by `settle`."""
    moment: datetime | None = None
    """`asOf` names this time: resolved by `settle`."""
    cursor: int | None = None
    """The version the root page's cursor was read from, which an `asOf` must agree with."""

    def at(self, dataset: str) -> bool:
        """Whether `dataset` is read at a version (emit's `at_version`)."""
        return dataset in self.tables

    def shows(self, dataset: str, *, root: bool) -> bool:
        """Whether a page of `dataset` gives cursors that carry its version."""
        return dataset in self.tables and (self.root_shows if root else self.nested_show)

    @property
    def resolving(self) -> bool:
        """Whether an `asOf` is resolved on the versions table before the statement runs."""
        return self.named is not None or self.moment is not None

    @property
    def fixed(self) -> bool:
        """Whether every read is of live rows: nothing to resolve or pass, the same for every
        request (api.compiled_lane keeps such a bound statement)."""
        return not self.tables and not self.resolving and self.snapshot is None

    def parameters(self, context: CityContext) -> dict[str, Any]:
        """The statement's parameters once any `asOf` is resolved: each version read."""
        if self.snapshot is not None:
            context.as_of[self.key] = self.snapshot
        return {version_key(table): self.numbers[name] for name, table in self.tables.items()}

    async def settle(self, conn: AsyncConnection, context: CityContext) -> dict[str, Any]:
        """The statement's parameters: each version read; an `asOf` is resolved first (one
        statement). HandBack, having noted nothing, when today's path answers with an error."""
        if self.named is not None or self.moment is not None:
            moment, found = await numbers_as_of(
                conn, list(self.tables), named=self.named, moment=self.moment
            )
            if moment is None or None in found.values():
                raise HandBack("asOf reaches a dataset that had no version then")
            if self.cursor is not None and found[self.root] != self.cursor:
                raise HandBack("the cursor was read from another version than asOf's")
            self.numbers.update(found)
            self.snapshot = Snapshot(moment=moment, pinned=dict([self.named] if self.named else []))
        return self.parameters(context)

    def note(self, context: CityContext, dataset: str) -> None:
        """Note a read of `dataset`, as schema.as_of.version_for does (a snapshot keeps the
        version it found for a dataset, Snapshot.number)."""
        number = self.numbers[dataset]
        snapshot = self.snapshot
        if snapshot is not None and snapshot.moment is not None and number is not None:
            snapshot.pinned.setdefault(dataset, number)
        record(context, dataset, number)


def reading(
    context: CityContext,
    plan: RootPlan,
    variables: VariableValues,
    key: str,
    versioned: frozenset[str],
) -> Reading:
    """The versions a root field reads for this request; NotCompiled when today's path would
    refuse them (or must find out by reading row by row)."""
    root = plan.dataset
    nested = dict.fromkeys(r.dataset for r in plan.reads if r.dataset != root)
    datasets = [root, *nested] if plan.reads_root else [*nested]
    live = {d: CURRENT if d in versioned else None for d in datasets}
    node = plan.root.field_node
    given = {argument.name.value for argument in node.arguments or ()} & _VERSION_ARGUMENTS
    pins = context.pins
    if pins is not None and isinstance(plan.root, EntitiesPlan):
        raise NotCompiled("_entities in a citation's run: not compiled yet")
    if pins is None and not given:
        return Reading(key, root, live)
    args = get_argument_values(plan.root.field, node, variables) if given else {}
    as_of: str | None = args.get("asOf")
    try:
        cursors = {cursor_version(c)[1] for c in (args.get("after"), args.get("before")) if c}
    except InvalidCursor as exc:
        raise NotCompiled("a cursor this API did not give") from exc
    cursors.discard(None)
    if len(cursors) > 1:
        raise NotCompiled("`after` and `before` come from two versions")
    cursor = next(iter(cursors), None)
    if cursor is not None and any(r.dataset == root for r in plan.reads):
        raise NotCompiled("the root's version would reach the same dataset beneath it")
    repositories: Mapping[str, Repository] = context.loaders.repositories
    if pins is not None:
        return _pinned(key, root, datasets, pins, versioned, repositories, as_of, cursor)
    if as_of is not None:
        return _as_of(key, root, datasets, versioned, repositories, as_of, cursor)
    if cursor is None:
        return Reading(key, root, live)
    if root not in versioned:
        raise NotCompiled(f"{root} keeps no history")
    live[root] = cursor
    return Reading(key, root, live, {root: repositories[root].table}, root_shows=True)


def _pinned(
    key: str,
    root: str,
    datasets: list[str],
    pins: Snapshot,
    versioned: frozenset[str],
    repositories: Mapping[str, Repository],
    as_of: str | None,
    cursor: int | None,
) -> Reading:
    """A citation's run: every dataset with a history at its pin (an `asOf` is not read)."""
    numbers: dict[str, int | None] = {}
    tables: dict[str, Table] = {}
    for name in datasets:
        if name not in versioned:
            if name == root and cursor is not None:
                raise NotCompiled(f"{name} keeps no history")
            numbers[name] = None  # read live, and the answer is not cited
            continue
        number = pins.pinned.get(name)
        if number is None:
            if pins.moment is not None or not pins.others_live:
                raise NotCompiled(f"{name} has no version in this snapshot")
            numbers[name] = CURRENT
            continue
        if name == root and cursor is not None and cursor != number:
            raise NotCompiled("the cursor was read from another version than the pin")
        numbers[name] = number
        tables[name] = repositories[name].table
    registered = as_of is not None
    return Reading(
        key,
        root,
        numbers,
        tables,
        root_shows=registered or cursor is not None,
        nested_show=registered,
        snapshot=pins if registered else None,
    )


def _as_of(
    key: str,
    root: str,
    datasets: list[str],
    versioned: frozenset[str],
    repositories: Mapping[str, Repository],
    as_of: str,
    cursor: int | None,
) -> Reading:
    """`asOf`: every dataset at the version current then, resolved when the field runs."""
    try:
        parsed = read_as_of(as_of)
    except BadInput as exc:
        raise NotCompiled(str(exc)) from exc
    engine = repositories[root].engine
    named = parsed if isinstance(parsed, tuple) else None
    moment = parsed if isinstance(parsed, datetime) else None
    if named is not None:
        found = repositories.get(named[0])
        if found is None or found.engine is not engine:
            raise NotCompiled(f"asOf names {named[0]!r}, not a dataset beside {root}")
    tables: dict[str, Table] = {}
    for name in datasets:
        if name not in versioned or repositories[name].engine is not engine:
            raise NotCompiled(f"asOf reaches {name}, which keeps no history beside {root}")
        tables[name] = repositories[name].table
    return Reading(
        key,
        root,
        {},
        tables,
        root_shows=True,
        nested_show=True,
        named=named,
        moment=moment,
        cursor=cursor,
    )
