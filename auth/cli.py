"""`citygraph clients`, `citygraph token` and `citygraph keys`: typer sub-apps for the main CLI.

auth must not import api/, so the commands take a loader of `AuthCliConfig` that the main CLI
builds from its settings:

    app.add_typer(clients_cli(load), name="clients")
    app.add_typer(token_cli(load), name="token")
    app.add_typer(keys_cli(load), name="keys")
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.clients import AUTH_DEPARTMENT, create_client, list_clients, revoke_client
from auth.keys import SIGNING_ALGS, KeyStore
from auth.purposes import PurposeError, PurposeRegistry
from auth.scopes import Scope
from auth.server import sign_access_token
from storage.engines import make_engine
from storage.migrate import upgrade

DEV_CLIENT_ID = "citygraph-dev-cli"
MAX_DEV_LIFETIME_S = 12 * 3600
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuthCliConfig:
    """What the auth commands need from the settings."""

    database_url: str
    keys_dir: Path
    issuer: str
    audience: str
    production: bool
    signing_alg: str = "RS256"
    purposes_file: Path | None = None


ConfigLoader = Callable[[], AuthCliConfig]

ScopesOption = Annotated[
    list[str],
    typer.Option(
        "--scopes",
        help=f"Scopes, repeated or space/comma separated: {', '.join(s.value for s in Scope)}.",
    ),
]


def _split_scopes(values: list[str]) -> list[str]:
    return [s for value in values for s in re.split(r"[\s,]+", value) if s]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _with_engine(config: AuthCliConfig, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = make_engine(config.database_url)
        try:
            if not config.production:  # in production `citygraph migrate` changes the schema
                await upgrade(engine, [AUTH_DEPARTMENT])
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except SQLAlchemyError as exc:
        raise _fail(
            f"the client registry is unreachable or not migrated ({type(exc).__name__})"
        ) from exc


def clients_cli(load: ConfigLoader) -> typer.Typer:
    """`clients create | list | revoke`: the administrator's side of the client registry."""
    app = typer.Typer(help="Register, list and revoke OAuth clients (apps).", no_args_is_help=True)

    @app.command("create")
    def create(
        name: Annotated[str, typer.Option("--name", help="What the app is called.")],
        scopes: ScopesOption,
    ) -> None:
        """Register an app and print its credentials once (the secret is stored hashed)."""
        config = load()
        try:
            new = _with_engine(
                config,
                lambda engine: create_client(
                    engine=engine, name=name, scopes=_split_scopes(scopes), admin_granted=True
                ),
            )
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        typer.echo(f"client_id:     {new.record.client_id}")
        typer.echo(f"client_secret: {new.secret}")
        typer.echo(f"scopes:        {' '.join(sorted(new.record.scopes))}")
        typer.echo(
            "The secret is shown once: store it now; citygraph keeps only its hash.", err=True
        )

    @app.command("list")
    def list_(
        active: Annotated[bool, typer.Option("--active", help="Hide revoked clients.")] = False,
    ) -> None:
        """List registered clients (never their secrets)."""
        records = _with_engine(
            load(), lambda engine: list_clients(engine=engine, include_revoked=not active)
        )
        for record in records:
            state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
            who = "admin" if record.admin_granted else "self-service"
            typer.echo(
                f"{record.client_id}\t{record.name}\t{' '.join(sorted(record.scopes))}\t"
                f"{who}\t{record.created_at:%Y-%m-%d %H:%M}\t{state}"
            )

    @app.command("revoke")
    def revoke(client_id: Annotated[str, typer.Argument(help="The client to revoke.")]) -> None:
        """Revoke a client: no new tokens, and its live tokens are refused."""
        if not _with_engine(
            load(), lambda engine: revoke_client(engine=engine, client_id=client_id)
        ):
            raise _fail("no active client with this id", code=1)
        typer.echo(f"revoked {client_id}")

    return app


def token_cli(load: ConfigLoader) -> typer.Typer:
    """`token`: mint a user token (staff, auditor, citizen) for development; refused in production."""
    app = typer.Typer(help="Mint a development access token for a person.")

    @app.callback(invoke_without_command=True)
    def mint(
        subject: Annotated[str, typer.Option("--subject", help="Who the token stands for.")],
        scopes: ScopesOption,
        purpose: Annotated[
            str | None,
            typer.Option("--purpose", help='Bind a purpose: "legal-basis=CODE; case=REF".'),
        ] = None,
        resident_id: Annotated[
            str | None, typer.Option("--resident-id", help="For `self`: the resident linked.")
        ] = None,
        lifetime: Annotated[
            int, typer.Option("--lifetime", help="Seconds the token lives.", min=60)
        ] = 3600,
    ) -> None:
        """Print a signed at+jwt for SUBJECT with SCOPES (development only)."""
        config = load()
        if config.production:
            # The keys sign app tokens in production; a person's token must come from the city IdP.
            raise _fail("`citygraph token` is for development; it refuses to run in production")
        if lifetime > MAX_DEV_LIFETIME_S:
            raise _fail(f"--lifetime is at most {MAX_DEV_LIFETIME_S} s")
        try:
            granted = sorted({Scope(s).value for s in _split_scopes(scopes)})
        except ValueError as exc:
            raise _fail(f"unknown scope ({exc})") from exc
        if not granted:
            raise _fail("give at least one scope")
        if subject.strip() != subject or not subject or subject == DEV_CLIENT_ID:
            raise _fail("the subject must be a person's identifier")
        extra: dict[str, Any] = {}
        if Scope.SELF.value in granted:
            if not resident_id:
                raise _fail("a `self` token needs --resident-id")
            extra["resident_id"] = resident_id
        if purpose is not None:
            registry = (
                PurposeRegistry.from_toml(config.purposes_file)
                if config.purposes_file
                else PurposeRegistry.default()
            )
            try:
                bound = registry.from_header(purpose)
            except PurposeError as exc:
                raise _fail(str(exc)) from exc
            extra["purpose"] = {
                "legal_basis": bound.legal_basis,
                "case_reference": bound.case_reference,
            }
        keys = KeyStore(config.keys_dir, alg=config.signing_alg).signing_keys()
        typer.echo(
            sign_access_token(
                keys=keys,
                issuer=config.issuer,
                audience=config.audience,
                subject=subject,
                client_id=DEV_CLIENT_ID,
                scopes=granted,
                lifetime_s=lifetime,
                extra=extra,
            )
        )

    return app


def keys_cli(load: ConfigLoader) -> typer.Typer:
    """`keys rotate | show`: the built-in server's signing keys."""
    app = typer.Typer(
        help="The built-in authorization server's signing keys.", no_args_is_help=True
    )

    @app.command("rotate")
    def rotate(
        alg: Annotated[
            str | None, typer.Option("--alg", help=f"One of {', '.join(SIGNING_ALGS)}.")
        ] = None,
    ) -> None:
        """Start signing with a new key; the old public key stays published for live tokens."""
        config = load()
        try:
            keys = KeyStore(config.keys_dir, alg=config.signing_alg).rotate(alg=alg)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        typer.echo(f"signing with {keys.alg} key {keys.kid}")

    @app.command("show")
    def show() -> None:
        """Print the published JWK Set (public keys only)."""
        config = load()
        typer.echo(
            json.dumps(
                KeyStore(config.keys_dir, alg=config.signing_alg).signing_keys().jwks(), indent=2
            )
        )

    return app
