"""The spool's files and the drain that ships them: what the writer and the shipper share.

The spool folder of one writer, `<spool>/<writer chain>/`:

    lock                 flock of the writer, for its life
    ship.lock            flock of the folder's shipper, for its life
    NNNNNNNNNN.open      the segment being written (one JSON line per record)
    NNNNNNNNNN.jsonl     a sealed segment: fsync'd, closed, then renamed from .open (atomic)
    ship.status          the shipper's last contact with the log, "<pid> <n> <1|0>"

`Drain` chains a folder's segments into the log in order and unlinks each once all of it is in;
audit.writer calls it itself in "inline" mode, audit.shipper from its own process otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import structlog

from audit.store import AuditStoreError, ChainAppender, Prepared

log = structlog.get_logger("citygraph.audit")

LOCK_FILE = "lock"
SHIP_LOCK_FILE = "ship.lock"
STATUS_FILE = "ship.status"
OPEN, SEALED = ".open", ".jsonl"


def segments(folder: Path, *, sealed_only: bool) -> list[tuple[int, Path]]:
    """The segments of a spool folder by number: sealed ones, and open ones unless `sealed_only`."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        stem, _, suffix = entry.name.partition(".")
        if f".{suffix}" == SEALED or (f".{suffix}" == OPEN and not sealed_only):
            with contextlib.suppress(ValueError):
                found.append((int(stem), Path(entry.path)))
    return sorted(found)


def read_segment(path: Path) -> list[Prepared]:
    """The records of a segment an earlier life, another writer, or the writer process left."""
    records: list[Prepared] = []
    for line in path.read_bytes().splitlines():
        if not line.strip():
            continue
        try:
            body = orjson.loads(line)
            if not isinstance(body, dict) or "record_id" not in body:
                raise ValueError("not a record")
        except ValueError:
            # a line cut short by a crash mid-write: its response was never sent
            log.warning("skipped a torn spool line", segment=path.name)
            continue
        records.append((line.decode(), body))
    return records


@contextlib.contextmanager
def flocked(folder: Path, *names: str) -> Iterator[bool]:
    """Try to take every named flock of `folder` at once; whether all were free. Released on exit."""
    fds: list[int] = []
    free = True
    try:
        for name in names:
            try:
                fds.append(os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o600))
                fcntl.flock(fds[-1], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held (BlockingIOError), or the folder went away
                free = False
                break
        yield free
    finally:
        for fd in fds:
            os.close(fd)


def _folders(spool_root: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(spool_root) if e.is_dir())
    except FileNotFoundError:
        return []


class Drain:
    """Ships spool segments through one appender: in order, every record at most once."""

    def __init__(self, appender: ChainAppender, *, batch_size: int) -> None:
        self.appender = appender
        self.batch_size = batch_size
        self.contacts = 0
        """Transactions tried so far: whether a pass reached for the log at all."""
        self._suspect: set[Path] = set()

    def suspect(self, paths: Iterable[Path]) -> None:
        """Segments that may be in the log already (tried before, perhaps by an earlier shipper)."""
        self._suspect.update(paths)

    async def folder(
        self,
        folder: Path,
        *,
        sealed_only: bool,
        dedupe: bool = False,
        memory: dict[int, list[Prepared]] | None = None,
    ) -> bool:
        """Ship `folder`'s segments, oldest first; False (the rest kept) if the log refused.

        `memory` holds what the calling writer spooled in this life, by segment: those are
        shipped without reading the file back.
        """
        for number, path in segments(folder, sealed_only=sealed_only):
            mine = memory.get(number) if memory is not None else None
            records = mine if mine is not None else read_segment(path)
            # a segment that nobody has tried cannot be in the log yet; one left by a dead
            # writer, or tried before (a commit whose outcome is unknown), may be
            check = dedupe or path in self._suspect
            self._suspect.add(path)
            try:
                for start in range(0, len(records), self.batch_size):
                    batch = records[start : start + self.batch_size]
                    self.contacts += 1
                    if check:
                        known = await self.appender.known([b["record_id"] for _, b in batch])
                        batch = [r for r in batch if r[1]["record_id"] not in known]
                    await self.appender.append_prepared(batch)
            except AuditStoreError as exc:
                log.warning("audit log unavailable; records stay spooled", error_type=str(exc))
                return False
            path.unlink()
            self._suspect.discard(path)
            if memory is not None:
                memory.pop(number, None)
        return True

    async def orphans(self, spool_root: Path, *, own: Path) -> bool:
        """Ship the folders whose writer and shipper are both gone (`lock` and `ship.lock` free)."""
        for folder in _folders(spool_root):
            if folder == own:
                continue
            with flocked(folder, LOCK_FILE, SHIP_LOCK_FILE) as free:
                if not free:
                    continue  # a live writer's folder, or a live shipper's
                if not await self.folder(folder, sealed_only=False, dedupe=True):
                    return False
                shutil.rmtree(folder, ignore_errors=True)
        return True
