"""The writer: restricted records committed before their response, public ones spooled and batched.

- `commit(record)`: the record is committed on the writer's chain, awaited before a restricted
  response leaves the server; on failure (database down, disk full, a frozen server past
  `commit_timeout_s`) it raises AuditUnavailable and the caller refuses the restricted fields
  (fail closed). Reads that commit at the same time share a transaction (audit.group).
- `submit(record)`: the record is written to the spool (a local append-only file, one JSON line
  each, `os.write` straight to the kernel) before the response is sent. A process killed
  outright loses nothing the kernel received.
- The spool is `<spool_dir>/<chain id>/`, under an flock held for the writer's lifetime. The
  segment being written is `NNNNNNNNNN.open`; every `flush_interval_s` (or `batch_size` records)
  it is sealed: fsync'd and closed off the event loop, then renamed to `NNNNNNNNNN.jsonl`, so a
  power cut loses at most one flush interval. Sealed segments are what gets shipped to the log
  (audit.spool describes the folder, audit.shipper who ships what).
- Two ways to ship (`shipper`):
  - "process": a child process (`python -m audit.shipper`) ships the sealed segments on a chain
    of its own; this process only seals. If the child dies it is logged and replaced at the next
    tick; `close()` seals the last segment, stops the child (SIGTERM, then SIGKILL after 15 s) and
    ships itself whatever a child that did not finish cleanly left.
  - "inline": this process's own task ships, on its own chain. What it spooled in this life is
    kept in memory too, segment by segment, so a flush reads back only what an earlier life left.
- When the log store is unreachable, segments pile up and are shipped in order when it returns;
  folders left by dead writers are shipped by whoever finds them (audit.spool.Drain.orphans).
  A record already in the log (a crash between commit and unlink) is recognised by its record id.
- `store_available` (the metrics' gauge): whether the last contact with the log succeeded, be it
  a commit or a flush here, or, in "process" mode, the shipper's last pass, which it reports in
  `ship.status`, read at each tick.
- `close()` (graceful shutdown, SIGTERM through the ASGI lifespan) ships everything it can,
  retrying a log that refuses for up to `close_ship_timeout_s` (10 s), and leaves the rest
  spooled for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from audit.chain import canonical, canonical_line
from audit.group import CommitGroups
from audit.records import RecordBody
from audit.shipper import STORE_DOWN, ShipperMode, ShipperProcess, shipper_config
from audit.spool import (
    LOCK_FILE,
    OPEN,
    SEALED,
    SHIP_LOCK_FILE,
    STATUS_FILE,
    Drain,
    flocked,
    segments,
)
from audit.store import AuditStoreError, ChainAppender, Prepared
from storage.background import stop

log = structlog.get_logger("citygraph.audit")

SHIPPER_STOP_TIMEOUT_S = 15.0
CLOSE_SHIP_TIMEOUT_S = 10.0
"""How long a shutdown keeps retrying a log that refuses (a lock another connection holds a
moment longer than SQLite's busy timeout, a database restarting) before it leaves the rest
spooled for the next start."""
SHIPPER_QUICK_DEATH_S = 10.0
"""A shipper that dies younger than this is restarted ever more calmly (1 s, 2 s, ... 60 s)."""


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
        shipper: ShipperMode = "inline",
        close_ship_timeout_s: float = CLOSE_SHIP_TIMEOUT_S,
    ) -> None:
        self.appender = appender
        self.spool_root = spool_dir
        self.folder = spool_dir / appender.chain_id
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.commit_timeout_s = commit_timeout_s
        self.takeover_interval_s = takeover_interval_s
        self.close_ship_timeout_s = close_ship_timeout_s
        self.mode = shipper
        self._segment = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._pending = 0
        self._memory: dict[int, list[Prepared]] = {}
        """What this writer spooled in this life, by segment: flushed without reading it back."""
        self._drain = Drain(appender, batch_size=batch_size)
        self._shipper: ShipperProcess | None = None
        self._shipper_started = 0.0
        self._quick_deaths = 0
        self._restart_after = 0.0
        self._status = b""
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Future[None]] = set()
        self._last_takeover = 0.0
        self.groups = CommitGroups(appender, timeout_s=commit_timeout_s)
        self.store_available = True

    @property
    def shipper_pid(self) -> int | None:
        """The pid of the current shipper child ("process" mode)."""
        return self._shipper.pid if self._shipper is not None else None

    def spooled_segments(self) -> int:
        """Segments in this writer's spool folder, the one being written included: a number that
        grows while the log is behind (or down), for the metrics; a directory listing, no more."""
        return len(segments(self.folder, sealed_only=False))

    # lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Lock this writer's spool folder, start shipping (and replay what dead writers left)."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._open_segment(1)
        if self.mode == "process":
            self._shipper = ShipperProcess(
                shipper_config(
                    self.appender,
                    folder=self.folder,
                    spool_root=self.spool_root,
                    batch_size=self.batch_size,
                    flush_interval_s=self.flush_interval_s,
                    takeover_interval_s=self.takeover_interval_s,
                )
            )
            await self._start_shipper()  # it takes over dead writers' folders as it starts
            self._task = asyncio.create_task(self._seal_forever(), name="audit-writer")
        else:
            await self.flush()
            self._task = asyncio.create_task(self._flush_forever(), name="audit-writer")

    async def close(self) -> None:
        """Seal the last segment and ship everything; what the store refuses stays spooled."""
        await self.groups.drain()  # restricted reads still waiting for their commit get it
        if self._task is not None:
            await stop(self._task)  # its waits use asyncio.timeout: see storage.background
            self._task = None
        # a seal or a shipper start the task was awaiting has to be over before the last steps
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        async with self._flush_lock:
            await self._seal(reopen=False)
        if self._shipper is not None:
            await self._stop_shipper()
        else:
            await self._until_shipped(self.flush)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock: a later writer may replay the rest
            self._lock_fd = None
        if not segments(self.folder, sealed_only=False):
            # nothing left to replay: the folder goes, so spool/ does not grow with every restart
            shutil.rmtree(self.folder, ignore_errors=True)

    # writing -------------------------------------------------------------------------------

    async def commit(self, body: RecordBody) -> None:
        """Make a record durable in the log now; AuditUnavailable if that cannot be done."""
        try:
            async with asyncio.timeout(self.commit_timeout_s):
                await self.groups.commit((canonical(body), body))
        except (AuditStoreError, TimeoutError) as exc:
            self.store_available = False
            log.warning(
                "audit log unavailable for a restricted read",
                error_type=str(exc) or type(exc).__name__,  # an AuditStoreError names its code
            )
            raise AuditUnavailable("the access log cannot be written") from exc
        self.store_available = True

    def submit(self, body: RecordBody) -> None:
        """Spool a record (in the kernel before this returns); it reaches the log with the next batch."""
        if self._fd is None:
            raise RuntimeError("the audit writer is not open")
        line = canonical_line(body)
        if os.write(self._fd, line) != len(line):  # a full disk can cut a write short
            raise OSError(errno.ENOSPC, "the audit spool is full")
        if self._shipper is None:  # inline: flushed from memory; a shipper reads the file
            self._memory[self._segment].append((line[:-1].decode(), body))
        self._pending += 1
        if self._pending == self.batch_size:
            self._wake.set()

    # shipping ------------------------------------------------------------------------------

    async def _until_shipped(self, ship: Callable[[], Awaitable[bool]]) -> None:
        """At shutdown: ship, and retry a refusing log until close_ship_timeout_s has passed.

        One refusal used to end it: a lock held a moment past SQLite's busy timeout left every
        public record of the run spooled until the next start (seen in CI).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_ship_timeout_s
        pause = 0.1
        while not await ship():
            if loop.time() + pause >= deadline:
                log.warning("the access log still refuses at shutdown; records stay spooled")
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def flush(self) -> bool:
        """Seal the current segment and ship every sealed one, oldest first; False if the store
        refused. In "process" mode, sealing is all (the shipper ships): the last known state."""
        async with self._flush_lock:
            if self._pending:
                await self._seal(reopen=True)
            if self._shipper is not None:
                return self.store_available
            ok = await self._drain.folder(self.folder, sealed_only=True, memory=self._memory)
            loop = asyncio.get_running_loop()
            if ok and loop.time() - self._last_takeover >= self.takeover_interval_s:
                self._last_takeover = loop.time()
                ok = await self._drain.orphans(self.spool_root, own=self.folder)
            self.store_available = ok
            return ok

    async def _flush_forever(self) -> None:
        backoff = self.flush_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):  # not wait_for: see storage.background
                    await self._wake.wait()
            self._wake.clear()
            try:
                ok = await self.flush()
            except Exception:  # a bug must not stop the flushing for good: log it, retry later
                log.error("audit flush failed", exc_info=True)
                ok = False
            # a store that is down is retried at a calmer pace, up to every 5 s
            backoff = self.flush_interval_s if ok else min(max(backoff * 2, 0.5), 5.0)

    async def _seal_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval_s):  # not wait_for (background)
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                await self._tend_shipper()
            except Exception:  # a bug must not stop the sealing for good: log it, retry later
                log.error("audit segment rotation failed", exc_info=True)

    async def _seal(self, *, reopen: bool) -> None:
        """Seal the current segment (fsync, close, rename to .jsonl), or drop it when empty."""
        fd, number = self._fd, self._segment
        if reopen:
            self._open_segment(number + 1)
        else:
            self._fd = None
            self._pending = 0
        if self._shipper is not None:
            self._memory.pop(number, None)  # the shipper reads the file
        if fd is None:
            return
        opened, sealed = self._path(number, OPEN), self._path(number, SEALED)
        # an fsync can take tens of milliseconds on a busy disk: never on the loop
        await self._off_loop(_sync_and_seal, fd, opened, sealed)

    async def _off_loop(self, func: Callable[..., None], *args: Any) -> None:
        """Run `func` in a thread; close() waits for it even when its caller was cancelled."""
        future = asyncio.ensure_future(asyncio.to_thread(func, *args))
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)
        await asyncio.shield(future)

    def _open_segment(self, number: int) -> None:
        existing = segments(self.folder, sealed_only=False)
        self._segment = max([number, *(n + 1 for n, _ in existing)])
        self._fd = os.open(
            self._path(self._segment, OPEN), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        self._memory[self._segment] = []
        self._pending = 0

    def _path(self, number: int, suffix: str) -> Path:
        return self.folder / f"{number:010d}{suffix}"

    # the shipper child ("process" mode) ------------------------------------------------------

    async def _start_shipper(self) -> None:
        if self._shipper is not None:
            self._shipper_started = asyncio.get_running_loop().time()
            await self._off_loop(self._shipper.start)  # a fork and exec: not on the loop

    async def _tend_shipper(self) -> None:
        """Replace a shipper that died; read how its last contact with the log went."""
        if self._shipper is None:
            return
        returncode = self._shipper.exited()
        now = asyncio.get_running_loop().time()
        if returncode is not None and now >= self._restart_after:
            log.error(
                "the audit shipper exited; starting another",
                pid=self._shipper.pid,
                returncode=returncode,
            )
            # one that cannot live (a broken install, say) must not flood the logs
            quick = now - self._shipper_started < SHIPPER_QUICK_DEATH_S
            self._quick_deaths = self._quick_deaths + 1 if quick else 0
            self._restart_after = now + min(2.0 ** (self._quick_deaths - 1), 60.0)
            await self._start_shipper()
        self._read_status()

    def _read_status(self) -> None:
        try:
            status = (self.folder / STATUS_FILE).read_bytes()
        except OSError:
            return
        if status != self._status:  # a new report (each carries its shipper's pid and number)
            self._status = status
            self.store_available = status.endswith(b" 1\n")

    async def _stop_shipper(self) -> None:
        """Stop the child after its last pass; ship what it left if it did not finish cleanly."""
        if self._shipper is None:
            return
        returncode = await asyncio.to_thread(self._shipper.stop, SHIPPER_STOP_TIMEOUT_S)
        self._read_status()
        if returncode == 0:
            return
        if returncode == STORE_DOWN:  # its last pass found the log refusing: try again here
            with flocked(self.folder, SHIP_LOCK_FILE) as free:
                if free:
                    await self._until_shipped(self._ship_sealed)
            return
        # gone before it was asked (a crash, or a SIGTERM to the whole process group before the
        # last segment was sealed), or killed: it may also have committed a segment it did not
        # unlink, so every record is checked against the log
        log.warning(
            "the audit shipper did not finish; shipping here", returncode=self._shipper.exited()
        )
        with flocked(self.folder, SHIP_LOCK_FILE) as free:
            if free:  # else some shipper still runs: it ships them, or the next start does
                await self._until_shipped(self._ship_sealed)

    async def _ship_sealed(self) -> bool:
        """Ship the sealed segments a shipper left, each record checked against the log."""
        ok = await self._drain.folder(self.folder, sealed_only=True, dedupe=True)
        self.store_available = ok
        return ok


def _sync_and_seal(fd: int, opened: Path, sealed: Path) -> None:
    """fsync and close a segment, then rename it to its sealed name (an empty one goes)."""
    try:
        os.fsync(fd)
    except OSError as exc:
        # sealed all the same: its lines are in the kernel, and shipping them is what matters
        log.error("could not fsync an audit spool segment", error_type=type(exc).__name__)
    try:
        empty = os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
    if empty:
        opened.unlink(missing_ok=True)
    else:
        os.rename(opened, sealed)  # atomic: a shipper sees the whole segment or none of it
