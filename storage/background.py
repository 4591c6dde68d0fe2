"""Background tasks of a process (the audit writer's, the load news listener's): how they stop.

Their loops wait with `asyncio.timeout`, never `asyncio.wait_for`: on Python 3.11, a wait_for whose
inner wake-up completed in the same turn of the loop as a cancel returned the wake-up and dropped
the cancel (CPython gh-86296), so the task ran on and whoever awaited its end waited for ever
(tests/audit/test_writer.py has the case that hung a shutdown).
"""

from __future__ import annotations

import asyncio

import structlog

log = structlog.get_logger("citygraph.background")


async def stop(task: asyncio.Task[object]) -> None:
    """Cancel `task` and wait for its end; a cancel of the caller meanwhile is passed on."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():  # the caller itself was cancelled
            raise
    except Exception:  # the task's own failure, at its end: worth a line, not a crash of close()
        log.warning("background task failed", task=task.get_name(), exc_info=True)
