"""The ceiling for Python: a bare Starlette app that answers each benchmark query with one statement.

No GraphQL at all: the request's document picks a hand-written statement (bench/peer_queries.py)
that builds the whole answer's JSON in PostgreSQL, and its text is sent as it comes. It runs on
uvicorn with httptools and uvloop, with an asyncpg pool of 8, as FIELD-NOTES describes. The
restricted page's statement also inserts its access record (a data-modifying CTE), committed with
the read before the answer leaves. It checks no token: it is what the wire, the driver and the
database cost, the bound a compiled path in Python can approach.

    BENCH_DATABASE_URL=postgresql://... uv run python -m uvicorn --factory bench.ceiling:app_from_environment
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.peer_queries import ACCESS_TABLE, SHAPES, STAFF_SHAPES, Shape

POOL_SIZE = 8
PURPOSE_HEADER = "citygraph-purpose"


def ceiling_app(database_url: str) -> Starlette:
    """The bare app over the database at `database_url` (a libpq URL)."""
    statements: dict[str, Shape] = {shape.citygraph: shape for shape in (*SHAPES, *STAFF_SHAPES)}
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(database_url, min_size=POOL_SIZE, max_size=POOL_SIZE)
        await pool.execute(ACCESS_TABLE)
        try:
            yield
        finally:
            await pool.close()

    async def graphql(request: Request) -> Response:
        try:
            shape = statements[orjson.loads(await request.body())["query"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return Response(b'{"errors":[{"message":"not a benchmark query"}]}', status_code=400)
        assert pool is not None  # noqa: S101 (the lifespan opened it)
        if shape.restricted:
            purpose = request.headers.get(PURPOSE_HEADER, "")
            text = await pool.fetchval(shape.ceiling_sql, "bench", purpose)
        else:
            text = await pool.fetchval(shape.ceiling_sql)
        return Response(text.encode(), media_type="application/json")

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)


def app_from_environment() -> Starlette:
    """What uvicorn serves: the database from BENCH_DATABASE_URL."""
    return ceiling_app(os.environ["BENCH_DATABASE_URL"])
