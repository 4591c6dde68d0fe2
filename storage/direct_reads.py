"""Statements sent straight through asyncpg: the compiled path's one statement per root field,
and the access log's one statement per commit group.

A compiled read is one SELECT in autocommit. Through SQLAlchemy's pool it pays a pre-ping (a
round trip), a connection wrapper, an execution context and a cache-key walk of the statement on
every request; here it pays one `fetchrow` of a statement compiled to text once. The pool is
asyncpg's own, beside the engine's (same URL, same connect arguments), opened on first use in the
running event loop, closed with the engine (storage.engines.dispose; a bare `engine.dispose()`
terminates it). The pool is storage.lean_pool's, not asyncpg's: its connections only ever run
single statements in autocommit, which leave no session state to reset, and asyncpg's pool
cost more CPU per statement than the statement's own client side.

A read that fails raises as SQLAlchemy's would; the caller answers the field another way.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from storage.lean_pool import LeanPool

POOL_SIZE = 10
"""Connections per engine and event loop, as many as the engine's own pool keeps."""
DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")
"""Connect arguments SQLAlchemy's asyncpg dialect reads itself and asyncpg.connect refuses."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A statement as asyncpg takes it: the text, with `$n` parameters, and their values."""

    sql: str
    args: tuple[Any, ...]
    names: tuple[str, ...] = ()
    """The name of each `$n` parameter, in order: a value given at run time goes there."""
    processors: tuple[Any, ...] = ()
    """What the dialect does to each value before asyncpg sends it (None: nothing)."""

    def values(self, given: Mapping[str, Any]) -> tuple[Any, ...]:
        """The parameters' values, with those `given` (a version number) in their places."""
        if not given:
            return self.args
        return tuple(
            arg if name not in given else (given[name] if p is None else p(given[name]))
            for name, arg, p in zip(self.names, self.args, self.processors, strict=True)
        )


def sent(statement: ClauseElement, engine: AsyncEngine) -> Sent:
    """Compile a statement for asyncpg once, with the engine's dialect (its casts and quoting)."""
    compiled = cast(
        SQLCompiler,
        statement.compile(dialect=engine.dialect, compile_kwargs={"render_postcompile": True}),
    )
    # a parameter without a value (a version, given at run time) is None until then
    params = compiled.construct_params(_check=False) or {}
    processors: dict[str, Any] = dict(compiled._bind_processors)
    order = tuple(compiled.positiontup or ())
    args = tuple(
        processors[name](params[name])
        if name in processors and params[name] is not None
        else params[name]
        for name in order
    )
    return _integers_inlined(
        Sent(compiled.string, args, order, tuple(processors.get(name) for name in order))
    )


_PARAMETER = re.compile(r"\$(\d+)(::[A-Z]+)?")


def _integers_inlined(statement: Sent) -> Sent:
    """The statement with its integer parameters written in its text.

    Page sizes, ranks and counts are integers the compiler chose, never a client's text. A
    statement without parameters is planned once per connection, when asyncpg prepares it;
    with any, PostgreSQL plans it again on every run (custom plans), which for a nested page
    costs more than running it. Other values (a filter's text, a cursor, a version given at run
    time) stay parameters.
    """
    keep: list[int] = []
    renumbered: dict[int, str] = {}
    for n, value in enumerate(statement.args):
        if type(value) is int and statement.processors[n] is None:
            renumbered[n + 1] = str(value)
        else:
            keep.append(n)
            renumbered[n + 1] = f"${len(keep)}"

    def replace(match: re.Match[str]) -> str:
        return renumbered[int(match.group(1))] + (match.group(2) or "")

    if len(keep) == len(statement.args):
        return statement
    return Sent(
        _PARAMETER.sub(replace, statement.sql),
        tuple(statement.args[n] for n in keep),
        tuple(statement.names[n] for n in keep),
        tuple(statement.processors[n] for n in keep),
    )


class _Pools:
    """One pool per engine and event loop (tests run apps in loops of their own)."""

    def __init__(self) -> None:
        self._pools: weakref.WeakKeyDictionary[
            AsyncEngine, dict[asyncio.AbstractEventLoop, LeanPool]
        ] = weakref.WeakKeyDictionary()
        self._opening: dict[tuple[int, int], asyncio.Future[LeanPool]] = {}
        self._last: dict[int, tuple[AsyncEngine, asyncio.AbstractEventLoop, LeanPool]] = {}
        """The pool each engine used last, by the engine's id (checked to be the same engine)."""
        self.watchers: weakref.WeakKeyDictionary[AsyncEngine, list[Callable[[str], None]]] = (
            weakref.WeakKeyDictionary()
        )

    async def pool(self, engine: AsyncEngine) -> LeanPool:
        loop = asyncio.get_running_loop()
        # by identity: an AsyncEngine compares equal through a proxy, which costs tens of µs
        last = self._last.get(id(engine))
        if last is not None and last[0] is engine and last[1] is loop and not last[2].is_closing():
            return last[2]
        found = self._pools.get(engine, {}).get(loop)
        if found is not None:
            self._last[id(engine)] = (engine, loop, found)
            return found
        key = (id(engine), id(loop))
        opening = self._opening.get(key)
        if opening is None:  # the first reads of a loop wait on one pool, not one each
            opening = self._opening[key] = asyncio.ensure_future(self._open(engine))
            opening.add_done_callback(lambda _f: self._opening.pop(key, None))
        pool = await asyncio.shield(opening)
        self._pools.setdefault(engine, {})[loop] = pool
        return pool

    async def _open(self, engine: AsyncEngine) -> LeanPool:
        _args, kwargs = engine.dialect.create_connect_args(engine.url)
        for name in DIALECT_ONLY:
            kwargs.pop(name, None)

        async def connect() -> asyncpg.Connection:
            return await asyncpg.connect(**kwargs)

        pool = LeanPool(connect, size=POOL_SIZE)
        if not event.contains(engine.sync_engine, "engine_disposed", self._disposed):
            # whoever disposes of the engine closes its direct pools too
            event.listen(engine.sync_engine, "engine_disposed", self._disposed)
        return pool

    def _disposed(self, sync_engine: Any) -> None:
        for engine in list(self._pools):
            if engine.sync_engine is sync_engine:
                self._last.pop(id(engine), None)
                for pool in self._pools.pop(engine).values():
                    pool.terminate()

    async def close(self, engine: AsyncEngine) -> None:
        """Close the engine's pool in the running loop (others died with their loops)."""
        pools = self._pools.pop(engine, {})
        self._last.pop(id(engine), None)
        loop = asyncio.get_running_loop()
        pool = pools.get(loop)
        if pool is not None:
            await pool.close()
        for other in pools.values():
            if other is not pool:
                other.terminate()


POOLS = _Pools()


async def fetch_row(
    engine: AsyncEngine, statement: Sent, given: Mapping[str, Any] | None = None
) -> Sequence[Any] | None:
    """The first row of a compiled read, or None; `given` fills parameters by name."""
    _watched(engine, statement.sql)
    pool = await POOLS.pool(engine)
    row = await pool.fetchrow(statement.sql, *statement.values(given or {}))
    return None if row is None else cast(Sequence[Any], row)


async def execute(engine: AsyncEngine, sql: str, args: Sequence[Any]) -> None:
    """Run one statement in autocommit (the audit log's appends: audit.bulk's one statement)."""
    _watched(engine, sql)
    pool = await POOLS.pool(engine)
    await pool.execute(sql, *args)


def _watched(engine: AsyncEngine, sql: str) -> None:
    if POOLS.watchers:  # a test counting statements
        for watch in POOLS.watchers.get(engine, ()):
            watch(sql)


def watch(engine: AsyncEngine, callback: Callable[[str], None]) -> None:
    """Call `callback` with each statement read directly from `engine` (StatementCounter)."""
    POOLS.watchers.setdefault(engine, []).append(callback)


def unwatch(engine: AsyncEngine, callback: Callable[[str], None]) -> None:
    callbacks = POOLS.watchers.get(engine, [])
    if callback in callbacks:
        callbacks.remove(callback)
    if not callbacks:
        POOLS.watchers.pop(engine, None)


async def close(engine: AsyncEngine) -> None:
    """Close the direct pool of `engine`, if it has one."""
    await POOLS.close(engine)
