"""The production server behind `citygraph serve`: uvicorn, one process per worker.

uvicorn with httptools and uvloop was chosen over granian on this machine's figures
(docs/serving.md); its httptools protocol sends each response's head and body in one write
(api.coalescing). With more than one worker, uvicorn's supervisor binds the socket once and
starts that many processes accepting on it; each builds its own app from the environment
(`app_from_environment`), so each has its own database pools, its own audit chain (chain ids
name the process) and its own audit shipper. SIGTERM or SIGINT to the supervisor sends SIGTERM to
every worker; each stops accepting, finishes the requests it holds, then runs the lifespan's
shutdown, which seals its spool and ships it. The supervisor exits when every worker has. A
worker whose supervisor dies without stopping it (SIGKILL, the OOM killer) stops itself the same
way rather than serve on as an orphan that nobody restarts or stops.

Without uvloop or httptools (a platform without wheels for them) uvicorn falls back to asyncio's
loop and h11: slower, same behaviour.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from api.app import create_app
from api.logs import configure_logging
from api.settings import Settings

log = structlog.get_logger("citygraph.server")

FACTORY = "api.server:app_from_environment"
ENV_PREFIX = "CITYGRAPH_"


def app_from_environment() -> Starlette:
    """A worker's app: settings from the environment, as the command line left it."""
    settings = Settings()
    configure_logging(settings.log_level)
    stop_with_supervisor()
    app = create_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """Keep the cyclic garbage collector off what the app built once (schema, types, metadata).

    A full collection walks every tracked object: over the built schema it paused the event
    loop for 30 to 200 ms every few seconds under load, which was the p99 of every answer.
    Frozen objects are left out of collections (they live as long as the process anyway).
    """
    gc.collect()
    gc.freeze()


def stop_with_supervisor() -> None:
    """In a worker, SIGTERM this process when the supervisor that spawned it is gone."""
    supervisor = multiprocessing.parent_process()
    if supervisor is None:  # `serve` with one worker runs in the main process: nobody to outlive
        return

    def watch() -> None:
        # the sentinel becomes ready when the supervisor exits, however it died
        multiprocessing.connection.wait([supervisor.sentinel])
        log.warning("the supervisor is gone; stopping", supervisor_pid=supervisor.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def http_protocol() -> Any:
    """httptools with a response's head and body in one write (api.coalescing), when
    httptools is installed; else uvicorn's choice (h11)."""
    try:
        from api.coalescing import CoalescingHttpTools
    except ImportError:  # no httptools wheel for this platform
        return "auto"
    return CoalescingHttpTools


def environment_of(overrides: Mapping[str, object]) -> dict[str, str]:
    """The CITYGRAPH_* variables that give a worker the command line's settings."""
    return {
        f"{ENV_PREFIX}{name.upper()}": str(value)
        for name, value in overrides.items()
        if value is not None
    }


def run(settings: Settings, overrides: Mapping[str, object]) -> None:
    """Serve `settings.workers` processes on settings.host:port until SIGTERM or SIGINT."""
    # workers are new interpreters (spawned): what they know of the command line is the environment
    os.environ.update(environment_of(overrides))
    uvicorn.run(
        FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=http_protocol(),
        loop="auto",  # uvloop when installed, else asyncio's
        log_level=settings.log_level,
        log_config=None,  # ours (api.logs), not uvicorn's
        # its access log is off (api.logs: the audit is ours); uvicorn would still build each
        # line's client and path for it, 2.4% of a 20-row page's CPU, unless told here
        access_log=False,
    )
