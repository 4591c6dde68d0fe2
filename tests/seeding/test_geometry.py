"""The generated map is a valid tiling of Paris, and generated points lie where they say they do."""

from __future__ import annotations

import json
import math

import shapely
from shapely.geometry import Point, Polygon, shape

from tests.seeding.conftest import DISTRICT_CODES, Demo, query


def polygons(demo: Demo, table: str) -> dict[str, Polygon]:
    rows = query(demo.db, f"SELECT code, geometry FROM {table} ORDER BY code")  # noqa: S608 - table names are the test's constants
    found = {}
    for code, geometry in rows:
        figure = shape(json.loads(str(geometry)))
        assert isinstance(figure, Polygon), code
        found[str(code)] = figure
    return found


def area_m2(polygon: Polygon) -> float:
    """Area on a local projection centred on the polygon itself (independent of the generator's)."""
    lat0 = math.radians(polygon.centroid.y)
    metres_per_degree = 6_371_008.8 * math.pi / 180
    flat = shapely.transform(
        polygon, lambda c: c * (metres_per_degree * math.cos(lat0), metres_per_degree)
    )
    return float(flat.area)


def test_boundaries_are_closed_valid_counter_clockwise_polygons(demo: Demo) -> None:
    for table in ("district", "quartier"):
        for code, geometry in query(demo.db, f"SELECT code, geometry FROM {table}"):  # noqa: S608 - table names are the test's constants
            data = json.loads(str(geometry))
            ring = data["coordinates"][0]
            assert data["type"] == "Polygon", code
            assert len(data["coordinates"]) == 1, code
            assert len(ring) >= 4, code
            assert ring[0] == ring[-1], code
            figure = shape(data)
            assert isinstance(figure, Polygon), code
            assert figure.is_valid, code
            assert figure.exterior.is_ccw, code  # RFC 7946's right-hand rule


def test_areas_perimeters_and_centroids_match_the_polygons(demo: Demo) -> None:
    for table in ("district", "quartier"):
        shapes = polygons(demo, table)
        sql = f"SELECT code, area_m2, perimeter_m, latitude, longitude FROM {table}"  # noqa: S608 - table names are the test's constants
        rows = query(demo.db, sql)
        for code, area, perimeter, lat, lon in rows:
            figure = shapes[str(code)]
            assert math.isclose(float(area), area_m2(figure), rel_tol=0.005), code
            assert float(perimeter) > 4 * math.sqrt(float(area)) * 0.9, code
            assert figure.contains(Point(float(lon), float(lat))), code
    total = sum(float(a) for (a,) in query(demo.db, "SELECT area_m2 FROM district"))
    assert 90e6 < total < 120e6  # Paris is about 105 km²


def test_quartiers_tile_their_district_and_districts_tile_the_city(demo: Demo) -> None:
    districts = polygons(demo, "district")
    quartiers = polygons(demo, "quartier")
    assert sorted(districts) == DISTRICT_CODES

    for code, district in districts.items():
        own = [q for qcode, q in quartiers.items() if qcode.startswith(code)]
        assert len(own) == 4, code
        for quartier in own:
            assert district.contains(quartier.centroid), code
        assert shapely.union_all(own).symmetric_difference(district).area < 1e-12, code
    overlap = sum(
        a.intersection(b).area
        for i, a in enumerate(districts.values())
        for b in list(districts.values())[i + 1 :]
    )
    assert overlap < 1e-12
    assert shapely.union_all(list(districts.values())).geom_type == "Polygon"  # one piece, no holes


def test_generated_points_lie_in_the_district_they_name(demo: Demo) -> None:
    districts = polygons(demo, "district")
    for table in ("bike_station", "public_toilet", "air_quality_station", "transit_stop"):
        rows = query(demo.db, f"SELECT latitude, longitude, district_code FROM {table}")  # noqa: S608 - table names are the test's constants
        assert rows, table
        for lat, lon, code in rows:
            point = Point(float(lon), float(lat))
            containing = [c for c, figure in districts.items() if figure.contains(point)]
            assert containing == ([code] if code is not None else []), (table, lat, lon, code)
