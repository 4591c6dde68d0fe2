"""The pages and the API edge over HTTP, without a browser: headers, CORS, cookies, CSRF, languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from api.app import create_app
from api.pages.i18n import LANGUAGES, MESSAGES
from api.pages.maps import draw
from api.settings import Environment, Settings
from tests.api.conftest import MakeClient
from tests.api.pages.conftest import PAGES

HTML = {"Accept": "text/html"}


@pytest.fixture
def site(make_client: MakeClient) -> TestClient:
    client = make_client()
    client.base_url = "http://127.0.0.1:8000"  # the demo sign-in wants loopback
    return client


@pytest.mark.parametrize("path", [*PAGES, "/graphql"])
def test_every_page_has_the_security_headers(site: TestClient, path: str) -> None:
    response = site.get(path, headers=HTML)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert not re.search(r"https?://", csp)  # no other origin
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    # no inline script at all, so none needs a hash
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)


def test_api_answers_get_the_api_policy(site: TestClient) -> None:
    response = site.post("/graphql", json={"query": "{ districts(first: 1) { totalCount } }"})
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_preflight_of_graphql_is_answered_for_any_origin(site: TestClient) -> None:
    response = site.options(
        "/graphql",
        headers={
            "Origin": "https://bike.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_the_api_exposes_its_limit_headers_and_sets_no_cookie(site: TestClient) -> None:
    response = site.post(
        "/graphql",
        json={"query": "{ districts(first: 1) { totalCount } }"},
        headers={"Origin": "https://bike.example"},
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ratelimit-remaining" in response.headers["access-control-expose-headers"].lower()
    for path in (
        "/graphql?query={districts(first:1){totalCount}}",
        "/export/districts.csv",
        "/catalog.jsonld",
        "/schema.graphql",
        "/.well-known/oauth-authorization-server",
    ):
        assert "set-cookie" not in site.get(path).headers, path  # fmt: skip


def test_configured_origins_only(make_client: MakeClient) -> None:
    client = make_client(cors_origins=["https://app.example"])
    allowed = client.options(
        "/graphql",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )
    refused = client.options(
        "/graphql",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_session_pages_get_no_cors_headers(site: TestClient) -> None:
    response = site.get("/developers", headers={"Origin": "https://evil.example", **HTML})
    assert "access-control-allow-origin" not in response.headers


def test_a_session_cookie_is_httponly_lax_and_secure_in_production_only(site: TestClient) -> None:
    response = site.get("/developers", headers=HTML)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("citygraph_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback in development


def test_forms_need_the_session_csrf_token_and_this_origin(site: TestClient) -> None:
    page = site.get("/developers", headers=HTML)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    forged = site.post("/developers/register", data={"name": "x", "csrf": "wrong"})
    assert forged.status_code == 403
    elsewhere = site.post(
        "/developers/register",
        data={"name": "x", "csrf": token.group(1)},
        headers={"Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403
    made = site.post("/developers/register", data={"name": "Vélo", "csrf": token.group(1)})
    assert made.status_code == 201
    assert re.search(r'id="client-secret">[^<]{30,}<', made.text)
    assert made.headers["cache-control"] == "no-store"


def test_a_tampered_session_cookie_is_a_new_session(site: TestClient) -> None:
    site.get("/developers", headers=HTML)
    site.cookies.set("citygraph_session", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.BBBB.CCCC")
    response = site.get("/developers", headers=HTML)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [("fr-FR,fr;q=0.9,en;q=0.8", "fr"), ("en-GB", "en"), ("de-DE, fr;q=0.5", "fr"), ("", "en")],
)
def test_accept_language_picks_french_or_english(
    site: TestClient, accept_language: str, lang: str
) -> None:
    response = site.get("/datasets", headers={"Accept-Language": accept_language, **HTML})
    assert response.headers["content-language"] == lang
    assert f'<html lang="{lang}">' in response.text


def test_every_message_exists_in_both_languages() -> None:
    assert [k for k, v in MESSAGES.items() if set(v) != set(LANGUAGES)] == []


def test_downloads_filter_by_district_without_javascript(site: TestClient) -> None:
    response = site.get(
        "/datasets/bikeStations/download?format=csv&district=75102", follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/export/bikeStations.csv?where=")
    csv_text = site.get(response.headers["location"]).text
    lines = csv_text.strip().splitlines()
    assert len(lines) > 1
    assert all("75102" in line for line in lines[1:])


def test_an_unknown_dataset_is_a_404_page(site: TestClient) -> None:
    response = site.get("/datasets/nope", headers=HTML)
    assert response.status_code == 404
    assert "nope" in response.text


def test_the_demo_sign_in_never_redirects_to_another_uri(site: TestClient) -> None:
    response = site.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": "citygraph-pages",
                "redirect_uri": "https://evil.example/cb", "state": "s",
                "code_challenge": "x" * 43, "code_challenge_method": "S256"},
        headers=HTML, follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    "overrides",
    [
        {"issuer_url": "https://idp.example"},  # the city's provider signs citizens in
        {
            "environment": Environment.PRODUCTION,
            "database_url": "postgresql+asyncpg://citygraph@127.0.0.1:1/city",
            "public_url": "https://city.example",
        },
    ],
)
def test_no_demo_sign_in_in_production_or_beside_the_city_provider(
    tmp_path: Path, overrides: dict[str, object]
) -> None:
    settings = Settings(data_dir=tmp_path, **{"environment": Environment.TEST, **overrides})  # type: ignore[arg-type]
    app = create_app(settings)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/my-data" in paths
    assert "/oauth/authorize" not in paths


def test_the_map_projects_areas_and_points_into_the_frame() -> None:
    square = {
        "type": "Polygon",
        "coordinates": [
            [[2.30, 48.85], [2.31, 48.85], [2.31, 48.86], [2.30, 48.86], [2.30, 48.85]]
        ],
    }
    drawn = draw([("75101", "Louvre", square)], [(2.305, 48.855)])
    assert drawn is not None
    assert drawn.areas[0].d.startswith("M")
    assert drawn.areas[0].d.endswith("Z")
    ((x, y),) = drawn.points
    assert 0 < x < drawn.width
    assert 0 < y < drawn.height
    assert abs(x - drawn.width / 2) < 1
    assert abs(y - drawn.height / 2) < 1
    assert draw([], []) is None


def test_production_cookies_are_secure_and_host_prefixed() -> None:
    from starlette.requests import Request
    from starlette.responses import Response

    from api.pages.session import Sessions

    sessions = Sessions(b"k" * 32, secure=True, origins=frozenset())
    request = Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    )
    sessions.load(request)["app"] = "cg_x"
    response = Response()
    sessions.save(request, response)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-citygraph=")
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    assert "cg_x" not in cookie  # encrypted, not only signed


@pytest.mark.parametrize("path", ["/", "/datasets", "/datasets/bikeStations", "/graphql"])
def test_reading_the_catalog_sets_no_cookie(site: TestClient, path: str) -> None:
    # only a page with a form (the portal, the citizen's page) starts a session
    assert "set-cookie" not in site.get(path, headers=HTML).headers
