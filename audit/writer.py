"""The writer: restricted records committed before their response, public ones spooled and batched.

- `commit(record)`: one transaction, awaited before a restricted response leaves the server; on
  failure (database down, disk full, a frozen server past `commit_timeout_s`) it raises
  AuditUnavailable and the caller refuses the restricted fields (fail closed).
- `submit(record)`: the record is written to the spool (a local append-only file, one JSON line
  each, `os.write` straight to the kernel) before the response is sent, then flushed to the log
  in batches by a background task every `flush_interval_s` or `batch_size` records. A process
  killed outright loses nothing the kernel received; the segment is fsync'd when it is closed
  for a flush, so a power cut loses at most one flush interval.
- The spool lives in `<spool_dir>/<chain id>/NNNNNNNNNN.jsonl` segments under an flock held for
  the writer's lifetime. When the log store is unreachable, segments pile up and are replayed in
  order when it returns; a writer that finds another writer's folder unlocked (its process died)
  replays that folder's segments too. A record already in the log (a crash between commit and
  unlink) is recognised by its record id and not written twice.
- The writer keeps what it spooled in this life in memory as well, segment by segment, so a
  flush reads back only what an earlier life left (the file is for crashes, not for the flush).
- `close()` (graceful shutdown, SIGTERM through the ASGI lifespan) flushes everything it can and
  leaves the rest spooled for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
from pathlib import Path

import orjson
import structlog

from audit.chain import canonical
from audit.records import AccessRecord
from audit.store import AuditStoreError, ChainAppender, Prepared

log = structlog.get_logger("citygraph.audit")
LOCK_FILE = "lock"


class AuditUnavailable(RuntimeError):
    """A restricted read's record could not be made durable."""


class AuditWriter:
    """Appends access records to one chain: durably now, or through the spool in batches."""

    def __init__(
        self,
        appender: ChainAppender,
        spool_dir: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        commit_timeout_s: float = 2.0,
        takeover_interval_s: float = 30.0,
    ) -> None:
        self.appender = appender
        self.spool_root = spool_dir
        self.folder = spool_dir / appender.chain_id
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.commit_timeout_s = commit_timeout_s
        self.takeover_interval_s = takeover_interval_s
        self._segment = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._pending = 0
        self._memory: dict[int, list[Prepared]] = {}
        """What this writer spooled in this life, by segment: flushed without reading it back."""
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_takeover = 0.0
        self._tried: set[Path] = set()
        self.store_available = True

    # lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock this writer's spool folder, replay what earlier writers left, start flushing."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._open_segment(1)
        await self.flush()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def close(self) -> None:
        """Stop the flusher, flush everything; what the store refuses stays spooled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.flush()
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(FileNotFoundError):
            segment = self._path(self._segment)
            if segment.stat().st_size == 0:
                segment.unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock: a later writer may replay the rest
            self._lock_fd = None
        if not self._segments(self.folder):
            # nothing left to replay: the folder goes, so spool/ does not grow with every restart
            shutil.rmtree(self.folder, ignore_errors=True)

    # writing -------------------------------------------------------------------------------

    async def commit(self, record: AccessRecord) -> None:
        """Make `record` durable in the log now; AuditUnavailable if that cannot be done."""
        try:
            await asyncio.wait_for(self.appender.append([record]), self.commit_timeout_s)
        except (AuditStoreError, TimeoutError) as exc:
            self.store_available = False
            log.warning(
                "audit log unavailable for a restricted read", error_type=type(exc).__name__
            )
            raise AuditUnavailable("the access log cannot be written") from exc
        self.store_available = True

    def submit(self, record: AccessRecord) -> None:
        """Spool `record` (in the kernel before this returns); it reaches the log with the next batch."""
        if self._fd is None:
            raise RuntimeError("the audit writer is not open")
        body = record.body()
        text = canonical(body)
        line = text.encode() + b"\n"
        if os.write(self._fd, line) != len(line):  # a full disk can cut a write short
            raise OSError(errno.ENOSPC, "the audit spool is full")
        self._memory[self._segment].append((text, body))
        self._pending += 1
        if self._pending == self.batch_size:
            self._wake.set()

    # flushing ------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self.flush_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            try:
                ok = await self.flush()
            except Exception:  # a bug must not stop the flushing for good: log it, retry later
                log.error("audit flush failed", exc_info=True)
                ok = False
            # a store that is down is retried at a calmer pace, up to every 5 s
            backoff = self.flush_interval_s if ok else min(max(backoff * 2, 0.5), 5.0)

    async def flush(self) -> bool:
        """Write every spooled record to the log, oldest first; False if the store refused."""
        async with self._flush_lock:
            if self._pending:
                closed = self._rotate()
                if closed is not None:
                    # an fsync can take tens of milliseconds on a busy disk: never on the loop
                    await asyncio.to_thread(_sync_and_close, closed)
            ok = await self._drain(self.folder, keep_current=True)
            loop = asyncio.get_running_loop()
            if ok and loop.time() - self._last_takeover >= self.takeover_interval_s:
                self._last_takeover = loop.time()
                ok = await self._take_over_orphans()
            self.store_available = ok
            return ok

    def _rotate(self) -> int | None:
        """Start a new segment; the old one's descriptor, for the caller to sync and close."""
        closed = self._fd
        self._open_segment(self._segment + 1)
        return closed

    def _open_segment(self, number: int) -> None:
        existing = self._segments(self.folder)
        self._segment = max([number, *(n + 1 for n, _ in existing)])
        self._fd = os.open(self._path(self._segment), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._memory[self._segment] = []
        self._pending = 0

    def _path(self, number: int, folder: Path | None = None) -> Path:
        return (folder or self.folder) / f"{number:010d}.jsonl"

    @staticmethod
    def _segments(folder: Path) -> list[tuple[int, Path]]:
        found = []
        for path in folder.glob("*.jsonl"):
            with contextlib.suppress(ValueError):
                found.append((int(path.stem), path))
        return sorted(found)

    async def _drain(self, folder: Path, *, keep_current: bool, dedupe: bool = False) -> bool:
        for number, path in self._segments(folder):
            if keep_current and folder == self.folder and number == self._segment:
                continue
            mine = self._memory.get(number) if folder == self.folder else None
            records = mine if mine is not None else self._read(path)
            # a segment written by this writer and never tried cannot be in the log yet; one
            # left by a dead writer, or tried before (a commit whose outcome is unknown), may be
            check = dedupe or path in self._tried
            self._tried.add(path)
            try:
                for start in range(0, len(records), self.batch_size):
                    batch = records[start : start + self.batch_size]
                    if check:
                        known = await self.appender.known([b["record_id"] for _, b in batch])
                        batch = [r for r in batch if r[1]["record_id"] not in known]
                    await self.appender.append_prepared(batch)
            except AuditStoreError as exc:
                log.warning("audit log unavailable; records stay spooled", error_type=str(exc))
                return False
            path.unlink()
            self._tried.discard(path)
            if folder == self.folder:
                self._memory.pop(number, None)
        return True

    @staticmethod
    def _read(path: Path) -> list[Prepared]:
        """The records of a segment an earlier life (or another writer) left."""
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

    async def _take_over_orphans(self) -> bool:
        """Replay the spool folders of writers that died (their flock is free)."""
        if not self.spool_root.is_dir():
            return True
        for folder in sorted(p for p in self.spool_root.iterdir() if p.is_dir()):
            if folder == self.folder:
                continue
            try:
                fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer's folder
                if not await self._drain(folder, keep_current=False, dedupe=True):
                    return False
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)
        return True


def _sync_and_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
