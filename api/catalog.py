"""The catalog over HTTP, the way harvesters read it (docs/catalog.md).

- `/catalog` answers in the RDF form the Accept header asks for (JSON-LD by default);
  `/catalog.jsonld`, `.ttl`, `.rdf` and `.nt` default to their own form and still honour an
  Accept header that names another RDF form.
- Pages of `catalog_page_size` datasets: `?page=N` from 1, described with Hydra as both
  ckanext-dcat and data.europa.eu's importer read it (`hydra:PagedCollection` with the
  literal `hydra:nextPage`, `hydra:PartialCollectionView` with the IRI `hydra:next`).
- `/datasets/{name}` (the dataset's IRI) dereferences to the dataset's own description for RDF
  media types; `/datasets/{name}.jsonld` (and the other extensions) names a form.

The HTML seam: a client that prefers text/html at `/datasets/{name}` is handed to `html_page`
when the app has one, and until then gets a 303 to the JSON-LD description.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.exchange import RequestError, error_response
from api.rdf import EXTENSIONS, FORMS, JSONLD, RdfForm, rdf_form, serialize
from api.settings import Settings
from schema.city import City
from schema.datasets import DatasetSpec
from schema.dcat_graph import CatalogMeta, catalog_graph, dataset_graph

Endpoint = Callable[[Request], Awaitable[Response]]
PAGES_KEPT = 32
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
FORM_NAMES = ", ".join(f"{f.media_type} (.{f.extension})" for f in FORMS)


def catalog_meta(settings: Settings) -> CatalogMeta:
    """Who publishes the catalog, from the settings."""
    return CatalogMeta(
        base_url=settings.base_url,
        publisher=settings.catalog_publisher,
        homepage=settings.catalog_homepage or settings.base_url + "/",
        contact_email=settings.catalog_contact_email,
    )


class CatalogEndpoints:
    """`/catalog[.ext]` and `/datasets/{name}[.ext]`."""

    def __init__(self, city: City, settings: Settings, *, html_page: Endpoint | None = None):
        self.city = city
        self.meta = catalog_meta(settings)
        self.page_size = settings.catalog_page_size
        self.html_page = html_page
        # a page costs 40-80 ms of CPU to build and write (16 datasets, a busy machine): the
        # last few are kept, keyed on the loads they show, so a harvest or a flood costs one each
        self._pages: OrderedDict[tuple[object, ...], bytes] = OrderedDict()

    def routes(self) -> list[Route]:
        return [
            Route("/catalog", self.catalog),
            Route("/catalog.{ext}", self.catalog),
            Route("/datasets/{name}.{ext}", self.dataset),
            Route("/datasets/{name}", self.dataset),
        ]

    async def catalog(self, request: Request) -> Response:
        """One page of the catalog, in the form asked for."""
        try:
            form = _form(request)
            unknown = sorted(set(request.query_params) - {"page"})
            if unknown:
                raise RequestError(400, f"unknown parameter(s) {unknown}: the catalog takes `page`")
            specs = self.city.catalog.datasets
            last = max(1, math.ceil(len(specs) / self.page_size))
            page = _page(request.query_params.get("page"), last)
        except RequestError as error:
            return error_response(error)
        # loads are read each time: an import while the server runs shows up at once
        loads = await self.city.loaders().loads()
        version = tuple(sorted((n, load.loaded_at) for n, load in loads.items()))
        key = (request.url.path, page, form.extension, version)
        body = self._pages.get(key)
        if body is not None:
            self._pages.move_to_end(key)
        else:
            chosen = specs[(page - 1) * self.page_size : page * self.page_size]
            versions = await self.city.loaders().versions()
            graph = catalog_graph(self.meta, chosen, loads, versions)
            self._paging(graph, request, page=page, last=last, total=len(specs))
            body = serialize(graph, form, root=str(self.meta.iri))
            self._remember(key, body)
        return _rdf_response(body, form)

    async def dataset(self, request: Request) -> Response:
        """A dataset's own description (RDF), or its page for a browser."""
        name = request.path_params["name"]
        try:
            if "ext" in request.path_params:
                form: RdfForm | None = _form(request)
            else:
                form = rdf_form(request.headers.get("accept"), html=True)
            if form is None and self.html_page is not None:
                # a browser: the page, which also answers an unknown name in the visitor's language
                return await self.html_page(request)
            spec = self._spec(name)
        except RequestError as error:
            return error_response(error)
        if form is None:
            # no HTML page yet: send browsers to the JSON-LD form (Linked Data's 303)
            return RedirectResponse(
                f"/datasets/{name}.{JSONLD.extension}", status_code=303, headers={"Vary": "Accept"}
            )
        loaders = self.city.loaders()
        load = (await loaders.loads()).get(name)
        graph = dataset_graph(self.meta, spec, load, (await loaders.versions()).get(name, ()))
        return _rdf_response(serialize(graph, form, root=str(self.meta.dataset(name))), form)

    def _remember(self, key: tuple[object, ...], body: bytes) -> None:
        self._pages[key] = body
        while len(self._pages) > PAGES_KEPT:
            self._pages.popitem(last=False)

    def _spec(self, name: str) -> DatasetSpec:
        spec = next((s for s in self.city.catalog.datasets if s.name == name), None)
        if spec is None:
            raise RequestError(404, f"no dataset named {name!r}; /catalog lists them", "NOT_FOUND")
        return spec

    def _paging(self, graph: Graph, request: Request, *, page: int, last: int, total: int) -> None:
        graph.bind("hydra", HYDRA)

        def url(n: int) -> str:
            return f"{self.meta.base}{request.url.path}?page={n}"

        view = URIRef(url(page))
        graph.add((self.meta.iri, HYDRA.view, view))
        graph.add((view, RDF.type, HYDRA.PartialCollectionView))
        graph.add((view, RDF.type, HYDRA.PagedCollection))
        graph.add((view, HYDRA.totalItems, Literal(total)))
        graph.add((view, HYDRA.itemsPerPage, Literal(self.page_size)))
        links = {"first": 1, "last": last}
        if page > 1:
            links["previous"] = page - 1
        if page < last:
            links["next"] = page + 1
        for link, n in links.items():
            # the IRI for Hydra's current vocabulary, the string for its older paged design,
            # which ckanext-dcat writes and data.europa.eu's importer reads as a string
            graph.add((view, HYDRA[link], URIRef(url(n))))
            graph.add((view, HYDRA[f"{link}Page"], Literal(url(n))))


def _form(request: Request) -> RdfForm:
    """The form asked for: the Accept header's choice, the extension's form on a tie."""
    ext = request.path_params.get("ext")
    default = JSONLD
    if ext is not None:
        if ext not in EXTENSIONS:
            raise RequestError(404, f"RDF comes as {FORM_NAMES}", "NOT_FOUND")
        default = EXTENSIONS[ext]
    form = rdf_form(request.headers.get("accept"), default=default)
    if form is None:
        message = f"no RDF form you accept; this serves {FORM_NAMES}"
        raise RequestError(406, message, "NOT_ACCEPTABLE")
    return form


def _page(raw: str | None, last: int) -> int:
    if raw is None:
        return 1
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:  # "²".isdigit(), int("²") fails
        raise RequestError(400, f"page must be a whole number from 1, not {raw!r}")
    page = int(raw)
    if page > last:
        raise RequestError(404, f"page {page} is past the last page ({last})", "NOT_FOUND")
    return page


def _rdf_response(body: bytes, form: RdfForm) -> Response:
    return Response(body, media_type=form.content_type, headers={"Vary": "Accept"})
