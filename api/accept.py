"""The Accept header, read once for every endpoint that negotiates (GraphQL, the catalog)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=256)
def accepted(header: str | None) -> dict[str, float]:
    """Media range -> quality, lower-cased; a range named twice keeps its best quality.

    Memoised: clients send a handful of distinct Accept headers. A quality that is no number
    counts as 0 (not acceptable) rather than failing the request.
    """
    quality: dict[str, float] = {}
    for part in (header or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        media = media.lower()
        quality[media] = max(q, quality.get(media, 0.0))
    return quality


def quality_of(header: str | None, media_type: str) -> float:
    """How much a client wants `media_type`: its most specific matching range decides (RFC 9110
    section 12.5.1); no header at all accepts everything."""
    ranges = accepted(header)
    if header is None or not ranges:
        return 1.0
    kind = media_type.split("/", 1)[0]
    for candidate in (media_type, f"{kind}/*", "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0
