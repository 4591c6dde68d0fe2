"""People in Chromium: a developer registers an app and uses its token; a citizen signs in (the
demo's sign-in, and oidc-provider as the city's identity provider) and sees a staff member's read
of their record without the staff member's identity; a page on another origin reads open data."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import BrowserContext, Page

from tests.api.pages.conftest import Site, Watch, serve
from tests.auth.test_oidc_provider import run_provider
from tests.services import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RESIDENT = "R1"  # tests/api/conftest.py seeds her
PAGES_SECRET = "pages-secret-for-tests"
# apps get 100 requests and a cost budget of 100,000 an hour here: nothing refills during a test
SLOW_REFILL = {
    "CITYGRAPH_RATE_PERIOD_S": "3600",
    "CITYGRAPH_RATE_LIMITS": '{"app": 100, "anonymous": 1000}',
    "CITYGRAPH_COST_BUDGETS": '{"app": 100000}',
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with serve(tmp_path_factory.mktemp("people"), SLOW_REFILL) as running:
        yield running


async def app_token(site: Site, client_id: str, secret: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(
            f"{site.url}/oauth/token",
            data={"grant_type": "client_credentials", "scope": "open-data"},
            auth=(client_id, secret),
        )


async def test_a_developer_registers_an_app_and_uses_its_token(
    site: Site, context: BrowserContext, watch: Watch
) -> None:
    page = await context.new_page()
    await page.goto(f"{site.url}/developers")
    await page.fill("#app-name", "Vélo Paris")
    await page.click("form[action='/developers/register'] button")
    client_id = await page.inner_text("#client-id")
    secret = await page.inner_text("#client-secret")
    assert client_id.startswith("cg_")
    assert len(secret) > 30

    token = await app_token(site, client_id, secret)
    assert token.status_code == 200, token.text
    access = token.json()["access_token"]
    api = httpx.AsyncClient()
    for _ in range(3):
        answer = await api.post(
            f"{site.url}/graphql",
            # a costly document (1,000 rows asked), so that the budget's use shows despite refills
            json={"query": "{ bikeStations(first: 1000) { nodes { id } } }"},
            headers={"Authorization": f"Bearer {access}"},
        )
        assert answer.status_code == 200
        assert "errors" not in answer.json()
    assert answer.headers["ratelimit-limit"] == "100"
    assert answer.headers["ratelimit-remaining"] == "97"

    for _ in range(2):  # looking spends nothing
        await page.goto(f"{site.url}/developers")  # the session keeps the app, not the secret
        assert await page.locator("#client-secret").count() == 0
        standing = await page.inner_text("#standing")
        assert "97 of 100" in standing, standing
        # at least 3,000 spent; the budget refills 28 units a second
        remaining = int(standing.split("Query cost: ")[1].split(" of ")[0])
        assert remaining <= 97_000 + 1_000, standing

    await page.click("form[action='/developers/rotate'] button")
    rotated = await page.inner_text("#client-secret")
    assert rotated != secret
    assert (await app_token(site, client_id, secret)).status_code == 401
    assert (await app_token(site, client_id, rotated)).status_code == 200

    await page.click("form[action='/developers/revoke'] button")
    assert await page.locator("#client-id").count() == 0
    refused = await api.post(
        f"{site.url}/graphql",
        json={"query": "{ districts(first: 1) { totalCount } }"},
        headers={"Authorization": f"Bearer {access}"},
    )
    await api.aclose()
    assert refused.status_code == 401
    assert watch.outside == []


def test_a_form_without_the_session_token_is_refused(site: Site) -> None:
    answer = httpx.post(f"{site.url}/developers/register", data={"name": "forged", "csrf": "x"})
    assert answer.status_code == 403
    assert "cg_" not in answer.text


async def citizen_history(page: Page) -> str:
    await page.locator("#access-history").wait_for(timeout=30_000)
    return await page.inner_text("main")


async def test_a_citizen_signs_in_with_the_demo_and_sees_who_read_her_record(
    site: Site, context: BrowserContext, watch: Watch
) -> None:
    site.staff_reads_resident(RESIDENT)
    page = await context.new_page()
    await page.goto(f"{site.url}/my-data")
    await page.click("a[href='/my-data/sign-in']")
    await page.check(f"#resident-{RESIDENT}")  # the demo's sign-in page: pick a resident
    await page.click("button[name='signin']")
    assert page.url == f"{site.url}/my-data"
    text = await citizen_history(page)
    assert "Curie" in text  # her own record
    assert "registry" in text
    assert "CGCT-L2122-32" in text
    assert "residents" in text
    assert "agent-7" not in text
    assert "staff-frontend" not in text
    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["citygraph_session"]
    assert session["httpOnly"]
    assert session["sameSite"] == "Lax"
    await page.click("form[action='/my-data/sign-out'] button")
    assert await page.locator("#access-history").count() == 0
    assert watch.outside == []


@contextlib.contextmanager
def provider_and_site(node_tools: Path, tmp_path: Path) -> Iterator[tuple[str, Site]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_provider(
        node_tools,
        tmp_path,
        audience=url,
        extra=["--scopes", "open-data self", "--code-client", f"citygraph-pages:{PAGES_SECRET}",
               "--redirect-uri", f"{url}/my-data/callback"],
    ) as provider:  # fmt: skip
        env = {
            "CITYGRAPH_ISSUER_URL": provider.issuer,
            "CITYGRAPH_PAGES_CLIENT_SECRET": PAGES_SECRET,
        }
        with serve(tmp_path / "city", env, port=port) as site:
            yield provider.issuer, site


async def test_a_citizen_signs_in_at_the_city_identity_provider(
    node_tools: Path, tmp_path: Path, context: BrowserContext, watch: Watch
) -> None:
    with provider_and_site(node_tools, tmp_path) as (issuer, site):
        site.staff_reads_resident(RESIDENT)
        page = await context.new_page()
        await page.goto(f"{site.url}/my-data")
        await page.click("a[href='/my-data/sign-in']")
        assert page.url.startswith(issuer)  # oidc-provider's own login form
        await page.fill("input[name=login]", RESIDENT)
        await page.fill("input[name=password]", "any")
        await page.click("button[type=submit]")
        await page.click("button[type=submit]")  # consent
        text = await citizen_history(page)
        assert page.url == f"{site.url}/my-data"
        assert "Curie" in text
        assert "CGCT-L2122-32" in text
        assert "agent-7" not in text
        async with httpx.AsyncClient() as http:  # no demo sign-in beside the city's provider
            assert (await http.get(f"{site.url}/oauth/authorize")).status_code in (404, 405)
    # oidc-provider's development login form asks for a web font; nothing of ours asks anything
    assert all(frame.startswith(issuer) for frame in watch.outside_from), watch.outside


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return None


@contextlib.contextmanager
def other_origin(folder: Path) -> Iterator[str]:
    """A static site on another loopback port, stopped afterwards."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


CROSS_ORIGIN_SCRIPT = """
async function ask(query) {
  const response = await fetch(API + '/graphql', {method: 'POST',
    headers: {'Content-Type': 'application/json'}, body: JSON.stringify({query})});
  return {status: response.status, remaining: response.headers.get('RateLimit-Remaining'),
          body: await response.json()};
}
(async () => {
  const results = {
    open: await ask('{ districts(first: 2) { nodes { code name } } }'),
    closed: await ask('{ residents(first: 1) { nodes { familyName } } }'),
  };
  document.getElementById('out').textContent = JSON.stringify(results);
})();
"""


async def test_a_page_on_another_origin_reads_open_data_and_nothing_restricted(
    site: Site, context: BrowserContext, tmp_path: Path, watch: Watch
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "index.html").write_text(
        '<!doctype html><html lang="en"><body><pre id="out"></pre>'
        '<script src="app.js"></script></body></html>'
    )
    (folder / "app.js").write_text(f"const API = {json.dumps(site.url)};\n{CROSS_ORIGIN_SCRIPT}")
    with other_origin(folder) as origin:
        assert origin != site.url
        page = await context.new_page()
        await page.goto(f"{origin}/index.html")
        await page.locator("#out:not(:empty)").wait_for(timeout=20_000)
        results = json.loads(await page.inner_text("#out"))
    assert results["open"]["status"] == 200
    assert [d["code"] for d in results["open"]["body"]["data"]["districts"]["nodes"]] == [
        "75101",
        "75102",
    ]
    assert results["open"]["remaining"] is not None  # exposed to the other origin's script
    closed = results["closed"]["body"]
    assert closed["data"]["residents"] is None
    assert {e["extensions"]["code"] for e in closed["errors"]} <= {"UNAUTHENTICATED", "FORBIDDEN"}
    assert "Curie" not in json.dumps(results)
    assert watch.outside == []
