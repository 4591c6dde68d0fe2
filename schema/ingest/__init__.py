"""Loading data into the city: real files (importers), manifests, and the demo's generators.

Every loader returns an `ImportReport`: how many rows each dataset received, and every row it
skipped with the reason, so a person can check what the files held that the city did not take.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from rich.progress import Progress

if TYPE_CHECKING:
    from schema.city import City

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Skipped:
    """A source row that was not loaded, and why."""

    dataset: str
    row: str
    """Where the row was: file and line, or its identifier."""
    reason: str


@dataclass
class ImportReport:
    """What one import loaded and what it skipped."""

    loaded: Counter[str] = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """Other tallies of the loaded rows, such as how each got its district (schema.placement)."""
    source: str | None = None
    """Where the rows came from (a folder, a feed): each dataset version it makes names it."""

    def skip(self, dataset: str, row: str, reason: str) -> None:
        self.skipped.append(Skipped(dataset, row, reason))

    def merge(self, other: ImportReport) -> ImportReport:
        self.loaded.update(other.loaded)
        self.skipped.extend(other.skipped)
        self.notes.extend(other.notes)
        self.counts.update(other.counts)
        return self

    def skipped_by_reason(self) -> Counter[tuple[str, str]]:
        """(dataset, reason) -> how many rows."""
        return Counter((s.dataset, s.reason) for s in self.skipped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "loaded": dict(self.loaded),
            "skipped": [
                {"dataset": d, "reason": r, "rows": n}
                for (d, r), n in self.skipped_by_reason().items()
            ],
            "notes": self.notes,
            "counts": dict(self.counts),
        }


@contextmanager
def _noop() -> Iterator[None]:
    yield


def tracked(
    items: Iterable[T], progress: Progress | None, description: str, total: int | None = None
) -> Iterator[T]:
    """Iterate `items`, advancing a progress bar when one is given."""
    if progress is None:
        yield from items
        return
    task = progress.add_task(description, total=total)
    done = 0
    for item in items:
        yield item
        done += 1
        progress.advance(task)
    # the bar ends full even when the total was an estimate
    progress.update(task, total=done, completed=done)


async def store(
    *,
    city: City,
    dataset: str,
    rows: Sequence[dict[str, Any]],
    replace: bool,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Write a dataset's rows in one transaction (replacing all its rows when `replace`).

    Readers see the old rows or the new ones, never a half-written table; a failure leaves the
    old rows. A public dataset's new version is recorded in the same transaction (storage.versions).
    The progress bar advances batch by batch.
    """
    repository = city.repository(dataset)
    then = city.versioning(dataset, origin="imported", source=report.source)
    task = progress.add_task(dataset, total=len(rows)) if progress is not None else None

    def advance(count: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, count)

    if replace:
        await repository.replace_all(rows, on_batch=advance, then=then)
    else:
        await repository.upsert(rows, on_batch=advance, then=then)
    report.loaded[dataset] += len(rows)
