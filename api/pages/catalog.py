"""The home page and the catalog: `/`, `/datasets`, `/datasets/{name}` (and its downloads).

The entries are the catalog's own (schema.dcat.dataset_info: DCAT metadata, fields with their
access levels, row count and last load, as the `datasets` field gives them); the map's rows come
from the dataset's connection, read through the API as the visitor. Downloads are plain links
and a GET form to `/datasets/{name}/download`, which redirects to the export with the
arrondissement as a filter: no JavaScript anywhere.

`/datasets/{name}` is the dataset's IRI and api.catalog owns its route: it negotiates, and hands
the clients that prefer text/html to `CatalogPages.dataset`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.api_client import InProcessApi
from api.pages.maps import draw
from api.pages.render import Renderer
from auth.scopes import PUBLIC
from schema.city import City
from schema.datasets import DatasetSpec
from schema.dcat import DatasetInfo, dataset_info

MAP_ROWS = 1000
EXAMPLE_FIELDS = 4

DISTRICTS = "query Districts { districts(first: 100) { nodes { code name geometry } } }"


def example_query(spec: DatasetSpec) -> str:
    """A first query of the dataset: a few public fields of its first rows."""
    fields = [c.field_name for c in spec.columns if not c.restricted and c.role != "geometry"]
    selection = " ".join(fields[:EXAMPLE_FIELDS] or [c.field_name for c in spec.primary_key])
    return (
        f"{{\n  {spec.name}(first: 5) {{\n    totalCount\n    nodes {{ {selection} }}\n  }}\n}}\n"
    )


class CatalogPages:
    """The routes' handlers, sharing the renderer, the API client and the catalog."""

    def __init__(self, renderer: Renderer, api: InProcessApi, city: City) -> None:
        self.renderer = renderer
        self.api = api
        self.city = city
        self.specs = {s.name: s for s in city.catalog.datasets}

    async def entries(self, request: Request) -> list[DatasetInfo]:
        # loads are read each time: an import while the server runs shows at once
        loads = await self.city.loaders().loads()
        return [dataset_info(spec, loads.get(spec.name)) for spec in self.city.catalog.datasets]

    async def home(self, request: Request) -> Response:
        entries = await self.entries(request)
        return self.renderer.page(
            request,
            "home.html",
            public=[e for e in entries if e.access == PUBLIC],
            restricted=[e for e in entries if e.access != PUBLIC],
        )

    async def index(self, request: Request) -> Response:
        entries = await self.entries(request)
        by_department: dict[str, list[DatasetInfo]] = {}
        for entry in entries:
            by_department.setdefault(entry.department, []).append(entry)
        return self.renderer.page(
            request, "datasets.html", departments=sorted(by_department.items())
        )

    async def dataset(self, request: Request) -> Response:
        name = request.path_params["name"]
        spec = self.specs.get(name)
        entry = next((e for e in await self.entries(request) if e.name == name), None)
        if spec is None or entry is None:
            return self.renderer.page(request, "not_found.html", status=404, name=name)
        districts = (await self.api.query(request, DISTRICTS))["districts"]["nodes"]
        district = request.query_params.get("district")
        district = district if district in {d["code"] for d in districts} else None
        svg, shown, total = None, 0, 0
        if spec.geographic and not spec.restricted:
            points, total = await self.points(request, spec, district)
            shown = len(points)
            outlines = [(d["code"], d["name"], _geometry(d["geometry"])) for d in districts]
            svg = draw(outlines, points)
        return self.renderer.page(
            request,
            "dataset.html",
            entry=entry,
            spec=spec,
            districts=districts,
            district=district,
            has_district=spec.role("district") is not None,
            svg=svg,
            shown=shown,
            total=total,
            example=example_query(spec),
            example_link="/graphql?" + urlencode({"q": example_query(spec)}, quote_via=quote),
            formats=["csv", "geojson"] if spec.geographic else ["csv"],
        )

    async def points(
        self, request: Request, spec: DatasetSpec, district: str | None
    ) -> tuple[list[tuple[float, float]], int]:
        lat, lon = spec.role("latitude"), spec.role("longitude")
        if lat is None or lon is None:
            return [], 0
        where = _district_filter(spec, district)
        document = (
            f"query Map($where: {spec.type_name}Filter) {{ {spec.name}(first: {MAP_ROWS}, "
            f"where: $where) {{ totalCount nodes {{ {lat.field_name} {lon.field_name} }} }} }}"
        )
        connection = (await self.api.query(request, document, {"where": where}))[spec.name]
        points = [
            (float(n[lon.field_name]), float(n[lat.field_name]))
            for n in connection["nodes"]
            if n[lat.field_name] is not None and n[lon.field_name] is not None
        ]
        return points, int(connection["totalCount"])

    async def download(self, request: Request) -> Response:
        """`/datasets/{name}/download?format=&district=`: to the export, filtered (no JS needed)."""
        spec = self.specs.get(request.path_params["name"])
        fmt = request.query_params.get("format", "csv")
        if spec is None or fmt not in ("csv", "geojson"):
            return self.renderer.page(
                request, "not_found.html", status=404, name=request.path_params["name"]
            )
        target = f"/export/{spec.name}.{fmt}"
        where = _district_filter(spec, request.query_params.get("district") or None)
        if where is not None:
            target += "?" + urlencode({"where": json.dumps(where, separators=(",", ":"))})
        return RedirectResponse(target, status_code=303)


def _district_filter(spec: DatasetSpec, district: str | None) -> dict[str, Any] | None:
    column = spec.role("district")
    if district is None or column is None:
        return None
    return {column.field_name: {"eq": district}}


def _geometry(value: Any) -> Any:
    # the GeoJSON scalar comes as an object, or as text from older stores
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value
