"""Custom scalars."""

from __future__ import annotations

from typing import Any, NewType

import orjson
import strawberry


def _geojson(value: Any) -> Any:
    # Geometries are stored as GeoJSON text; they leave as JSON objects.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


GeoJSON = strawberry.scalar(
    NewType("GeoJSON", object),
    serialize=_geojson,
    parse_value=lambda v: v,
    description="A GeoJSON geometry object (RFC 7946), coordinates in WGS84.",
    specified_by_url="https://www.rfc-editor.org/rfc/rfc7946",
)
