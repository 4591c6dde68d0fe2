"""`citygraph audit verify | checkpoint | export` on a log the app wrote."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from typer.testing import CliRunner

from api.cli import app
from storage.engines import make_engine
from tests.audit.conftest import tamper
from tests.audit.helpers import PURPOSE, ask, audited_client, log_url, settings_for, token

runner = CliRunner()
STATIONS = "{ bikeStations(first: 2) { nodes { id } } }"
RESIDENTS_Q = "{ residents { nodes { id familyName } } }"


def test_verify_checkpoint_export_and_a_truncation_found(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    staff = token(tmp_path, ["registry:read"])
    with audited_client(settings) as client:
        for _ in range(3):
            ask(client, STATIONS)
            ask(client, RESIDENTS_Q, staff, **PURPOSE)
    env = {"CITYGRAPH_DATA_DIR": str(tmp_path), "CITYGRAPH_PUBLIC_URL": "http://127.0.0.1:8000"}

    verified = runner.invoke(app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    assert "the log verifies" in verified.output

    checkpoint = tmp_path / "checkpoint.jws"
    signed = runner.invoke(app, ["audit", "checkpoint", "--out", str(checkpoint)], env=env)
    assert signed.exit_code == 0, signed.output
    jwks = tmp_path / "jwks.json"
    with audited_client(settings) as client:  # the published JWKS, as an outsider gets it
        jwks.write_bytes(client.get("/.well-known/jwks.json").content)

    exported = runner.invoke(app, ["audit", "export"], env=env)
    assert exported.exit_code == 0, exported.output
    lines = [orjson.loads(line) for line in exported.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 6  # the JWKS fetch is no GraphQL request: only /graphql is recorded
    assert {line["record"]["restricted"] for line in lines} == {True, False}

    async def truncate() -> None:
        engine = make_engine(log_url(settings))
        await tamper(engine, "DELETE FROM audit_log WHERE seq > 2")
        await engine.dispose()

    asyncio.run(truncate())
    assert runner.invoke(app, ["audit", "verify"], env=env).exit_code == 0  # a shorter valid log
    found = runner.invoke(
        app, ["audit", "verify", "--checkpoint", str(checkpoint), "--jwks", str(jwks)], env=env
    )
    assert found.exit_code == 1, found.output
    assert "truncated" in found.output
