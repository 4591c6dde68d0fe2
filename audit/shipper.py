"""The shipper: chains spooled public records into the log from a process of its own.

Flushing the spool inside the serving process cost it about 65 µs per request on SQLite
(aiosqlite's thread and the event loop trading the GIL), a fifth of a cached request. So, like a
log forwarder beside a web server, a child process (`python -m audit.shipper`, started by
audit.writer in "process" mode) reads what the server spooled and writes it to the log; the
server only builds each record and writes one line.

The spool folder of one writer, `<spool>/<writer chain>/`:

    lock                 flock of the writer, for its life
    ship.lock            flock of the folder's shipper, for its life
    NNNNNNNNNN.open      the segment being written (one JSON line per record)
    NNNNNNNNNN.jsonl     a sealed segment: fsync'd, closed, then renamed from .open (atomic)
    ship.status          the shipper's last contact with the log, "<pid> <n> <1|0>"

- A live folder's sealed segments are shipped in order, a batch per transaction, on the
  shipper's own chain (`ship@host-pid-random`: a chain has exactly one writer), and each is
  unlinked once all of it is in the log. Segments that were there when this shipper started, or
  that failed once, may be in the log already (a shipper killed between commit and unlink): their
  records are checked by id first.
- A folder whose `lock` and `ship.lock` are both free belongs to nobody (its writer and shipper
  died). Whoever takes both, a shipper or an inline writer, ships every segment, the open one
  included (a line torn by the crash is skipped: its response was never sent), checking every
  record id, and removes the folder.
- A shipper whose parent died takes its parent's `lock` and does the same for its own folder.

`Drain` is the part both modes share: the writer calls it itself in "inline" mode.
The configuration comes as one JSON object on stdin: the chain key must not show in
/proc/*/cmdline.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

from audit.store import AuditStoreError, ChainAppender, Prepared, new_chain_id
from storage.engines import make_engine

log = structlog.get_logger("citygraph.audit")

ShipperMode = Literal["inline", "process"]
LOCK_FILE = "lock"
SHIP_LOCK_FILE = "ship.lock"
STATUS_FILE = "ship.status"
OPEN, SEALED = ".open", ".jsonl"
STORE_DOWN = 3
"""Exit status of a shipper stopped while the log refused its records (they stay spooled)."""
FOLDER_TAKEN = 2
"""Exit status of a shipper that found another one shipping its folder."""


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


class Shipper:
    """Ships one writer's folder, and the folders nobody holds, until stopped or orphaned."""

    def __init__(
        self,
        appender: ChainAppender,
        *,
        folder: Path,
        spool_root: Path,
        batch_size: int = 500,
        flush_interval_s: float = 0.2,
        takeover_interval_s: float = 30.0,
        parent_pid: int | None = None,
    ) -> None:
        self.folder = folder
        self.spool_root = spool_root
        self.drain = Drain(appender, batch_size=batch_size)
        # the parent's death and SIGTERM are noticed within a second, whatever the interval
        self.poll_s = min(flush_interval_s, 1.0)
        self.takeover_interval_s = takeover_interval_s
        self.parent_pid = parent_pid
        self._reports = 0

    async def run(self, stop: asyncio.Event) -> int:
        """Ship until `stop` is set (then once more) or the parent dies; the exit status."""
        with flocked(self.folder, SHIP_LOCK_FILE) as mine:
            if not mine:
                log.error("another audit shipper holds this spool folder", folder=self.folder.name)
                return FOLDER_TAKEN
            self.drain.suspect(path for _, path in segments(self.folder, sealed_only=True))
            loop = asyncio.get_running_loop()
            last_takeover = -math.inf
            backoff = self.poll_s
            while True:
                # read before the pass: a pass that starts after the signal sees every segment
                # the writer sealed before sending it
                stopping = stop.is_set()
                orphaned = self.parent_pid is not None and os.getppid() != self.parent_pid
                contacts = self.drain.contacts
                ok = await (self._last_pass() if orphaned else self._pass())
                due = loop.time() - last_takeover >= self.takeover_interval_s
                if ok and due and not (stopping or orphaned):
                    last_takeover = loop.time()
                    ok = await self.drain.orphans(self.spool_root, own=self.folder)
                if self.drain.contacts != contacts:
                    self._report(ok)
                if stopping or orphaned:
                    return 0 if ok else STORE_DOWN
                # a log that is down is retried at a calmer pace, up to every 5 s
                backoff = self.poll_s if ok else min(max(backoff * 2, 0.5), 5.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)

    async def _pass(self) -> bool:
        return await self.drain.folder(self.folder, sealed_only=True)

    async def _last_pass(self) -> bool:
        """The parent died: take its lock and ship everything it left, its open segment too."""
        with flocked(self.folder, LOCK_FILE) as free:
            if not free:  # someone is taking the folder over: it ships the rest
                return await self._pass()
            if not await self.drain.folder(self.folder, sealed_only=False):
                return False
            shutil.rmtree(self.folder, ignore_errors=True)
            return True

    def _report(self, ok: bool) -> None:
        """Tell the writer how the last contact with the log went (its `store_available`)."""
        self._reports += 1
        tmp = self.folder / f".{STATUS_FILE}.tmp"
        with contextlib.suppress(FileNotFoundError):  # a folder shipped whole is gone
            tmp.write_text(f"{os.getpid()} {self._reports} {int(ok)}\n")
            os.replace(tmp, self.folder / STATUS_FILE)


class ShipperProcess:
    """The writer's handle on its shipper child: started, watched, stopped (blocking calls)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = orjson.dumps(config)
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        """Start a shipper and hand it its configuration on stdin."""
        popen = subprocess.Popen([sys.executable, "-m", "audit.shipper"], stdin=subprocess.PIPE)
        self.popen = popen
        if popen.stdin is not None:  # always, with stdin=PIPE
            with contextlib.suppress(BrokenPipeError):  # it died at once: the next check sees it
                popen.stdin.write(self._config)
            with contextlib.suppress(BrokenPipeError):
                popen.stdin.close()

    def exited(self) -> int | None:
        """The exit status of a shipper that is gone; None while it runs (or before any start)."""
        return None if self.popen is None else self.popen.poll()

    def stop(self, timeout_s: float) -> int | None:
        """SIGTERM, wait up to `timeout_s`, then SIGKILL: its exit status, or None if it was not
        running when asked (never started, or gone already: it made no last pass for us)."""
        if self.popen is None or self.popen.poll() is not None:
            return None
        self.popen.terminate()
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.error("the audit shipper did not stop in time; killed", pid=self.popen.pid)
            self.popen.kill()
            return self.popen.wait()


def shipper_config(
    appender: ChainAppender,
    *,
    folder: Path,
    spool_root: Path,
    batch_size: int,
    flush_interval_s: float,
    takeover_interval_s: float,
) -> dict[str, Any]:
    """What a writer's shipper child needs (its chain is named after the writer's, plus `ship`)."""
    server, at, _ = appender.chain_id.rpartition("@")
    return {
        "database_url": appender.engine.url.render_as_string(hide_password=False),
        "chain_key": appender.key.hex(),
        "chain_prefix": f"{server}-ship" if at else "ship",
        "folder": str(folder),
        "spool_root": str(spool_root),
        "batch_size": batch_size,
        "flush_interval_s": flush_interval_s,
        "takeover_interval_s": takeover_interval_s,
        "parent_pid": os.getpid(),
    }


async def _serve(config: dict[str, Any]) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    engine = make_engine(config["database_url"])
    try:
        appender = ChainAppender(
            engine,
            bytes.fromhex(config["chain_key"]),
            f"{config['chain_prefix']}@{new_chain_id()}",
        )
        shipper = Shipper(
            appender,
            folder=Path(config["folder"]),
            spool_root=Path(config["spool_root"]),
            batch_size=config["batch_size"],
            flush_interval_s=config["flush_interval_s"],
            takeover_interval_s=config["takeover_interval_s"],
            parent_pid=config["parent_pid"],
        )
        return await shipper.run(stop)
    finally:
        await engine.dispose()


def _configure_logging() -> None:
    # JSON lines on stderr like the server's (api.logs), and never a traceback's locals: they
    # hold the database URL and the chain key
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main() -> int:
    """`python -m audit.shipper`: configuration on stdin, runs until SIGTERM or its parent's death."""
    # Ctrl-C in a terminal reaches the whole process group: the parent stops us after its last
    # segment is sealed, with SIGTERM
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _configure_logging()
    config = orjson.loads(sys.stdin.buffer.read())
    return asyncio.run(_serve(config))


if __name__ == "__main__":
    sys.exit(main())
