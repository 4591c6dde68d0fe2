"""Group commit: restricted reads that wait at the same time share one transaction.

A restricted read's record must be durable before its answer leaves. One transaction per read,
each behind the chain's lock, made the log a queue of round trips and fsyncs: eight readers at
once waited for each other's commits in turn. Here a read's record joins a queue, and one task
appends everything queued so far in one `ChainAppender.append_prepared` call (one hop, audit.bulk),
while the next readers queue behind it:

- the chain is unchanged: records are chained in the order they were queued, gapless, exactly as
  one append per record would chain them;
- each waiter is released when the transaction that holds its record has committed, never before;
- a group that fails (the database refuses, or takes longer than `timeout_s`) fails every waiter
  in it, each with its own AuditStoreError or TimeoutError, and no other group;
- a waiter that gives up (its own deadline, a client gone) before its group is taken leaves
  nothing in the log; once taken, its record may still be committed: the log then holds a read
  that was refused, never a read it does not hold;
- `drain()` (shutdown) returns once nothing is queued or being committed.
"""

from __future__ import annotations

import asyncio
from collections import deque

from audit.store import AuditStoreError, ChainAppender, Prepared

Waiter = tuple[Prepared, "asyncio.Future[None]"]


class CommitGroups:
    """Commits queued records in groups, one transaction per group, on one chain."""

    def __init__(self, appender: ChainAppender, *, timeout_s: float, max_group: int = 500) -> None:
        self.appender = appender
        self.timeout_s = timeout_s
        self.max_group = max_group
        self._queue: deque[Waiter] = deque()
        self._task: asyncio.Task[None] | None = None
        self.groups = 0
        """Transactions committed or tried so far (the benches' records per transaction)."""

    async def commit(self, item: Prepared) -> None:
        """Return once `item` is durable in the log; AuditStoreError or TimeoutError if its group
        failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit_queued(), name="audit-commit-groups")
        await done  # a cancelled caller cancels `done`: its record is skipped if not yet taken

    async def drain(self) -> None:
        """Wait until every queued record's group has been committed (or has failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])  # its outcome is its waiters' to see

    async def _commit_queued(self) -> None:
        while self._queue:
            group = self._take()
            if not group:
                continue
            self.groups += 1
            try:
                async with asyncio.timeout(self.timeout_s):  # a frozen server fails the group
                    await self.appender.append_prepared([item for item, _ in group])
            except (AuditStoreError, TimeoutError) as exc:
                for _, done in group:
                    if not done.done():
                        done.set_exception(_each(exc))
            except BaseException as exc:  # a bug or a cancel: nobody waits for good, and it shows
                for _, done in group:
                    if not done.done():
                        done.set_exception(AuditStoreError(type(exc).__name__))
                raise
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    def _take(self) -> list[Waiter]:
        """The next group: up to `max_group` queued records whose callers still wait."""
        group: list[Waiter] = []
        while self._queue and len(group) < self.max_group:
            waiter = self._queue.popleft()
            if not waiter[1].done():
                group.append(waiter)
        return group


def _each(exc: AuditStoreError | TimeoutError) -> AuditStoreError | TimeoutError:
    """One exception per waiter (a shared one would gather every waiter's traceback)."""
    copy = type(exc)(*exc.args)
    copy.__cause__ = exc
    return copy
