"""Rendering a page: Jinja2 templates (autoescaped), in the request's language, with its session.

Every page gets `t` (translate), `msg`, `lang`, `path`, `csrf()` (the session's form token, made
when a form asks for it), the switcher's links and the navigation. Language choice is remembered in a cookie when the switcher set it; the
response varies on it and on Accept-Language.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from api.pages.i18n import COOKIE, LANGUAGES, MESSAGES, negotiate, translate
from api.pages.session import Sessions

TEMPLATES = Path(__file__).resolve().parent / "templates"

NAV = (
    ("/", "home"),
    ("/datasets", "datasets"),
    ("/developers", "developers"),
    ("/my-data", "my_data"),
    ("/graphql", "graphiql"),
)


class Renderer:
    """The pages' template environment and their common context."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a typo in a template fails its test, not silently
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def page(
        self, request: Request, template: str, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """The rendered page, with the session's cookie written if it changed."""
        language = negotiate(request)
        session = self.sessions.load(request)

        def t(key: str, **values: object) -> str:
            return translate(language, key, **values)

        def msg(text: str) -> str:
            """A message key in the page's language; other text (an error's) as it is."""
            return translate(language, text) if text in MESSAGES else text

        switch = {
            other: f"{request.url.path}?{urlencode({**request.query_params, 'lang': other})}"
            for other in LANGUAGES
        }
        body = self.env.get_template(template).render(
            t=t,
            msg=msg,
            lang=language,
            path=request.url.path,
            nav=NAV,
            switch=switch,
            # a callable: only a page with a form makes the token, and so a session cookie;
            # the catalog's pages set none
            csrf=lambda: session.csrf,
            **context,
        )
        response = HTMLResponse(body, status_code=status)
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language, Cookie"
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                COOKIE, language, max_age=365 * 86400, samesite="lax", httponly=True
            )
        self.sessions.save(request, response)
        return response
