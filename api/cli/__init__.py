"""The `citygraph` command line.

    demo, serve, migrate          api.cli.serving
    import paris | gtfs | manifest api.cli.loading
    schema, supergraph, subgraph  api.cli.federation
    catalog                       api.cli.describe
    clients, token, keys          auth.cli (the administrator's side of the OAuth clients)
    audit                         audit.cli (verify, checkpoint, export)

Each module adds its commands to the one Typer app of api.cli.common; importing them here is what
registers them.
"""

from __future__ import annotations

# isort: off
# (the order the commands are listed in `citygraph --help`)
from api.cli import serving, loading, federation, describe
from api.cli.common import app, load_settings

# isort: on
from api.settings import Environment
from audit.cli import AuditCliConfig, audit_cli
from auth.cli import AuthCliConfig, clients_cli, keys_cli, token_cli

__all__ = ["app", "describe", "federation", "loading", "main", "serving"]


def _auth_config() -> AuthCliConfig:
    from auth.clients import AUTH_DEPARTMENT

    settings = load_settings()
    return AuthCliConfig(
        database_url=settings.database_urls.get(AUTH_DEPARTMENT, settings.default_database_url),
        keys_dir=settings.signing_keys_dir,
        issuer=settings.base_url,
        audience=settings.token_audience,
        production=settings.environment is Environment.PRODUCTION,
        signing_alg=settings.signing_alg,
        purposes_file=settings.purposes_file,
    )


app.add_typer(clients_cli(_auth_config), name="clients", help="Register, list and revoke apps.")
app.add_typer(token_cli(_auth_config), name="token", help="Mint a development token.")
app.add_typer(keys_cli(_auth_config), name="keys", help="Show or rotate the signing keys.")


def _audit_config() -> AuditCliConfig:
    from audit.service import AUDIT_DEPARTMENT

    settings = load_settings()
    return AuditCliConfig(
        database_url=settings.database_urls.get(AUDIT_DEPARTMENT, settings.default_database_url),
        audit_dir=settings.audit_dir,
        chain_key=settings.audit_chain_key,
        keys_dir=settings.signing_keys_dir,
        issuer=settings.base_url,
        signing_alg=settings.signing_alg,
    )


app.add_typer(
    audit_cli(_audit_config), name="audit", help="Verify, checkpoint and export the access log."
)


def main() -> None:
    app()
