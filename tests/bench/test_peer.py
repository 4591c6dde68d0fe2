"""PostGraphile, as bench.peer runs it, answers the benchmark's questions as citygraph does.

Keeps the benchmark honest as either side changes: same rows, same answers once parsed. Needs
tools/peer installed (`npm ci --prefix tools/peer`, as .ci/run does: Node 22 and PostGraphile 5).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bench.harness import free_port, stop
from bench.peer import peer_installed, start_postgraphile
from bench.peer_database import FOREIGN_KEY
from bench.peer_queries import SHAPES, differences
from tests.audit.helpers import audited_client, settings_for
from tests.services import libpq_url, missing


@pytest.mark.node
@pytest.mark.postgres
@pytest.mark.slow
def test_postgraphile_answers_what_citygraph_answers(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    if not peer_installed():
        missing("node", "tools/peer is not installed; run `npm ci --prefix tools/peer`")
    asked = [shape for shape in SHAPES if shape.postgraphile is not None]
    # given citygraph's answers on a seeded database
    with audited_client(settings_for(tmp_path, database_url=fresh_postgres_url)) as client:
        ours = {s.name: client.post("/graphql", json={"query": s.citygraph}).json() for s in asked}
    database = libpq_url(fresh_postgres_url)

    async def constrain() -> None:  # what bench.peer adds to its database for the relation
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(FOREIGN_KEY)
        finally:
            await conn.close()

    asyncio.run(constrain())
    # when PostGraphile is asked the same questions in its own names
    port = free_port()
    proc = start_postgraphile(database, port)
    try:
        theirs: dict[str, Any] = {
            s.name: httpx.post(
                f"http://127.0.0.1:{port}/graphql", json={"query": s.postgraphile}, timeout=30
            ).json()
            for s in asked
        }
    finally:
        stop([proc])
    # then every answer is the same once parsed (aggregates by group)
    for shape in asked:
        answers = {"citygraph": ours[shape.name], "postgraphile": theirs[shape.name]}
        assert differences(shape, answers) == [], (shape.name, answers)
