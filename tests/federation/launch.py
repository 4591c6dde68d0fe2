"""The distributed city on loopback: one-process citygraph, every subgraph, and Hive Gateway.

`run_distributed(data_dir, node_tools)` starts real processes sharing one SQLite city (the fixture
rows of tests/schema): `citygraph serve` (the one-process gateway, and the token issuer whose JWKS
the router reads), `citygraph subgraph serve NAME` for every department, and Hive Gateway on the
committed supergraph with the subgraphs' URLs pointed at their loopback ports. Every process is
stopped by its id. The tests (conftest.py) and the benchmark (bench/federation.py) use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from auth.keys import KeyStore
from auth.server import sign_access_token
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from schema.federation import SUPERGRAPH
from storage.engines import Databases
from tests.schema.conftest import fill
from tests.services import free_port

CATALOG = Catalog(builtin_specs())
ROUTER_SECRET = "router-secret-for-tests"
START_TIMEOUT_S = 60.0


@dataclass
class Distributed:
    """Where everything listens, and tokens signed with the city's own keys."""

    base: str
    router: str
    subgraphs: dict[str, str]
    keys_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def token(self, *scopes: str, subject: str = "agent-7", **claims: Any) -> str:
        """A person's token (staff, or a citizen with `resident_id`)."""
        return sign_access_token(
            keys=KeyStore(self.keys_dir).signing_keys(),
            issuer=self.base,
            audience=self.base,
            subject=subject,
            client_id="citygraph-dev",
            scopes=scopes,
            lifetime_s=600,
            extra=claims,
        )

    def app_token(self) -> str:
        """An app's token from the built-in server: register, then client credentials."""
        registered = httpx.post(
            f"{self.base}/oauth/register",
            json={"client_name": "Federation test", "scope": "open-data"},
        ).json()
        response = httpx.post(
            f"{self.base}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "open-data"},
            auth=(registered["client_id"], registered["client_secret"]),
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token


def _spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> Any:
    with log.open("wb") as out:
        return subprocess.Popen(
            args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start: {log.read_text(errors='replace')[-2000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


async def _seed(url: str) -> None:
    city = City(CATALOG, Databases(url))
    try:
        await fill(city)
    finally:
        await city.close()


@contextlib.contextmanager
def run_distributed(data_dir: Path, node_tools: Path) -> Iterator[Distributed]:
    """citygraph, its subgraphs and Hive Gateway, all on loopback, over the fixture city."""
    asyncio.run(_seed(f"sqlite+aiosqlite:///{data_dir / 'city.db'}"))
    main_port = free_port()
    base = f"http://127.0.0.1:{main_port}"
    KeyStore(data_dir / "keys").signing_keys()  # made once, before the processes read them
    env = {
        **os.environ,
        "CITYGRAPH_DATA_DIR": str(data_dir),
        "CITYGRAPH_ENVIRONMENT": "test",
        "CITYGRAPH_PUBLIC_URL": base,
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }
    cli = [sys.executable, "-c", "from api.cli import main; main()"]
    started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    ports = {name: free_port() for name in CATALOG.departments()}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        log = data_dir / "citygraph.log"
        main = _spawn([*cli, "serve", "--port", str(main_port)], env, log)
        processes.append(main)
        started.append((f"{base}/healthz", main, log))
        for name, port in ports.items():
            log = data_dir / f"{name}.log"
            process = _spawn(
                [*cli, "subgraph", "serve", name, "--port", str(port)],
                {**env, "CITYGRAPH_ROUTER_SECRET": ROUTER_SECRET},
                log,
            )
            processes.append(process)
            started.append((f"http://127.0.0.1:{port}/healthz", process, log))
        for url, process, log in started:
            _wait_ready(url, process, log)
        supergraph = SUPERGRAPH.read_text()
        for name, port in ports.items():
            supergraph = supergraph.replace(
                f'url: "http://{name}:8000/graphql"', f'url: "http://127.0.0.1:{port}/graphql"'
            )
        (data_dir / "supergraph.graphql").write_text(supergraph)
        router_port = free_port()
        log = data_dir / "gateway.log"
        gateway = _spawn(
            [
                "node",
                str(node_tools / "node_modules/@graphql-hive/gateway/dist/bin.js"),
                "supergraph",
                str(data_dir / "supergraph.graphql"),
                "-c",
                str(node_tools / "gateway.config.mjs"),
                "--host",
                "127.0.0.1",
                "--port",
                str(router_port),
            ],
            {
                **env,
                "CITYGRAPH_ISSUER": base,
                "CITYGRAPH_ROUTER_SECRET": ROUTER_SECRET,
                "NODE_NO_WARNINGS": "1",
            },
            log,
            cwd=node_tools,
        )
        processes.append(gateway)
        router = f"http://127.0.0.1:{router_port}"
        _wait_ready(f"{router}/healthcheck", gateway, log)
        yield Distributed(
            base=base,
            router=router,
            subgraphs={n: f"http://127.0.0.1:{p}/graphql" for n, p in ports.items()},
            keys_dir=data_dir / "keys",
            processes=processes,
        )
    finally:
        for process in reversed(processes):
            _stop(process)
