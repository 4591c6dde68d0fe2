"""GraphiQL at /graphql in Chromium, with every request outside loopback refused: it loads from the
app's own files, runs a query, shows the answer, and keeps its docs explorer and explorer plugin."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest
from playwright.async_api import BrowserContext

from tests.api.pages.conftest import Site, Watch, axe

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUERY = "{ districts(first: 3) { nodes { code name } } }"
# every kind of token the editor colours: comment, keyword, name, variable, string, number,
# enum, directive (WCAG contrast is checked on each)
RICH = """# the three largest stations
query Largest($code: String = "75101", $skip: Boolean = false) {
  bikeStations(first: 3, where: {districtCode: {eq: $code}}, orderBy: [{field: CAPACITY, direction: DESC}]) {
    nodes { name capacity @skip(if: $skip) }
  }
  districts(first: 3) { nodes { code name } }
}
"""


async def test_graphiql_runs_a_query_offline_and_shows_the_answer(
    site: Site, context: BrowserContext, watch: Watch
) -> None:
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    response = await page.goto(f"{site.url}/graphql?q={quote(QUERY)}")
    assert response is not None
    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "http" not in csp
    await page.click(".graphiql-execute-button", timeout=30_000)
    result = page.locator(".graphiql-response")
    await result.get_by_text("Louvre").wait_for(timeout=30_000)
    answer = await result.inner_text()
    assert '"code": "75101"' in answer
    assert "Temple" in answer
    # the docs explorer (GraphiQL's) and the explorer plugin are both there
    assert await page.locator('[aria-label="Show Documentation Explorer"]').count() == 1
    assert await page.locator('[aria-label="Show GraphiQL Explorer"]').count() == 1
    await page.click('[aria-label="Show GraphiQL Explorer"]')
    await page.locator(".graphiql-explorer-root").wait_for(timeout=10_000)
    assert watch.outside == []
    assert all(r.startswith((site.url, "data:", "blob:")) for r in requests), requests
    assert await watch.violations(page) == []


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_graphiql_passes_axe_with_an_answer_on_screen(
    site: Site, context: BrowserContext, axe_source: str, language: str
) -> None:
    page = await context.new_page()
    await page.goto(f"{site.url}/graphql?lang={language}&q={quote(RICH)}")
    await page.click(".graphiql-execute-button", timeout=30_000)
    await page.locator(".graphiql-response").get_by_text("Louvre").wait_for(timeout=30_000)
    assert await axe(page, axe_source) == []


def test_api_clients_still_get_graphql_and_the_vendor_files_are_served(site: Site) -> None:
    answer = httpx.get(
        f"{site.url}/graphql", params={"query": "{ districts(first: 1) { nodes { code } } }"}
    )
    assert answer.status_code == 200
    assert answer.json()["data"]["districts"]["nodes"] == [{"code": "75101"}]
    page = httpx.get(f"{site.url}/graphql", headers={"Accept": "text/html"})
    assert "unpkg" not in page.text
    assert "/static/vendor/graphiql/graphiql.min.js" in page.text
    script = httpx.get(f"{site.url}/static/vendor/graphiql/graphiql.min.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff"
