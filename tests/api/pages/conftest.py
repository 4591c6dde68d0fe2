"""The pages in a real browser: `citygraph serve` in a subprocess, Debian's Chromium through Playwright.

No browser download: Playwright drives /usr/bin/chromium (`executable_path`). Every request the
browser makes outside loopback is refused by a route handler and recorded, so a test proves the
pages work with no network beyond this machine; CSP violations are recorded too (an init script
listens for `securitypolicyviolation`, which CDP injects without an inline script).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

from api.settings import Environment, Settings
from auth.keys import KeyStore
from auth.server import sign_access_token
from tests.audit.servers import SERVE, seed_data_dir
from tests.services import REPO_ROOT, free_port

CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
STAFF_PURPOSE = {"legal_basis": "CGCT-L2122-32", "case_reference": "EC-2026-118"}
PHONE = {"width": 375, "height": 667}
PAGES = [
    "/",
    "/datasets",
    "/datasets/bikeStations",
    "/datasets/residents",
    "/developers",
    "/my-data",
]
"""Every page, a public and a restricted dataset's included."""


@dataclass
class Site:
    """A running citygraph and what a test needs to reach it."""

    url: str
    data_dir: Path
    popen: subprocess.Popen[bytes]
    log: Path

    def token(self, *, subject: str, scopes: list[str], **extra: Any) -> str:
        """A token of the server's own issuer (a staff member's, in these tests)."""
        keys = KeyStore(self.data_dir / "keys").signing_keys()
        return sign_access_token(
            keys=keys,
            issuer=self.url,
            audience=self.url,
            subject=subject,
            client_id="staff-frontend",
            scopes=scopes,
            lifetime_s=300,
            extra=extra,
        )

    def staff_reads_resident(self, resident_id: str) -> None:
        """A staff member reads a resident's record, with a purpose: the citizen will see it."""
        token = self.token(subject="agent-7", scopes=["registry:read"], purpose=STAFF_PURPOSE)
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": "query($id: String!) { resident(id: $id) { id familyName } }",
                  "variables": {"id": resident_id}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json()["data"]["resident"]["id"] == resident_id, response.text


@contextlib.contextmanager
def serve(
    data_dir: Path, env: dict[str, str] | None = None, *, port: int | None = None
) -> Iterator[Site]:
    """`citygraph serve` on a free port whose URL is also its public URL (redirects come back)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=data_dir, environment=Environment.TEST, public_url=url)
    # in a thread of its own: seeding runs an event loop, and async tests are already in one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(seed_data_dir, settings).result()
    log = data_dir / f"server-{port}.log"
    environ = {
        **os.environ,
        "CITYGRAPH_DATA_DIR": str(data_dir),
        "CITYGRAPH_ENVIRONMENT": Environment.TEST.value,
        "CITYGRAPH_PUBLIC_URL": url,
        "CITYGRAPH_LOG_LEVEL": "warning",
        **(env or {}),
    }
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-c", SERVE, "serve", "--port", str(port)],
            cwd=REPO_ROOT, env=environ, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.1)  # polling the health endpoint, bounded by the deadline
        yield Site(url=url, data_dir=data_dir, popen=popen, log=log)
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(20)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One demo server for a test module (the embedded default: built-in demo sign-in)."""
    with serve(tmp_path_factory.mktemp("site")) as running:
        yield running


@dataclass
class Watch:
    """What the browser tried that it should not have: outside requests, CSP violations."""

    outside: list[str] = field(default_factory=list)
    """Refused requests' URLs."""
    outside_from: list[str] = field(default_factory=list)
    """The URL of the document that asked for each."""

    async def violations(self, page: Page) -> list[str]:
        found: list[str] = await page.evaluate("window.__csp || []")
        return found


CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
async def browser(chromium_executable: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium_executable), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def new_context(browser: Browser, watch: Watch, **options: Any) -> BrowserContext:
    """A context whose every request outside loopback is refused and recorded."""
    context = await browser.new_context(**options)

    async def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            await route.continue_()
        else:
            watch.outside.append(route.request.url)
            try:
                watch.outside_from.append(route.request.frame.url)
            except Exception:  # a service worker's request has no frame
                watch.outside_from.append("")
            await route.abort("blockedbyclient")

    await context.route("**/*", guard)
    await context.add_init_script(CSP_LISTENER)
    return context


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
async def context(browser: Browser, watch: Watch) -> AsyncIterator[BrowserContext]:
    ctx = await new_context(browser, watch)
    try:
        yield ctx
    finally:
        await ctx.close()


WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


async def axe(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.1 A and AA on the page as it is now."""
    await page.evaluate(axe_source)  # through CDP: the page's CSP does not apply to the test
    result = await page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' '))}))",
        WCAG,
    )
    return list(result)


@pytest.fixture(scope="session")
def axe_source(node_tools: Path) -> str:
    """axe-core from tools/node (npm), injected into each page by the tests."""
    path = node_tools / "node_modules" / "axe-core" / "axe.min.js"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `npm ci --prefix tools/node`", pytrace=False)
    return path.read_text()
