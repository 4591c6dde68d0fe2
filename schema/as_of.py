"""Asking the past: which version of each dataset a field reads.

A root field's `asOf` (a version id such as `bikeStations@3`, or an ISO 8601 time) becomes a
`Snapshot` for everything under that field: the named version for its own dataset, and for any
other dataset read beneath it (a station's district) the version current at that version's
time. A citation's re-run pins every dataset of the request instead (`CityContext.pins`).
Without either, fields read the live rows, as they always did, at no extra cost.

Every read records the version it used in `CityContext.versions_read`; a citation is made of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schema.errors import BadInput
from storage.versions import (
    UnknownVersion,
    find_version,
    parse_version_id,
    version_at,
    version_id,
)

if TYPE_CHECKING:
    import strawberry

    from schema.context import CityContext

    Info = strawberry.Info[CityContext, Any]

CURRENT = 0
"""In `versions_read`: the live rows were read (the citation finds their version afterwards)."""

AS_OF_DESCRIPTION = (
    "Read the data as it was: a version id (`bikeStations@3`, see `datasets { versions }`) or "
    "an ISO 8601 time with its offset (`2026-12-01T12:00:00Z`). Rows under this field, related "
    "datasets included, are read as of that moment. Default: the current rows."
)


@dataclass(slots=True)
class Snapshot:
    """The version of each dataset to read: pinned ones, else the one current at `moment`."""

    moment: datetime | None = None
    pinned: dict[str, int] = field(default_factory=dict)
    others_live: bool = False
    """Datasets neither pinned nor placed by `moment` read their live rows (an export's pins)."""

    async def number(self, info: Info, dataset: str) -> int | None:
        """The version of `dataset` this snapshot reads (None: live); BadInput when it has none."""
        found = self.pinned.get(dataset)
        if found is not None:
            return found
        if self.moment is None:
            if self.others_live:
                return None
            raise BadInput(f"{dataset} has no version in this snapshot")
        engine = info.context.loaders.repositories[dataset].engine
        try:
            version = await version_at(engine, dataset, self.moment)
        except UnknownVersion as exc:
            raise BadInput(str(exc)) from exc
        self.pinned[dataset] = version.number
        return version.number


def read_as_of(text: str) -> tuple[str, int] | datetime:
    """An `asOf` argument as a version id (dataset, number) or a time in UTC; BadInput for a
    bad time. Whether the version or the dataset exists is for the database to say."""
    named = parse_version_id(text)
    if named is not None:
        return named
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadInput(
            f"asOf {text!r} is neither a version id (`bikeStations@3`) nor an ISO 8601 time"
        ) from exc
    if moment.tzinfo is None:
        raise BadInput(f"asOf {text!r} has no time zone: add `Z` or an offset such as `+01:00`")
    return moment.astimezone(UTC)


async def parse_as_of(info: Info, text: str) -> Snapshot:
    """A Snapshot from an `asOf` argument; BadInput for an unknown version or a bad time."""
    named = read_as_of(text)
    if isinstance(named, tuple):
        dataset, number = named
        repository = info.context.loaders.repositories.get(dataset)
        if repository is None:
            raise BadInput(f"asOf names {dataset!r}, which is no dataset of this API")
        try:
            version = await find_version(repository.engine, dataset, number)
        except UnknownVersion as exc:
            raise BadInput(str(exc)) from exc
        return Snapshot(moment=version.created_at, pinned={dataset: number})
    return Snapshot(moment=named)


def _root_key(info: Info) -> Any:
    path = info.path
    while path.prev is not None:
        path = path.prev
    return path.key


async def begin_as_of(info: Info, as_of: str | None) -> None:
    """Register a root field's `asOf` for every read beneath it."""
    if as_of is None:
        return
    if info.context.pins is not None:
        # a citation's re-run pins every dataset to the versions this asOf resolved to; the
        # field is still one with an asOf, whose cursors name their version (cursor_shows)
        info.context.as_of[_root_key(info)] = info.context.pins
        return
    info.context.as_of[_root_key(info)] = await parse_as_of(info, as_of)


def cursor_shows(info: Info, cursor_version: int | None) -> bool:
    """Whether a page's cursors carry its version: when `asOf` or a cursor chose it.

    A citation's pins do not: the re-run of an answer read live must give the same cursors.
    """
    context = info.context
    return cursor_version is not None or (bool(context.as_of) and _root_key(info) in context.as_of)


async def version_for(
    info: Info, dataset: str, *, versioned: bool, cursor_version: int | None = None
) -> int | None:
    """The version of `dataset` this field reads (None: the live rows), recorded for citations.

    `cursor_version` is the version an `after`/`before` cursor was read from: without a
    snapshot the page is read from it too; with one, it must be the snapshot's.
    """
    context = info.context
    snapshot = context.pins
    if snapshot is None and context.as_of:
        snapshot = context.as_of.get(_root_key(info))
    if not versioned:
        if cursor_version is None and (snapshot is None or snapshot is context.pins):
            # pins pin what has a history; the rest is read live, and the answer is not cited
            record(context, dataset, None)
            return None
        raise BadInput(f"{dataset} keeps no history (it holds personal data): asOf cannot reach it")
    if snapshot is None:
        record(context, dataset, CURRENT if cursor_version is None else cursor_version)
        return cursor_version
    number = await snapshot.number(info, dataset)
    if number is None:
        record(context, dataset, CURRENT)
        return None
    if cursor_version is not None and cursor_version != number:
        raise BadInput(
            f"the cursor was read from {version_id(dataset, cursor_version)}, "
            f"not {version_id(dataset, number)}: a walk stays in the version it started in"
        )
    record(context, dataset, number)
    return number


def record(context: CityContext, dataset: str, number: int | None) -> None:
    """Note that `dataset` was read at `number` (CURRENT: the live rows; None: no history)."""
    context.datasets_read.add(dataset)
    seen = context.versions_read.get(dataset, number)
    if dataset in context.observed and seen == context.observed[dataset]:
        # live rows read by a compiled statement, which also saw their version
        if number != CURRENT:
            context.mixed_versions = True  # live rows beside a version, as today's path sees it
        # beside live rows read by today's path: the check after the answer (api.citing)
        # covers both, knowing what the compiled read saw
        context.versions_read[dataset] = number
        return
    if seen != number:
        context.mixed_versions = True  # two fields read two versions: no one pin reproduces it
    context.versions_read[dataset] = number


def observe(context: CityContext, dataset: str, number: int | None) -> None:
    """Note a read of `dataset`'s live rows by a statement that read their version `number` in
    the same snapshot (None: the dataset has no version yet, which no citation can name)."""
    if number is None:
        context.observed[dataset] = None
        record(context, dataset, CURRENT)
        return
    context.datasets_read.add(dataset)
    first = dataset not in context.observed
    if not first and context.observed[dataset] != number:
        context.mixed_versions = True  # two statements saw two versions
    context.observed.setdefault(dataset, number)
    if dataset not in context.versions_read:
        context.versions_read[dataset] = number
    elif context.versions_read[dataset] != CURRENT and first:
        context.mixed_versions = True  # beside a version read by asOf: as today's path sees it
