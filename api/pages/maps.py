"""A dataset's map, drawn by the app: arrondissement boundaries and the rows' points as inline SVG.

No tile server and no script: the page computes an equirectangular projection (longitudes
shrunk by the cosine of the mean latitude, which is exact enough at a city's scale) and the
browser draws paths and circles. Pure functions, tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

WIDTH = 640.0
MARGIN = 8.0

Position = tuple[float, float]  # (longitude, latitude)


@dataclass(frozen=True, slots=True)
class Area:
    """An arrondissement's outline as an SVG path."""

    code: str
    name: str
    d: str


@dataclass(frozen=True, slots=True)
class SvgMap:
    width: float
    height: float
    areas: list[Area]
    points: list[tuple[float, float]]


def rings(geometry: Any) -> list[list[Position]]:
    """The outer and inner rings of a GeoJSON Polygon or MultiPolygon (anything else: none)."""
    if not isinstance(geometry, dict):
        return []
    kind, coordinates = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coordinates] if kind == "Polygon" else coordinates if kind == "MultiPolygon" else []
    return [
        [(float(x), float(y)) for x, y, *_ in ring]
        for polygon in polygons
        for ring in polygon
        if len(ring) >= 3
    ]


def draw(areas: Iterable[tuple[str, str, Any]], points: Sequence[Position]) -> SvgMap | None:
    """The map of `areas` (code, name, GeoJSON geometry) and `points`; None if nothing to draw."""
    outlines = [(code, name, rings(geometry)) for code, name, geometry in areas]
    everything = [p for _, _, rs in outlines for ring in rs for p in ring] + list(points)
    if not everything:
        return None
    west, east = min(p[0] for p in everything), max(p[0] for p in everything)
    south, north = min(p[1] for p in everything), max(p[1] for p in everything)
    shrink = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * shrink, 1e-9)
    span_y = max(north - south, 1e-9)
    scale = (WIDTH - 2 * MARGIN) / span_x
    height = span_y * scale + 2 * MARGIN

    def xy(position: Position) -> tuple[float, float]:
        x = MARGIN + (position[0] - west) * shrink * scale
        y = MARGIN + (north - position[1]) * scale  # SVG's y grows downwards
        return round(x, 1), round(y, 1)

    drawn = []
    for code, name, rs in outlines:
        parts = []
        for ring in rs:
            corners = [xy(p) for p in ring]
            parts.append("M" + " L".join(f"{x},{y}" for x, y in corners) + " Z")
        if parts:
            drawn.append(Area(code, name, " ".join(parts)))
    return SvgMap(round(WIDTH, 1), round(height, 1), drawn, [xy(p) for p in points])
