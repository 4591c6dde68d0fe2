"""Security headers on every response, as one pure ASGI middleware.

HTML (the pages, GraphiQL) gets a Content-Security-Policy that names no other origin and allows no
inline script: every script is a file of ours (api/pages/static), so no hash is even needed. Other
responses (JSON, CSV, GeoJSON) get the policy OWASP recommends for APIs, `default-src 'none'`, since
nothing in them should ever run. Every response also says: do not sniff types, do not frame me,
send referrers to this origin only, and keep other origins' windows apart from mine.

A response that already carries one of these headers keeps its own value (a page that must allow
one more thing says so itself).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # GraphiQL's stylesheet embeds its fonts and icons as data: URLs
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"

COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors' predecessor, for old browsers
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the security headers to every HTTP response of the app it wraps."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        # HSTS only where the site is served over TLS: over plain HTTP it is ignored anyway, and
        # a developer's localhost must not be pinned to https
        self.extra = ((b"strict-transport-security", b"max-age=31536000"),) if https else ()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                html = any(
                    name.lower() == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                policy = PAGE_POLICY if html else API_POLICY
                wanted = (
                    (b"content-security-policy", policy.encode()),
                    *COMMON,
                    *self.extra,
                )
                headers.extend(pair for pair in wanted if pair[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
