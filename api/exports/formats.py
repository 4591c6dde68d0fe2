"""The two export formats: RFC 4180 CSV and RFC 7946 GeoJSON, written page by page."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from api.exports.plan import Plan
from api.exports.refusals import bad
from api.exports.selections import Column
from api.settings import Settings
from schema.datasets import DatasetSpec
from schema.dcat import Credit

CSV_MEDIA = "text/csv; charset=utf-8; header=present"
GEOJSON_MEDIA = "application/geo+json"
FORMATS = ("csv", "geojson")

Pages = AsyncIterator[list[Any]]


def cell(value: Any) -> str:
    """A CSV cell of a GraphQL value: empty for null, JSON for objects and lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def csv_lines(rows: list[list[str]]) -> bytes:
    """RFC 4180 records: CRLF line ends, quotes only where needed, doubled inside."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def csv_body(plan: Plan, pages: Pages) -> AsyncIterator[bytes]:
    """A header row, then each page's rows."""
    yield csv_lines([[c.name for c in plan.columns]])
    async for page in pages:
        yield csv_lines([[cell(c.value(r)) for c in plan.columns] for r in page])


class GeoJSONWriter:
    """Features of one plan: the geometry column when selected, else a Point of latitude/longitude."""

    def __init__(self, plan: Plan) -> None:
        spec, by_field = plan.spec, {c.fields: c for c in plan.columns}

        def selected(role: str) -> Column | None:
            column = spec.role(role)
            return by_field.get((column.field_name,)) if column else None

        self.geometry = selected("geometry")
        lat, lon = selected("latitude"), selected("longitude")
        self.point = (lat, lon) if lat and lon else None
        if self.geometry is None and self.point is None:
            names = {
                r: c.field_name
                for r in ("geometry", "latitude", "longitude")
                if (c := spec.role(r))
            }
            options = [f"`{names['geometry']}`"] if "geometry" in names else []
            if "latitude" in names and "longitude" in names:
                options.append(f"`{names['latitude']}` and `{names['longitude']}`")
            if not options:
                raise bad(f"{spec.name} has no location: export it as CSV")
            raise bad(f"select {' or '.join(options)} to export GeoJSON")
        key = spec.primary_key[0].field_name if len(spec.primary_key) == 1 else None
        self.id = by_field.get((key,)) if key else None
        self.properties = [c for c in plan.columns if c is not self.geometry]

    def feature(self, node: Any) -> dict[str, Any]:
        geometry = self.geometry.value(node) if self.geometry else None
        if self.geometry is None and self.point is not None:
            lat, lon = (c.value(node) for c in self.point)
            # RFC 7946 puts longitude first
            if lat is not None and lon is not None:
                geometry = {"type": "Point", "coordinates": [lon, lat]}
        feature: dict[str, Any] = {"type": "Feature"}
        if self.id is not None and self.id.value(node) is not None:
            feature["id"] = self.id.value(node)
        feature["geometry"] = geometry
        feature["properties"] = {c.name: c.value(node) for c in self.properties}
        return feature

    async def body(self, properties: dict[str, Any], pages: Pages) -> AsyncIterator[bytes]:
        """A FeatureCollection with these top-level properties, written as the pages come."""
        head = {"type": "FeatureCollection", "properties": properties}
        yield orjson.dumps(head)[:-1] + b',"features":['
        separator = b""
        async for page in pages:
            if page:
                yield separator + b",".join(orjson.dumps(self.feature(r)) for r in page)
                separator = b","
        yield b"]}"


def metadata(spec: DatasetSpec, settings: Settings, credit: Credit) -> dict[str, Any]:
    """Licence and attribution of a dataset, as the GeoJSON's top-level properties."""
    m = spec.meta
    return {
        "dataset": m.name,
        "title": m.title,
        "publisher": credit.publisher,
        "license": credit.license,
        "licenseUrl": credit.license_url,
        "attribution": credit.attribution,
        "source": credit.source,
        "synthetic": credit.synthetic,
        "catalog": f"{settings.base_url}/catalog.jsonld",
        "exportedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
