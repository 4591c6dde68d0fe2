"""Custom scalars, declared as NewTypes and mapped in `StrawberryConfig.scalar_map`."""

from __future__ import annotations

from typing import Any, NewType

import orjson
import strawberry
from strawberry.types.scalar import ScalarDefinition

GeoJSON = NewType("GeoJSON", object)
"""A GeoJSON geometry; stored as text, served as a JSON object."""


def _geojson(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


SCALARS: dict[object, ScalarDefinition] = {
    GeoJSON: strawberry.scalar(
        name="GeoJSON",
        serialize=_geojson,
        parse_value=lambda v: v,
        description="A GeoJSON geometry object (RFC 7946), coordinates in WGS84.",
        specified_by_url="https://www.rfc-editor.org/rfc/rfc7946",
    ),
}
