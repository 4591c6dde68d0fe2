"""Placing points into districts: a shapely STRtree over the boundaries the city already holds.

The locator is built from the rows in the database (their GeoJSON `geometry`), not from the source
files, so any later import (bike stations, a GTFS feed, a published dataset) places its points
without knowing where the boundaries came from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from schema.city import City
from schema.ingest.text import RowError, SourceError, read_text
from storage.controls import first_control, why_refused
from storage.paging import SortKey
from storage.repository import PageQuery, Repository

PAGE = 500


class DistrictLocator:
    """Which area (district or quartier) contains a point; None outside all of them."""

    def __init__(self, areas: Mapping[str, BaseGeometry]) -> None:
        # Sorted so that a point on a shared border goes to the same area on every run.
        self.codes = sorted(areas)
        self._tree = shapely.STRtree([areas[c] for c in self.codes])

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_geojson(cls, geometries: Mapping[str, str]) -> DistrictLocator:
        """A locator over GeoJSON geometry texts by area code."""
        return cls({code: shape(json.loads(text)) for code, text in geometries.items()})

    @classmethod
    async def load(cls, *, city: City, dataset: str = "districts") -> DistrictLocator:
        """A locator over the boundaries of a dataset's rows in the database (empty if none)."""
        repository = city.repository(dataset)
        spec = city.catalog.by_name(dataset)
        geometry = spec.role("geometry")
        if geometry is None or len(spec.primary_key) != 1:
            raise ValueError(f"{dataset} has no geometry column or no single-column key")
        rows = await _all_rows(repository, key=spec.primary_key[0].name)
        return cls.from_geojson(
            {getattr(r, spec.primary_key[0].name): getattr(r, geometry.name) for r in rows}
        )

    def locate(self, *, latitude: float, longitude: float) -> str | None:
        """Code of the area containing the point (borders included), or None."""
        hits = self._tree.query(shapely.Point(longitude, latitude), predicate="intersects")
        if len(hits) == 0:
            return None
        return self.codes[int(hits.min())]


async def _all_rows(repository: Repository, *, key: str) -> list[Any]:
    rows: list[Any] = []
    after: tuple[Any, ...] | None = None
    while True:
        page = await repository.page(PageQuery(order=(SortKey(key),), first=PAGE, after=after))
        rows.extend(page.rows)
        if not page.has_next:
            return rows
        after = (getattr(page.rows[-1], key),)


@dataclass(frozen=True, slots=True)
class Feature:
    """One GeoJSON feature of a source file: where it was, its properties and geometry."""

    where: str
    properties: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    def value(self, name: str) -> Any:
        """A property's value; RowError when absent or null."""
        value = self.properties.get(name)
        if value is None or value == "":
            raise RowError(f"missing property {name}")
        return value

    def integer(self, name: str) -> int:
        """A property as an int (the files mix "12" and 12); RowError when it is not one."""
        value = self.value(name)
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise RowError(f"bad number in {name}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise RowError(f"bad number in {name}") from None

    def number(self, name: str) -> float:
        """A property as a float; RowError when it is not a number."""
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RowError(f"bad number in {name}")
        return float(value)

    def boundary(self) -> str:
        """The geometry as compact GeoJSON text; RowError unless a valid (Multi)Polygon."""
        if self.geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise RowError("geometry is not a Polygon or MultiPolygon")
        try:
            shape(self.geometry)
        except (ShapelyError, ValueError, TypeError, AttributeError, IndexError, KeyError):
            raise RowError("unreadable geometry") from None
        return json.dumps(self.geometry, separators=(",", ":"), ensure_ascii=False)


def read_features(path: Path) -> list[Feature]:
    """The features of a GeoJSON FeatureCollection file; SourceError when it is not one."""
    try:
        document = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise SourceError(path, f"not JSON ({exc.msg} at line {exc.lineno})") from None
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise SourceError(path, "not a GeoJSON FeatureCollection")
    result = []
    for index, feature in enumerate(features, start=1):
        where = f"{path.name} feature {index}"
        properties = feature.get("properties") if isinstance(feature, dict) else None
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(properties, dict) or not isinstance(geometry, dict):
            result.append(Feature(where, problem="feature without properties or geometry"))
        elif (char := first_control(properties)) is not None:
            result.append(Feature(where, problem=f"a property {why_refused(char, from_file=True)}"))
        else:
            result.append(Feature(where, properties, geometry))
    return result
