"""The shipper: chains spooled public records into the log from a process of its own.

Flushing the spool inside the serving process cost it about 65 µs per request on SQLite
(aiosqlite's thread and the event loop trading the GIL), a fifth of a cached request. So, like a
log forwarder beside a web server, a child process (`python -m audit.shipper`, started by
audit.writer in "process" mode) reads what the server spooled and writes it to the log; the
server only builds each record and writes one line.

The spool folder's files are audit.spool's.

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

`audit.spool.Drain` is the part both modes share: the writer calls it itself in "inline" mode.
The configuration comes as one JSON object on stdin: the chain key must not show in
/proc/*/cmdline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import orjson
import structlog
from structlog.tracebacks import ExceptionDictTransformer

from audit.spool import (
    LOCK_FILE,
    SHIP_LOCK_FILE,
    STATUS_FILE,
    Drain,
    flocked,
    segments,
)
from audit.store import ChainAppender, new_chain_id
from storage.engines import dispose, make_engine

log = structlog.get_logger("citygraph.audit")

ShipperMode = Literal["inline", "process"]
STORE_DOWN = 3
"""Exit status of a shipper stopped while the log refused its records (they stay spooled)."""
FOLDER_TAKEN = 2
"""Exit status of a shipper that found another one shipping its folder."""


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
                    async with asyncio.timeout(backoff):  # not wait_for: see storage.background
                        await stop.wait()

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
        await dispose(engine)


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
