"""Stopping background tasks: the task ends, and a cancel of whoever stops it is not lost."""

from __future__ import annotations

import asyncio

import pytest

from storage.background import stop


async def test_stop_cancels_the_task_and_waits_for_its_end() -> None:
    ended: list[str] = []

    async def loop_forever() -> None:
        try:
            await asyncio.Event().wait()  # a wake-up that never comes
        finally:
            await asyncio.sleep(0.01)  # some cleanup that takes a turn or two
            ended.append("cleaned up")

    task = asyncio.create_task(loop_forever())
    await asyncio.sleep(0)
    await stop(task)
    assert task.cancelled()
    assert ended == ["cleaned up"]


async def test_a_cancel_of_the_caller_while_it_waits_is_passed_on() -> None:
    release = asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await release.wait()  # its cleanup waits for something

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(stop(task))
    await asyncio.sleep(0.01)
    stopping.cancel()  # a shutdown of the stopper itself, e.g. its own deadline
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert task.done()


async def test_a_task_that_failed_is_logged_not_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("a bug in the loop")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    await stop(task)  # close() goes on with its other steps
    assert isinstance(task.exception(), RuntimeError)
