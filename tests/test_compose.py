"""compose.yaml's `distributed` profile, checked without Docker (no engine runs where tests run).

What a file can show: one subgraph service per department, each running a command the CLI
accepts, with environment variables citygraph reads and settings that validate; a gateway whose
supergraph routes to those services and whose mounted files exist; every path compose.yaml and
the Dockerfile name; `depends_on` naming services that run in the same profile. What it cannot
show (images pulled, containers healthy, the network up) stays untested.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from typer.core import TyperGroup
from typer.main import get_command

from api.cli import app as cli_app
from api.settings import Settings
from audit.chain import load_key
from schema.city import builtin_specs
from schema.datasets import Catalog

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "distributed"
SUBGRAPH_COMMAND = ["citygraph", "subgraph", "serve"]

# --- the files ---------------------------------------------------------------------------------

COMPOSE_TEXT = (ROOT / "compose.yaml").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
GATEWAY_CONFIG = ROOT / "tools" / "node" / "gateway.config.mjs"
DEPARTMENTS = Catalog(builtin_specs()).departments()


def in_profile(service: dict[str, Any]) -> bool:
    """Whether `docker compose --profile distributed up` starts the service."""
    return "profiles" not in service or PROFILE in service["profiles"]


PROFILE_SERVICES = {name: s for name, s in SERVICES.items() if in_profile(s)}


def interpolate(value: str) -> str:
    """compose's `${VAR:-default}` with nothing set in the environment; `$$` is a dollar."""

    def one(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        if match["op"] and match["op"].endswith("?"):
            raise AssertionError(f"compose.yaml needs {match['name']} set: {match['arg']}")
        return match["arg"] if match["op"] else ""

    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}", one, value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- NAME=value` form
        env = dict(item.partition("=")[::2] for item in env)
    return {name: interpolate(str(value)) for name, value in env.items()}


def dockerfile_instructions(keyword: str) -> list[str]:
    text = re.sub(r"\\\n", " ", DOCKERFILE)  # continuation lines
    return [
        line.split(None, 1)[1].strip()
        for line in text.splitlines()
        if line.strip() and line.split(None, 1)[0].upper() == keyword
    ]


def build_of(service: dict[str, Any]) -> tuple[str, str] | None:
    """The build context and Dockerfile of a service built here, or None for an image."""
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, dict):
        return str(build.get("context", ".")), str(build.get("dockerfile", "Dockerfile"))
    return str(build), "Dockerfile"


def runs_citygraph(service: dict[str, Any]) -> bool:
    """A service built from the repository's Dockerfile: a citygraph process."""
    return build_of(service) in ((".", "Dockerfile"), ("./", "Dockerfile"))


def command(service: dict[str, Any]) -> list[str]:
    """What the container runs: compose's `command`, else the Dockerfile's CMD."""
    if "command" in service:
        assert isinstance(service["command"], list), "write commands in exec form (a list)"
        return [interpolate(c) for c in service["command"]]
    (cmd,) = dockerfile_instructions("CMD")
    parsed: list[str] = json.loads(cmd)
    return parsed


CITYGRAPH_SERVICES = {n: s for n, s in PROFILE_SERVICES.items() if runs_citygraph(s)}
MIGRATE_SERVICES = {n: s for n, s in CITYGRAPH_SERVICES.items() if command(s)[1:] == ["migrate"]}
SERVING_SERVICES = {n: s for n, s in CITYGRAPH_SERVICES.items() if n not in MIGRATE_SERVICES}
SUBGRAPH_SERVICES = {
    n: s for n, s in CITYGRAPH_SERVICES.items() if command(s)[:3] == SUBGRAPH_COMMAND
}


def main_service() -> str:
    """The citygraph service that is not a subgraph: it issues the tokens."""
    others = [n for n in SERVING_SERVICES if n not in SUBGRAPH_SERVICES]
    assert len(others) == 1, f"expected one citygraph service beside the subgraphs: {others}"
    return others[0]


def cli_params(args: list[str]) -> dict[str, Any]:
    """The parameters `citygraph` parses from `args`, without running the command."""
    cmd = get_command(cli_app)
    ctx = None
    name = "citygraph"
    rest = list(args)
    while isinstance(cmd, TyperGroup):
        ctx = cmd.context_class(cmd, info_name=name, parent=ctx)
        found, sub, rest = cmd.resolve_command(ctx, rest)
        assert found is not None
        assert sub is not None
        name, cmd = found, sub
    params: dict[str, Any] = cmd.make_context(name, rest, parent=ctx).params
    return params


def subgraph_routes() -> dict[str, str]:
    """Each subgraph's URL in the committed supergraph."""
    text = (ROOT / "supergraph.graphql").read_text(encoding="utf-8")
    found = re.findall(r'@join__graph\(name: "([^"]+)", url: "([^"]+)"\)', text)
    return dict(found)


def settings_env_names() -> set[str]:
    """The environment variables Settings reads: its prefix and each field's name."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in Settings.model_fields}


def env_read_outside_settings() -> set[str]:
    """CITYGRAPH_ variables the shipped packages read from os.environ themselves."""
    pattern = re.compile(r"""os\.(?:environ\.get\(|environ\[|getenv\()\s*["'](CITYGRAPH_\w+)""")
    names: set[str] = set()
    for package in PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]:
        for path in (ROOT / package).rglob("*.py"):
            names.update(pattern.findall(path.read_text(encoding="utf-8")))
    return names


@pytest.fixture
def settings_of(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Settings as a service's container would build them from its environment."""
    monkeypatch.chdir(tmp_path)  # the relative default data_dir lands here, not in the repo

    def build(service: dict[str, Any]) -> Settings:
        with monkeypatch.context() as scoped:
            for name in list(os.environ):
                if name.startswith("CITYGRAPH_"):
                    scoped.delenv(name)
            for name, value in environment(service).items():
                scoped.setenv(name, value)
            return Settings()

    return build


# --- the subgraphs -----------------------------------------------------------------------------


def test_the_profile_has_the_services_these_tests_read() -> None:
    assert SUBGRAPH_SERVICES, "no service runs `citygraph subgraph serve`"
    assert "gateway" in PROFILE_SERVICES
    main_service()
    assert DEPARTMENTS


def test_every_department_has_exactly_one_subgraph_service() -> None:
    served = Counter(command(s)[3] for s in SUBGRAPH_SERVICES.values())
    assert sorted(served.elements()) == sorted(DEPARTMENTS)


def test_every_citygraph_command_is_one_the_cli_accepts() -> None:
    (script,) = PYPROJECT["project"]["scripts"]
    (listen,) = dockerfile_instructions("HEALTHCHECK")
    health_port = int(re.findall(r"http://127\.0\.0\.1:(\d+)/", listen)[0])
    for name, service in SERVING_SERVICES.items():
        args = command(service)
        assert args[0] == script, name
        params = cli_params(args[1:])
        # reachable from the other containers, and by the image's health check
        assert params["host"] == "0.0.0.0", name  # noqa: S104 (inside its container)
        assert params["port"] == health_port, name
        for published in service.get("ports", []):
            assert int(published.rsplit(":", 1)[1]) == params["port"], (name, published)
        if name in SUBGRAPH_SERVICES:
            assert params["name"] in DEPARTMENTS, name


def test_citygraph_services_set_only_variables_citygraph_reads() -> None:
    known = settings_env_names() | env_read_outside_settings()
    for name, service in CITYGRAPH_SERVICES.items():
        unknown = {v for v in environment(service) if v.startswith("CITYGRAPH_")} - known
        # Settings ignores an unknown CITYGRAPH_ variable: a typo would fall back to the default
        assert not unknown, f"{name}: {sorted(unknown)} is not a Settings field"


def test_every_citygraph_service_has_valid_settings(settings_of: Any) -> None:
    for name, service in CITYGRAPH_SERVICES.items():
        settings = settings_of(service)
        assert settings.default_database_url.startswith("postgresql"), name
        assert settings.redis_url, name


def test_the_subgraphs_share_the_main_service_s_data_and_trust_its_tokens(
    settings_of: Any,
) -> None:
    main = settings_of(SERVICES[main_service()])
    for name, service in SUBGRAPH_SERVICES.items():
        sub = settings_of(service)
        assert sub.default_database_url == main.default_database_url, name
        assert sub.database_urls == main.database_urls, name
        assert sub.redis_url == main.redis_url, name
        # no signing key in a subgraph: it verifies the main service's tokens through its JWKS
        assert not sub.oauth_server_enabled, name
        assert sub.issuer_url == main.base_url, name
        assert sub.token_audience == main.token_audience, name


def test_every_process_writing_the_access_log_signs_it_with_one_key(
    settings_of: Any, tmp_path: Path
) -> None:
    # `citygraph audit verify` checks every chain with one key; a process that made its own
    # (in a container's data_dir, gone with the container) writes chains nobody can verify
    keys = {name: settings_of(s).audit_chain_key for name, s in CITYGRAPH_SERVICES.items()}
    assert None not in keys.values(), keys
    assert len(set(keys.values())) == 1, keys
    load_key(tmp_path, next(iter(keys.values())))  # hex, and long enough


def test_every_subgraph_app_builds_from_its_compose_environment(settings_of: Any) -> None:
    from api.subgraph import create_subgraph_app  # what `citygraph subgraph serve` runs

    for name, service in SUBGRAPH_SERVICES.items():
        settings = settings_of(service)
        app = create_subgraph_app(settings, command(service)[3])
        assert app.routes, name
        # the main service's tokens are verified through its JWKS, over the compose network
        assert settings.issuer_url == "http://citygraph:8000", name
        assert settings.issuer_http_hosts == ["citygraph"], name


# --- the gateway -------------------------------------------------------------------------------


def gateway_env_names() -> set[str]:
    return set(re.findall(r"process\.env\.(\w+)", GATEWAY_CONFIG.read_text(encoding="utf-8")))


def test_the_supergraph_routes_each_subgraph_to_the_service_that_serves_it() -> None:
    routes = subgraph_routes()
    assert sorted(routes) == sorted(DEPARTMENTS)
    for department, url in routes.items():
        parts = urlsplit(url)
        assert parts.hostname in SUBGRAPH_SERVICES, url
        params = cli_params(command(SUBGRAPH_SERVICES[parts.hostname])[1:])
        assert params["name"] == department, url
        assert parts.port == params["port"], url
        assert parts.path == "/graphql", url


def test_the_gateway_mounts_files_of_the_repository_where_its_command_reads_them() -> None:
    gateway = SERVICES["gateway"]
    mounted = {}
    for volume in gateway["volumes"]:
        source, target = volume.split(":")[:2]
        assert source.startswith("./"), f"{volume}: mount a file of the repository"
        assert (ROOT / source).is_file(), f"{source} does not exist"
        mounted[target] = (ROOT / source).resolve()
    read = [arg for arg in gateway["command"] if arg.startswith("/")]
    assert read, "the gateway's command names no file"
    for path in read:
        assert path in mounted, f"the gateway reads {path}, which no volume mounts"
    assert GATEWAY_CONFIG.resolve() in mounted.values()
    assert (ROOT / "supergraph.graphql").resolve() in mounted.values()
    assert "--port" in gateway["command"]
    port = gateway["command"][gateway["command"].index("--port") + 1]
    assert all(p.rsplit(":", 1)[1] == port for p in gateway.get("ports", []))


def test_the_gateway_image_is_the_version_the_tests_run() -> None:
    lock = json.loads((ROOT / "tools" / "node" / "package-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["node_modules/@graphql-hive/gateway"]["version"]
    assert SERVICES["gateway"]["image"] == f"ghcr.io/graphql-hive/gateway:{version}"


def test_the_gateway_is_configured_as_its_config_reads_it(settings_of: Any) -> None:
    env = environment(SERVICES["gateway"])
    unknown = {v for v in env if v.startswith("CITYGRAPH_")} - gateway_env_names()
    assert not unknown, f"gateway.config.mjs does not read {sorted(unknown)}"
    main = settings_of(SERVICES[main_service()])
    assert env.get("CITYGRAPH_ISSUER") == main.base_url  # the config throws without it
    assert env.get("CITYGRAPH_AUDIENCE", env["CITYGRAPH_ISSUER"]) == main.token_audience
    jwks = urlsplit(
        env.get("CITYGRAPH_JWKS_URL", f"{env['CITYGRAPH_ISSUER']}/.well-known/jwks.json")
    )
    assert (jwks.hostname, jwks.port) == (
        main_service(),
        cli_params(command(SERVICES[main_service()])[1:])["port"],
    )
    assert jwks.path == "/.well-known/jwks.json"
    router_secrets = {
        environment(s).get("CITYGRAPH_ROUTER_SECRET") for s in SUBGRAPH_SERVICES.values()
    }
    assert router_secrets == {env.get("CITYGRAPH_ROUTER_SECRET")}, "the router secret differs"


# --- paths and dependencies --------------------------------------------------------------------


def test_every_path_compose_names_exists() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    for name, service in SERVICES.items():
        build = build_of(service)
        if build is not None:
            context, dockerfile = build
            assert (ROOT / context).is_dir(), f"{name}: build context {context}"
            assert (ROOT / context / dockerfile).is_file(), f"{name}: {dockerfile}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_every_path_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied: set[str] = set()
    for copy in dockerfile_instructions("COPY"):
        args = [a for a in copy.split() if not a.startswith("--")]
        if "--from=" in copy:
            continue
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such path"
            assert not any(fnmatch(source, pattern) for pattern in ignored), source
            copied.add(source.rstrip("/"))
    # what `uv sync --no-editable` builds the wheel from
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = {"pyproject.toml", "uv.lock", PYPROJECT["project"]["readme"], *wheel}
    assert needed <= copied, f"the Dockerfile does not copy {sorted(needed - copied)}"


def test_one_migrate_service_runs_before_every_server_on_their_database(settings_of: Any) -> None:
    (name,) = MIGRATE_SERVICES
    migrate = settings_of(MIGRATE_SERVICES[name])
    for serving, service in SERVING_SERVICES.items():
        condition = (service.get("depends_on") or {}).get(name, {}).get("condition")
        assert condition == "service_completed_successfully", serving
        settings = settings_of(service)
        assert settings.default_database_url == migrate.default_database_url, serving
        assert settings.database_urls == migrate.database_urls, serving


def test_depends_on_names_services_that_run_in_the_same_profile() -> None:
    for name, service in PROFILE_SERVICES.items():
        depends = service.get("depends_on") or []
        for dependency in depends:
            assert dependency in PROFILE_SERVICES, f"{name} depends on {dependency}"
            condition = depends[dependency].get("condition") if isinstance(depends, dict) else None
            if condition == "service_healthy":
                target = SERVICES[dependency]
                has_check = "healthcheck" in target or (
                    runs_citygraph(target) and dockerfile_instructions("HEALTHCHECK")
                )
                assert has_check, f"{name} waits for {dependency} to be healthy; it has no check"
    gateway = set(SERVICES["gateway"]["depends_on"])
    routed = {str(urlsplit(url).hostname) for url in subgraph_routes().values()}
    assert routed <= gateway, f"the gateway starts before {sorted(routed - gateway)}"
