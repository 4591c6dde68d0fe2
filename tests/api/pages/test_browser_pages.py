"""Every page in Chromium with no network beyond loopback: rendered, accessible (axe-core, both
languages), usable on a phone, and the catalog's downloads working without JavaScript."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.async_api import Browser, BrowserContext

from tests.api.pages.conftest import PAGES, PHONE, Site, Watch, axe, new_context

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_every_page_renders_and_axe_finds_nothing(
    site: Site, context: BrowserContext, watch: Watch, axe_source: str, language: str
) -> None:
    page = await context.new_page()
    for path in PAGES:
        response = await page.goto(f"{site.url}{path}?lang={language}")
        assert response is not None, path
        assert response.status == 200, path
        assert await page.get_attribute("html", "lang") == language
        assert await page.locator("h1").count() == 1, path
        assert await axe(page, axe_source) == [], (path, language)
        assert await watch.violations(page) == [], path
    # the pages that answer something else than a 200: a 404, the demo's sign-in
    await page.goto(f"{site.url}/datasets/nope?lang={language}")
    assert await axe(page, axe_source) == []
    await page.goto(f"{site.url}/my-data?lang={language}")
    await page.click("a[href='/my-data/sign-in']")
    assert await page.locator("fieldset input[type=radio]").count() >= 1  # the demo sign-in
    assert await axe(page, axe_source) == []
    assert watch.outside == []


async def test_the_switcher_and_accept_language_choose_the_language(
    site: Site, browser: Browser, watch: Watch
) -> None:
    context = await new_context(
        browser, watch, extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"}
    )
    page = await context.new_page()
    await page.goto(f"{site.url}/datasets")
    assert await page.get_attribute("html", "lang") == "fr"
    assert await page.locator("h1").inner_text() == "Le catalogue"
    await page.click("text=English")
    assert await page.locator("h1").inner_text() == "The catalog"
    await page.goto(f"{site.url}/developers")  # the choice is remembered
    assert await page.get_attribute("html", "lang") == "en"
    await context.close()


async def test_pages_fit_a_phone_and_pass_axe_there(
    site: Site, browser: Browser, watch: Watch, axe_source: str
) -> None:
    context = await new_context(browser, watch, viewport=PHONE, is_mobile=True, has_touch=True)
    page = await context.new_page()
    for path in PAGES:
        await page.goto(f"{site.url}{path}")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
        assert await axe(page, axe_source) == [], path
    await context.close()


async def test_a_dataset_page_shows_metadata_fields_map_and_example(
    site: Site, context: BrowserContext
) -> None:
    page = await context.new_page()
    await page.goto(f"{site.url}/datasets/bikeStations?district=75101")
    text = await page.locator("main").inner_text()
    for expected in ("Licence", "Attribution", "Rows", "Last load", "capacity", "public"):
        assert expected in text, expected
    circles = await page.locator("figure.map svg circle").count()
    areas = await page.locator("figure.map svg path").count()
    assert areas == 3  # the seeded arrondissements
    # the seed puts stations 0, 3 (no district), 6, 9 in 75101: three with a district there
    assert circles == 3
    assert await page.locator("figure.map svg path.selected").count() == 1
    link = await page.get_attribute("text=Open in GraphiQL", "href")
    assert link is not None
    assert link.startswith("/graphql?q=")


async def test_downloads_work_without_javascript(
    site: Site, browser: Browser, watch: Watch
) -> None:
    context = await new_context(browser, watch, java_script_enabled=False, accept_downloads=True)
    page = await context.new_page()
    await page.goto(f"{site.url}/datasets")
    await page.click("text=Vélib' stations")
    await page.select_option("#dl-district", "75102")
    await page.select_option("#dl-format", "csv")
    async with page.expect_download() as info:
        await page.click("form[action$='/download'] button")
    download = await info.value
    path = await download.path()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows
    assert {row["districtCode"] for row in rows} == {"75102"}
    await context.close()
    assert watch.outside == []


async def test_axe_does_find_violations_where_there_are_some(
    context: BrowserContext, axe_source: str
) -> None:
    page = await context.new_page()
    await page.set_content(
        '<html><body><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></body></html>'
    )
    found = {v["id"] for v in await axe(page, axe_source)}
    assert {"image-alt", "html-has-lang"} <= found
