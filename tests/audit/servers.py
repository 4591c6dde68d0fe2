"""Real citygraph servers in subprocesses (uvicorn), on a seeded data dir, for crash and concurrency tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.settings import Environment, Settings
from schema.city import City
from schema.publishing import load_catalog
from storage.engines import Databases
from tests.api.conftest import seed
from tests.services import REPO_ROOT, free_port

SERVE = "from api.cli import main; main()"


def seed_data_dir(settings: Settings) -> None:
    """Tables and the API tests' rows, written before any server starts."""

    async def run() -> None:
        city = City(
            load_catalog(settings.data_dir),
            Databases(settings.default_database_url, settings.database_urls),
        )
        try:
            await city.migrate()
            await seed(city)
        finally:
            await city.close()

    asyncio.run(run())


class Server:
    """`citygraph serve` in a subprocess of its own session, stopped by its pid."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        *,
        wait: bool = True,
        start_timeout_s: float = 30,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir / f"server-{self.port}.log"
        environ = {
            **os.environ,
            "CITYGRAPH_DATA_DIR": str(data_dir),
            "CITYGRAPH_ENVIRONMENT": Environment.TEST.value,
            "CITYGRAPH_PUBLIC_URL": "http://127.0.0.1:8000",  # tokens' issuer, whatever the port
            "CITYGRAPH_LOG_LEVEL": "warning",
            **(env or {}),
        }
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", SERVE, "serve", "--port", str(self.port), *args],
                cwd=REPO_ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        if wait:
            self.wait_ready(start_timeout_s)

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /healthz answers; the server's log in the error if it exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")

    def terminate(self, timeout: float = 20) -> None:
        """SIGTERM, as a process manager stops it: the lifespan flushes the log."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)
