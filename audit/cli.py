"""`citygraph audit verify | checkpoint | export | grant`: a typer sub-app for the main CLI.

audit must not import api/, so the commands take a loader of `AuditCliConfig` that the main CLI
builds from its settings: `app.add_typer(audit_cli(load), name="audit")`.

Exit status: 0 when the log verifies, 1 when a chain is broken or a checkpointed head is missing,
2 for a usage or configuration problem (a bad checkpoint file, an unreadable key).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import typer
from sqlalchemy import select

from audit.chain import ChainKeyError, load_key
from audit.checkpoint import CheckpointError, read_checkpoint, sign_checkpoint
from audit.store import audit_log, grant_append_only
from audit.verify import verify
from auth.keys import KeyStore
from storage.engines import dispose, make_engine

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuditCliConfig:
    """What the audit commands need from the settings."""

    database_url: str
    audit_dir: Path
    chain_key: str | None
    keys_dir: Path
    issuer: str
    signing_alg: str = "RS256"


ConfigLoader = Callable[[], AuditCliConfig]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _run(config: AuditCliConfig, work: Callable[[Any, bytes], Awaitable[T]]) -> T:
    try:
        key = load_key(config.audit_dir, config.chain_key)
    except ChainKeyError as exc:
        raise _fail(str(exc)) from exc

    async def run() -> T:
        engine = make_engine(config.database_url)
        try:
            return await work(engine, key)
        finally:
            await dispose(engine)

    return asyncio.run(run())


def audit_cli(load: ConfigLoader) -> typer.Typer:
    """The `audit` sub-app."""
    app = typer.Typer(help="Verify, checkpoint and export the access log.", no_args_is_help=True)

    @app.command("verify")
    def verify_command(
        checkpoint: Annotated[
            Path | None,
            typer.Option(help="An earlier checkpoint: its heads must still be in the log."),
        ] = None,
        jwks: Annotated[
            Path | None,
            typer.Option(help="JWKS to check the checkpoint with (default: our published keys)."),
        ] = None,
    ) -> None:
        """Check every chain; report the first broken record of each. Exit 1 if any."""
        config = load()
        heads = None
        if checkpoint is not None:
            key_set = (
                json.loads(jwks.read_text())
                if jwks
                else KeyStore(config.keys_dir, alg=config.signing_alg).signing_keys().jwks()
            )
            try:
                heads = read_checkpoint(checkpoint.read_text(), key_set)
            except (CheckpointError, OSError) as exc:
                raise _fail(str(exc)) from exc
        report = _run(config, lambda engine, key: verify(engine, key, checkpoint_heads=heads))
        for chain in report.chains:
            state = "ok" if chain.broken is None else "BROKEN"
            typer.echo(
                f"{state:6} {chain.chain_id}  {chain.records} records, head {chain.head_seq}"
            )
        for problem in report.problems():
            typer.echo(f"broken: {problem}")
        if not report.ok:
            raise typer.Exit(1)
        typer.echo(f"the log verifies: {len(report.chains)} chains")

    @app.command("checkpoint")
    def checkpoint_command(
        out: Annotated[Path | None, typer.Option(help="Write it here instead of stdout.")] = None,
    ) -> None:
        """Verify the log and print a signed checkpoint (JWS) of every chain's head."""
        config = load()
        report = _run(config, lambda engine, key: verify(engine, key))
        if not report.ok:
            for problem in report.problems():
                typer.echo(f"broken: {problem}", err=True)
            raise typer.Exit(1)
        keys = KeyStore(config.keys_dir, alg=config.signing_alg).signing_keys()
        token = sign_checkpoint(report, keys=keys, issuer=config.issuer)
        if out is None:
            typer.echo(token)
        else:
            out.write_text(token + "\n")
            typer.echo(f"checkpoint of {len(report.chains)} chains written to {out}", err=True)

    @app.command("export")
    def export_command(
        since: Annotated[datetime | None, typer.Option(help="From this time (ISO 8601).")] = None,
        until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
        out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    ) -> None:
        """The log as JSON lines: each record's body with its chain, sequence number and HMAC."""
        config = load()

        async def export(engine: Any, _key: bytes) -> int:
            query = select(audit_log).order_by(
                audit_log.c.at, audit_log.c.chain_id, audit_log.c.seq
            )
            if since is not None:
                query = query.where(audit_log.c.at >= since)
            if until is not None:
                query = query.where(audit_log.c.at < until)
            stream = out.open("wb") if out is not None else sys.stdout.buffer
            written = 0
            try:
                async with engine.connect() as conn:
                    for row in await conn.execute(query):
                        line = {
                            "chain": row.chain_id,
                            "seq": row.seq,
                            "hmac": row.hmac,
                            "record": orjson.loads(row.body),
                        }
                        stream.write(orjson.dumps(line) + b"\n")
                        written += 1
            finally:
                if out is not None:
                    stream.close()
                else:
                    stream.flush()
            return written

        written = _run(config, export)
        typer.echo(f"{written} records exported", err=True)

    @app.command("grant")
    def grant_command(
        role: Annotated[str, typer.Argument(help="The application's PostgreSQL role.")],
    ) -> None:
        """Leave the application's role INSERT and SELECT on the log, nothing else (PostgreSQL)."""
        config = load()
        if not config.database_url.startswith("postgresql"):
            raise _fail("grants are for PostgreSQL; SQLite's triggers are all it has")
        _run(config, lambda engine, _key: grant_append_only(engine, role))
        typer.echo(f"{role} may now only insert into and read the audit log")

    return app
