"""Territory for the demo city: a generated map of the 20 arrondissements and 80 quartiers, the
territory as the other generators see it (real or generated), and the districts' populations.

Without the real boundaries, Paris is drawn as three elliptical rings around its centre, cut into
wedges that turn clockwise like the real arrondissements do: 1 to 4 in the middle, 5 to 11 around
them, 12 to 20 outside. Each wedge is cut into four quartiers (two bands, two halves). Neighbouring
polygons share their vertices exactly, so the map tiles without gaps or overlaps. The map is the same
for every seed: a seed changes who lives in the city, not where its streets are.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from sqlalchemy import update

from schema.departments.registry.names import DISTRICT_NAMES, QUARTIER_NAMES
from schema.departments.seedkit import rewriting, stream_rows
from schema.ingest import ImportReport
from storage.repository import AggregateQuery

if TYPE_CHECKING:
    from rich.progress import Progress

    from schema.city import City

CENTRE_LAT = 48.8566
CENTRE_LON = 2.3522
_M_PER_DEG_LAT = math.pi * 6_371_008.8 / 180.0
_M_PER_DEG_LON = _M_PER_DEG_LAT * math.cos(math.radians(CENTRE_LAT))
_STRETCH_EAST = 1.2
"""Paris is wider east-west than north-south."""
_ARC_STEP = 3.0
"""Degrees between two vertices of an arc."""


@dataclass(frozen=True, slots=True)
class _Ring:
    inner_m: float
    outer_m: float
    start: float
    """Bearing (degrees clockwise from north) where the first wedge starts."""
    numbers: tuple[int, ...]

    @property
    def span(self) -> float:
        return 360.0 / len(self.numbers)

    @property
    def middle_m(self) -> float:
        # The radius that splits the ring's area in two equal bands.
        return math.sqrt((self.inner_m**2 + self.outer_m**2) / 2.0)

    def wedges(self) -> Iterator[tuple[int, float, float]]:
        for k, number in enumerate(self.numbers):
            yield number, self.start + k * self.span, self.start + (k + 1) * self.span


_RINGS = (
    _Ring(0.0, 1_400.0, 225.0, (1, 2, 3, 4)),
    _Ring(1_400.0, 3_000.0, 145.0, (5, 6, 7, 8, 9, 10, 11)),
    _Ring(3_000.0, 5_300.0, 100.0, (12, 13, 14, 15, 16, 17, 18, 19, 20)),
)


def _key(bearing: float) -> float:
    return round(bearing % 360.0, 9)


def to_metres(lon: float, lat: float) -> tuple[float, float]:
    """Local metric coordinates (east, north) around the centre of Paris."""
    return (lon - CENTRE_LON) * _M_PER_DEG_LON, (lat - CENTRE_LAT) * _M_PER_DEG_LAT


def to_degrees(x: float, y: float) -> tuple[float, float]:
    """(lon, lat) of local metric coordinates, rounded to 1e-7 degree (about a centimetre)."""
    return round(CENTRE_LON + x / _M_PER_DEG_LON, 7), round(CENTRE_LAT + y / _M_PER_DEG_LAT, 7)


def metric(geometry: BaseGeometry) -> BaseGeometry:
    """A WGS84 geometry in local metres, for areas and lengths (equirectangular, exact to 0.1%)."""
    return shapely.transform(
        geometry, lambda c: (c - (CENTRE_LON, CENTRE_LAT)) * (_M_PER_DEG_LON, _M_PER_DEG_LAT)
    )


class _Map:
    """Vertices on the circles of the rings, shared by every polygon that touches a circle."""

    def __init__(self) -> None:
        self.circles: dict[float, set[float]] = {}
        grid = {_key(k * _ARC_STEP) for k in range(int(360 / _ARC_STEP))}
        for ring in _RINGS:
            radii = (ring.inner_m, ring.middle_m, ring.outer_m)
            for radius in radii:
                self.circles.setdefault(radius, set(grid))
            for _number, first, last in ring.wedges():
                for radius in radii:
                    self.circles[radius] |= {_key(first), _key((first + last) / 2), _key(last)}
        self.sorted = {radius: sorted(angles) for radius, angles in self.circles.items()}

    def vertex(self, radius: float, bearing: float) -> tuple[float, float]:
        angle = math.radians(_key(bearing))
        x = _STRETCH_EAST * radius * math.sin(angle)
        y = radius * math.cos(angle)
        return to_degrees(x, y)

    def arc(self, radius: float, first: float, last: float) -> list[tuple[float, float]]:
        """Vertices of a circle from bearing `first` clockwise to `last`, both included."""
        if radius == 0.0:
            return [(CENTRE_LON, CENTRE_LAT)]
        start = _key(first)
        span = last - first
        offsets = sorted((angle - start) % 360.0 for angle in self.sorted[radius])
        chosen = [o for o in offsets if o <= span + 1e-9]
        if chosen[-1] < span - 1e-9:
            raise AssertionError("an arc's end is missing from its circle")
        return [self.vertex(radius, start + offset) for offset in chosen]

    def sector(
        self, inner: float, outer: float, first: float, last: float, *, middle: float | None = None
    ) -> Polygon:
        """The polygon between two circles and two bearings (with a vertex at `middle` on both
        radial edges, where neighbouring quartiers meet)."""
        points = self.arc(outer, first, last)
        if middle is not None:
            points.append(self.vertex(middle, last))
        if inner > 0.0:
            points.extend(reversed(self.arc(inner, first, last)))
        else:
            points.append((CENTRE_LON, CENTRE_LAT))
        if middle is not None:
            points.append(self.vertex(middle, first))
        # RFC 7946: exterior rings are counter-clockwise.
        return orient(Polygon(points), sign=1.0)


def _geojson(polygon: Polygon) -> str:
    ring = [[x, y] for x, y in polygon.exterior.coords]
    return json.dumps({"type": "Polygon", "coordinates": [ring]}, separators=(",", ":"))


def _measures(polygon: Polygon) -> dict[str, Any]:
    flat = metric(polygon)
    centroid = polygon.centroid
    return {
        "area_m2": round(flat.area, 1),
        "perimeter_m": round(flat.length, 1),
        "latitude": round(centroid.y, 7),
        "longitude": round(centroid.x, 7),
        "geometry": _geojson(polygon),
    }


def district_label(number: int) -> str:
    """The city's short label: `1er Ardt`, `2ème Ardt`..."""
    return "1er Ardt" if number == 1 else f"{number}ème Ardt"


def generate_map() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of the 20 generated districts and their 80 quartiers."""
    drawing = _Map()
    districts: list[dict[str, Any]] = []
    quartiers: list[dict[str, Any]] = []
    for ring in _RINGS:
        inner, middle, outer = ring.inner_m, ring.middle_m, ring.outer_m
        for number, first, last in ring.wedges():
            code = f"751{number:02d}"
            half = (first + last) / 2
            polygon = drawing.sector(inner, outer, first, last, middle=middle)
            districts.append(
                {
                    "code": code,
                    "number": number,
                    "name": DISTRICT_NAMES[number - 1],
                    "label": district_label(number),
                    "population": 0,
                    **_measures(polygon),
                }
            )
            # Numbered in a small spiral: inner band first, then back along the outer band.
            parts = (
                drawing.sector(inner, middle, first, half),
                drawing.sector(inner, middle, half, last),
                drawing.sector(middle, outer, half, last),
                drawing.sector(middle, outer, first, half),
            )
            for k, part in enumerate(parts, start=1):
                serial = (number - 1) * 4 + k
                quartiers.append(
                    {
                        "code": f"{code}{k:02d}",
                        "number": serial,
                        "name": QUARTIER_NAMES[serial - 1],
                        "district_code": code,
                        **_measures(part),
                    }
                )
    districts.sort(key=lambda row: row["code"])
    quartiers.sort(key=lambda row: row["code"])
    return districts, quartiers


async def seed(*, city: City, rng: random.Random, progress: Progress | None = None) -> ImportReport:
    """Replace the districts and quartiers with the generated map (the map ignores the seed)."""
    del rng, progress  # same signature as every department's seed; the map is fixed
    districts, quartiers = generate_map()
    async with rewriting(city, "districts", "quartiers") as rewrite:
        await rewrite.insert("districts", districts)
        await rewrite.insert("quartiers", quartiers)
    report = ImportReport(loaded=rewrite.counts)
    report.notes.append(
        "districts, quartiers: generated (20 arrondissements and 80 quartiers on a rings-and-wedges map)"
    )
    return report


# --- the territory as the other generators see it ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Zone:
    """A district or quartier with its shape, for placing generated points."""

    code: str
    district_code: str
    name: str
    shape: BaseGeometry
    area_m2: float


class Territory:
    """The districts and quartiers in the database, real or generated, as shapes to sample from."""

    def __init__(self, districts: Sequence[Zone], quartiers: Sequence[Zone]) -> None:
        self.districts = tuple(sorted(districts, key=lambda z: z.code))
        self.quartiers = tuple(sorted(quartiers, key=lambda z: z.code))
        self._district = {z.code: z for z in self.districts}
        self.quartiers_of = {
            d.code: tuple(q for q in self.quartiers if q.district_code == d.code)
            for d in self.districts
        }
        for zone in (*self.districts, *self.quartiers):
            shapely.prepare(zone.shape)
        west, south, east, north = shapely.total_bounds([z.shape for z in self.districts]).tolist()
        self.bounds = (west, south, east, north)

    @classmethod
    async def load(cls, city: City) -> Territory:
        """Read the districts and quartiers the territory step stored."""

        async def zones(dataset: str) -> list[Zone]:
            found = []
            columns = ("code", "name", "geometry") + (
                ("district_code",) if dataset == "quartiers" else ()
            )
            async for part in stream_rows(city, dataset, columns):
                for row in part:
                    figure = shape(json.loads(row.geometry))
                    district_code = getattr(row, "district_code", row.code)
                    found.append(
                        Zone(row.code, district_code, row.name, figure, metric(figure).area)
                    )
            return found

        territory = cls(await zones("districts"), await zones("quartiers"))
        if not territory.districts or not territory.quartiers:
            raise RuntimeError("the territory is empty: seed the districts and quartiers first")
        if any(not territory.quartiers_of[d.code] for d in territory.districts):
            raise RuntimeError("every district needs at least one quartier")
        return territory

    def district(self, code: str) -> Zone:
        return self._district[code]

    def point_in(self, rng: random.Random, quartier: Zone) -> tuple[float, float]:
        """A random (lat, lon) inside a quartier and its district, to 1e-6 degree."""
        district = self._district[quartier.district_code]
        west, south, east, north = quartier.shape.bounds
        for _ in range(1_000):
            lon = round(rng.uniform(west, east), 6)
            lat = round(rng.uniform(south, north), 6)
            if shapely.contains_xy(quartier.shape, lon, lat) and shapely.contains_xy(
                district.shape, lon, lat
            ):
                return lat, lon
        # A sliver of a quartier that its district does not cover: its representative point is
        # inside the quartier, which is the best the data allows.
        point = quartier.shape.representative_point()
        return round(point.y, 6), round(point.x, 6)

    def district_at(self, lat: float, lon: float) -> str | None:
        """Code of the district containing a point; None outside every district."""
        for zone in self.districts:
            if shapely.contains_xy(zone.shape, lon, lat):
                return zone.code
        return None

    def point_outside(
        self, rng: random.Random, *, margin_m: float = 2_500.0
    ) -> tuple[float, float]:
        """A random (lat, lon) within `margin_m` of the city's bounding box but in no district."""
        west, south, east, north = self.bounds
        d_lon, d_lat = margin_m / _M_PER_DEG_LON, margin_m / _M_PER_DEG_LAT
        while True:
            lon = round(rng.uniform(west - d_lon, east + d_lon), 6)
            lat = round(rng.uniform(south - d_lat, north + d_lat), 6)
            if self.district_at(lat, lon) is None:
                return lat, lon

    def centre(self) -> tuple[float, float]:
        """(lat, lon) of the middle of the city's bounding box."""
        west, south, east, north = self.bounds
        return (south + north) / 2, (west + east) / 2

    def bearing_of(self, lat: float, lon: float) -> float:
        """Bearing of a point from the centre, degrees clockwise from north."""
        centre_lat, centre_lon = self.centre()
        x, y = (lon - centre_lon) * _M_PER_DEG_LON, (lat - centre_lat) * _M_PER_DEG_LAT
        return math.degrees(math.atan2(x, y)) % 360.0

    def metres_between(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        """Distance between two (lat, lon) points in metres (equirectangular; city scale)."""
        return math.hypot((a[1] - b[1]) * _M_PER_DEG_LON, (a[0] - b[0]) * _M_PER_DEG_LAT)


# --- populations ---------------------------------------------------------------------------------


async def set_populations(*, city: City) -> ImportReport:
    """Set each district's population to the number of residents the civil registry holds there."""
    rows = await city.repository("residents").aggregate(
        AggregateQuery(group_by=("district_code",), measures=(("count", None),))
    )
    counts = {row.district_code: int(row.m_count_rows) for row in rows}
    districts = city.repository("districts")
    table = districts.table
    async with districts.engine.begin() as conn:
        codes = [
            code for (code,) in (await conn.execute(table.select().with_only_columns(table.c.code)))
        ]
        for code in codes:
            await conn.execute(
                update(table).where(table.c.code == code).values(population=counts.get(code, 0))
            )
    report = ImportReport()
    report.loaded["districts.population"] = len(codes)
    outside = sum(n for code, n in counts.items() if code not in set(codes))
    if outside:
        report.notes.append(f"{outside} residents live in districts the territory does not have")
    return report
