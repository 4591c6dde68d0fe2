"""Security headers on every response (added by the app's edge, api.edge).

HTML (the pages, GraphiQL) gets a Content-Security-Policy that names no other origin and allows no
inline script: every script is a file of ours (api/pages/static), so no hash is even needed. Other
responses (JSON, CSV, GeoJSON) get the policy OWASP recommends for APIs, `default-src 'none'`, since
nothing in them should ever run. Every response also says: do not sniff types, do not frame me,
send referrers to this origin only, and keep other origins' windows apart from mine.

A response that already carries one of these headers keeps its own value (a page that must allow
one more thing says so itself).
"""

from __future__ import annotations

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
    """The security headers of one app, added to a response's header list (api.edge calls it)."""

    def __init__(self, *, https: bool = False) -> None:
        # HSTS only where the site is served over TLS: over plain HTTP it is ignored anyway, and
        # a developer's localhost must not be pinned to https
        extra = ((b"strict-transport-security", b"max-age=31536000"),) if https else ()
        self.api = ((b"content-security-policy", API_POLICY.encode()), *COMMON, *extra)
        self.page = ((b"content-security-policy", PAGE_POLICY.encode()), *COMMON, *extra)

    def add(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Append to `headers` every security header it does not set itself."""
        present = set()
        html = False
        for name, value in headers:
            name = name.lower()
            present.add(name)
            if name == b"content-type" and value.startswith(b"text/html"):
                html = True
        headers.extend(pair for pair in (self.page if html else self.api) if pair[0] not in present)
