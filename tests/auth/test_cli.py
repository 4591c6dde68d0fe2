"""`citygraph clients`, `token` and `keys` through typer's runner, on a SQLite registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from auth.cli import AuthCliConfig, clients_cli, keys_cli, token_cli
from auth.clients import ClientRecord, get_client
from auth.keys import KeyStore
from auth.tokens import TokenVerifier
from storage.engines import make_engine
from tests.auth.conftest import AUDIENCE, ISSUER

runner = CliRunner()


def _config(tmp_path: Path, *, production: bool = False) -> AuthCliConfig:
    return AuthCliConfig(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'city.db'}",
        keys_dir=tmp_path / "keys",
        issuer=ISSUER,
        audience=AUDIENCE,
        production=production,
    )


def _app(tmp_path: Path, *, production: bool = False) -> typer.Typer:
    app = typer.Typer()
    load = lambda: _config(tmp_path, production=production)  # noqa: E731
    app.add_typer(clients_cli(load), name="clients")
    app.add_typer(token_cli(load), name="token")
    app.add_typer(keys_cli(load), name="keys")
    return app


def _fields(output: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in output.splitlines() if ":" in line)


def _lookup(tmp_path: Path, client_id: str) -> ClientRecord | None:
    async def run() -> ClientRecord | None:
        engine = make_engine(_config(tmp_path).database_url)
        try:
            return await get_client(engine=engine, client_id=client_id)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_clients_create_prints_the_secret_once_and_stores_its_hash(tmp_path: Path) -> None:
    result = runner.invoke(
        _app(tmp_path),
        ["clients", "create", "--name", "Vélo", "--scopes", "open-data registry:read"],
    )
    assert result.exit_code == 0, result.output
    fields = {k: v.strip() for k, v in _fields(result.stdout).items()}
    record = _lookup(tmp_path, fields["client_id"])
    assert record is not None
    assert record.admin_granted
    assert record.check_secret(fields["client_secret"])
    assert fields["scopes"] == "open-data registry:read"
    assert "shown once" in result.stderr
    listing = runner.invoke(_app(tmp_path), ["clients", "list"])
    assert fields["client_id"] in listing.stdout
    assert fields["client_secret"] not in listing.stdout


def test_clients_create_refuses_self_and_unknown_scopes(tmp_path: Path) -> None:
    for scopes in ("self", "open-data,root"):
        result = runner.invoke(
            _app(tmp_path), ["clients", "create", "--name", "x", "--scopes", scopes]
        )
        assert result.exit_code == 2
        assert "error:" in result.stderr


def test_clients_revoke(tmp_path: Path) -> None:
    created = runner.invoke(
        _app(tmp_path), ["clients", "create", "--name", "a", "--scopes", "open-data"]
    )
    client_id = _fields(created.stdout)["client_id"].strip()
    assert runner.invoke(_app(tmp_path), ["clients", "revoke", client_id]).exit_code == 0
    record = _lookup(tmp_path, client_id)
    assert record is not None
    assert not record.active
    again = runner.invoke(_app(tmp_path), ["clients", "revoke", client_id])
    assert again.exit_code == 1
    listing = runner.invoke(_app(tmp_path), ["clients", "list", "--active"])
    assert client_id not in listing.stdout


async def test_token_mints_a_staff_token_with_a_bound_purpose(tmp_path: Path) -> None:
    result = runner.invoke(
        _app(tmp_path),
        [
            "token", "--subject", "agent-42", "--scopes", "registry:read",
            "--purpose", "legal-basis=CGCT-L2122-32; case=EC-2026-7",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    verifier = TokenVerifier.from_keystore(
        KeyStore(tmp_path / "keys"), issuer=ISSUER, audience=AUDIENCE, accept_user_tokens=True
    )
    access = await verifier.verify(result.stdout.strip())
    assert access.subject == "agent-42"
    assert access.scopes == {"registry:read"}
    assert access.claims["purpose"] == {
        "legal_basis": "CGCT-L2122-32",
        "case_reference": "EC-2026-7",
    }
    assert access.claims["exp"] - access.claims["iat"] == 3600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subject", "a", "--scopes", "self"], "--resident-id"),
        (["--subject", "a", "--scopes", "root"], "unknown scope"),
        (
            ["--subject", "a", "--scopes", "tax:read", "--purpose", "legal-basis=X; case=1"],
            "unknown legal basis",
        ),
        (["--subject", "a", "--scopes", "tax:read", "--lifetime", "999999"], "at most"),
        (["--subject", "citygraph-dev-cli", "--scopes", "tax:read"], "person"),
    ],
)
def test_token_refuses_bad_requests(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(_app(tmp_path), ["token", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_token_refuses_to_run_in_production(tmp_path: Path) -> None:
    result = runner.invoke(
        _app(tmp_path, production=True), ["token", "--subject", "a", "--scopes", "registry:read"]
    )
    assert result.exit_code == 2
    assert "production" in result.stderr
    assert not (tmp_path / "keys").exists()  # not even a key was touched


def test_keys_rotate_and_show(tmp_path: Path) -> None:
    before = KeyStore(tmp_path / "keys").signing_keys().kid
    result = runner.invoke(_app(tmp_path), ["keys", "rotate", "--alg", "ES256"])
    assert result.exit_code == 0, result.output
    after = KeyStore(tmp_path / "keys").signing_keys()
    assert after.kid != before
    assert after.alg == "ES256"
    shown = runner.invoke(_app(tmp_path), ["keys", "show"])
    assert before in shown.stdout
    assert after.kid in shown.stdout
    assert '"d"' not in shown.stdout
