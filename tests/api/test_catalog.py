"""The catalog as harvesters read it: DCAT-AP 3 with zero SHACL results in every RDF form, content
negotiation, Hydra paging, dereferenceable dataset IRIs, and restricted datasets listed without
any way to their rows."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, RDF, XSD
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.catalog import CatalogEndpoints
from api.cli import app as cli
from api.settings import Environment, Settings
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from schema.dcat_graph import DCAT3
from schema.seeding import build_demo
from schema.vocabularies import NON_PUBLIC_ACCESS, PARIS, PUBLIC_ACCESS
from storage.engines import Databases
from tests.api.conftest import MakeClient, city_of, on_app_loop
from tests.dcat_shapes import shacl_results

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
BASE = "http://city.test"
RDF_FORMS = {
    "application/ld+json": "json-ld",
    "text/turtle": "turtle",
    "application/rdf+xml": "xml",
    "application/n-triples": "nt",
}
ALL = {s.name for s in builtin_specs()}
RESTRICTED = {s.name for s in builtin_specs() if s.restricted}
VERSIONED = {s.name: s.versioned for s in builtin_specs()}


def parse(response: httpx.Response) -> Graph:
    """The response's graph, read as its content type says (as a harvester does)."""
    content_type = response.headers["content-type"].split(";")[0]
    return Graph().parse(data=response.content, format=RDF_FORMS[content_type])


def build(client: TestClient, open_data: Path | None = None) -> TestClient:
    """The client's app now serves the demo city (generated, or imported from the real files)."""

    async def demo(city: City) -> None:
        await build_demo(city, seed=2026, residents=60, open_data_dir=open_data, progress=None)

    on_app_loop(client, demo, city_of(client))
    return client


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One demo city for the tests that only read its catalog."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("demo"),
        environment=Environment.TEST,
        public_url=BASE,
        catalog_contact_email="donnees@city.test",
    )
    with TestClient(create_app(settings)) as client:
        yield build(client)


def datasets_of(graph: Graph) -> set[str]:
    return {str(graph.value(d, DCTERMS.identifier)) for d in graph.subjects(RDF.type, DCAT.Dataset)}


# --- zero results against the official shapes ---------------------------------------------------


@pytest.mark.parametrize("media_type", list(RDF_FORMS))
def test_the_demo_catalog_has_zero_shacl_results_in_every_form(
    demo: TestClient, shared_data: Path, media_type: str
) -> None:
    response = demo.get("/catalog", headers={"accept": media_type})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type
    graph = parse(response)
    assert datasets_of(graph) == ALL  # the whole catalog was validated, not an empty one
    assert shacl_results(graph, shared_data) == []


def test_the_catalog_of_the_real_paris_files_has_zero_shacl_results(
    make_client: MakeClient, shared_data: Path
) -> None:
    client = build(make_client(public_url=BASE), open_data=shared_data)
    graph = parse(client.get("/catalog.ttl"))
    assert datasets_of(graph) == ALL
    assert shacl_results(graph, shared_data) == []
    stations = URIRef(f"{BASE}/datasets/bikeStations")
    publisher = graph.value(stations, DCTERMS.publisher)
    assert str(graph.value(publisher, URIRef("http://xmlns.com/foaf/0.1/name"))).startswith(
        "Vélib'"
    )  # imported rows credit their real publisher
    licences = {graph.value(d, DCTERMS.license) for d in graph.objects(stations, DCAT.distribution)}
    assert licences == {URIRef("http://publications.europa.eu/resource/authority/licence/ODC_BL")}
    assert graph.value(stations, DCTERMS.spatial) == URIRef(PARIS)
    modified = graph.value(stations, DCTERMS.modified)
    assert isinstance(modified, Literal)
    assert modified.datatype == XSD.dateTime


def test_the_validator_finds_what_the_catalog_would_lack(
    demo: TestClient, shared_data: Path
) -> None:
    # the zero above means something: the same graph without its publisher is reported
    graph = parse(demo.get("/catalog.ttl"))
    graph.remove((URIRef(f"{BASE}/catalog"), DCTERMS.publisher, None))
    assert any("publisher" in line for line in shacl_results(graph, shared_data))


def test_a_load_shows_in_the_next_catalog_at_once(make_client: MakeClient) -> None:
    client = make_client(public_url=BASE)
    stations = URIRef(f"{BASE}/datasets/bikeStations")
    before = parse(client.get("/catalog.ttl"))
    assert before.value(stations, DCTERMS.modified) is None
    on_app_loop(client, record_import, city_of(client))
    after = parse(client.get("/catalog.ttl"))
    assert after.value(stations, DCTERMS.modified) is not None


async def record_import(city: City) -> None:
    await city.record_loads({"bikeStations": 10}, origin="imported", source="test")


# --- vocabularies and dates -------------------------------------------------------------------


def test_dates_are_typed_and_the_catalog_names_publisher_homepage_and_language(
    demo: TestClient,
) -> None:
    graph = parse(demo.get("/catalog.ttl"))
    catalog = URIRef(f"{BASE}/catalog")
    assert graph.value(catalog, DCTERMS.publisher) is not None
    assert graph.value(catalog, URIRef("http://xmlns.com/foaf/0.1/homepage")) == URIRef(BASE + "/")
    assert graph.value(catalog, DCTERMS.language) == URIRef(
        "http://publications.europa.eu/resource/authority/language/ENG"
    )
    budget = URIRef(f"{BASE}/datasets/budgetLines")
    period = graph.value(budget, DCTERMS.temporal)
    assert graph.value(period, DCAT.startDate) == Literal("2020-01-01", datatype=XSD.date)
    assert graph.value(period, DCAT.endDate) == Literal("2024-12-31", datatype=XSD.date)
    modified = [o for o in graph.objects(None, DCTERMS.modified) if isinstance(o, Literal)]
    assert modified
    assert {m.datatype for m in modified} == {XSD.dateTime}
    frequency = graph.value(budget, DCTERMS.accrualPeriodicity)
    assert str(frequency).endswith("/frequency/ANNUAL")
    assert (frequency, RDF.type, DCTERMS.Frequency) in graph


# --- restricted datasets ----------------------------------------------------------------------


def test_restricted_datasets_are_listed_non_public_with_a_contact_and_no_distribution(
    demo: TestClient,
) -> None:
    graph = parse(demo.get("/catalog.ttl"))
    for name in ALL:
        dataset = URIRef(f"{BASE}/datasets/{name}")
        access = graph.value(dataset, DCTERMS.accessRights)
        distributions = list(graph.objects(dataset, DCAT.distribution))
        contact = graph.value(dataset, DCAT.contactPoint)
        assert contact is not None, name
        assert (contact, VCARD.hasEmail, URIRef("mailto:donnees@city.test")) in graph
        if name in RESTRICTED:
            assert access == URIRef(NON_PUBLIC_ACCESS), name
            assert distributions == [], name
        else:
            assert access == URIRef(PUBLIC_ACCESS), name
            assert distributions, name
    # nothing in a restricted entry leads to rows: no export, no API access URL
    residents = parse(demo.get("/datasets/residents.ttl"))
    urls = {str(o) for o in residents.all_nodes() if isinstance(o, URIRef)}
    assert not any("/export/" in u or u.endswith("/graphql") for u in urls)


# --- content negotiation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "accept", "served"),
    [
        ("/catalog", None, "application/ld+json"),
        ("/catalog", "*/*", "application/ld+json"),
        ("/catalog", "text/turtle", "text/turtle"),
        ("/catalog", "application/rdf+xml;q=0.9, text/turtle;q=0.5", "application/rdf+xml"),
        ("/catalog", "text/html, application/xhtml+xml, */*;q=0.8", "application/ld+json"),
        ("/catalog.jsonld", None, "application/ld+json"),
        ("/catalog.ttl", "*/*", "text/turtle"),
        ("/catalog.rdf", None, "application/rdf+xml"),
        ("/catalog.nt", None, "application/n-triples"),
        ("/catalog.jsonld", "text/turtle", "text/turtle"),  # an RDF form named outright wins
        ("/catalog.ttl", "application/ld+json, text/turtle", "text/turtle"),  # a tie: the extension
    ],
)
def test_content_negotiation(demo: TestClient, path: str, accept: str | None, served: str) -> None:
    headers = {"accept": accept} if accept else {}
    response = demo.get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == served
    assert "Accept" in {v.strip() for v in response.headers["vary"].split(",")}
    assert (URIRef(f"{BASE}/catalog"), RDF.type, DCAT.Catalog) in parse(response)


def test_the_json_ld_keeps_the_shape_existing_readers_index(demo: TestClient) -> None:
    catalog = demo.get("/catalog.jsonld").json()
    assert catalog["@type"] == "dcat:Catalog"
    entries = {d["dct:identifier"]: d for d in catalog["dcat:dataset"]}
    assert set(entries) == ALL
    urls = [d["dcat:accessURL"]["@id"] for d in entries["bikeStations"]["dcat:distribution"]]
    assert f"{BASE}/export/bikeStations.csv" in urls


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/catalog", {"accept": "image/png"}, 406, "NOT_ACCEPTABLE"),
        ("/catalog.ttl", {"accept": "text/html"}, 406, "NOT_ACCEPTABLE"),
        ("/catalog.csv", {}, 404, "NOT_FOUND"),
        ("/catalog?page=0", {}, 400, "BAD_REQUEST"),
        ("/catalog?page=two", {}, 400, "BAD_REQUEST"),
        ("/catalog?page=²", {}, 400, "BAD_REQUEST"),
        ("/catalog?page=-1", {}, 400, "BAD_REQUEST"),
        ("/catalog?page=99", {}, 404, "NOT_FOUND"),
        ("/catalog?limit=5", {}, 400, "BAD_REQUEST"),
        ("/datasets/nothingHere", {"accept": "text/turtle"}, 404, "NOT_FOUND"),
        ("/datasets/residents.docx", {}, 404, "NOT_FOUND"),
    ],
)
def test_bad_catalog_requests_get_a_coded_error(
    demo: TestClient, path: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = demo.get(path, headers=headers)
    assert response.status_code == status
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]


# --- paging --------------------------------------------------------------------------------------


def next_page(graph: Graph) -> str | None:
    """The next page as ckanext-dcat reads it (RDFParser.next_page)."""
    for design in (HYDRA.PartialCollectionView, HYDRA.PagedCollection):
        for node in graph.subjects(RDF.type, design):
            for link in (HYDRA.next, HYDRA.nextPage):
                for target in graph.objects(node, link):
                    return str(target)
    return None


def test_a_harvester_following_hydra_pages_gets_every_dataset_once(
    make_client: MakeClient,
) -> None:
    client = make_client(public_url=BASE, catalog_page_size=5)
    url: str | None = f"{BASE}/catalog.rdf"
    seen: list[str] = []
    pages = 0
    while url is not None:
        assert url.startswith(BASE)
        graph = parse(client.get(url.removeprefix(BASE)))
        view = next(graph.subjects(RDF.type, HYDRA.PagedCollection))
        assert graph.value(view, HYDRA.totalItems) == Literal(len(ALL))
        assert graph.value(view, HYDRA.itemsPerPage) == Literal(5)
        # data.europa.eu's importer reads the older design's nextPage as a plain string
        literal = graph.value(view, HYDRA.nextPage)
        assert literal is None or isinstance(literal, Literal)
        seen += datasets_of(graph)
        pages += 1
        url = next_page(graph)
    assert pages == 4  # 16 datasets, 5 a page
    assert sorted(seen) == sorted(ALL)


# --- dataset IRIs ------------------------------------------------------------------------------


def test_every_dataset_iri_dereferences_to_its_own_description(
    demo: TestClient, shared_data: Path
) -> None:
    client = demo
    catalog = parse(client.get("/catalog.ttl"))
    for dataset in catalog.subjects(RDF.type, DCAT.Dataset):
        response = client.get(str(dataset).removeprefix(BASE), headers={"accept": "text/turtle"})
        assert response.status_code == 200
        own = parse(response)
        versions = set(own.objects(dataset, DCAT3.hasVersion))
        assert versions == set(own.objects(dataset, DCTERMS.hasVersion))
        assert set(own.subjects(RDF.type, DCAT.Dataset)) == {dataset, *versions}
        if not VERSIONED[str(dataset).rsplit("/", 1)[-1]]:
            assert versions == set()  # personal data keeps no history
        else:
            assert versions  # the demo's build is every public dataset's first version
            assert own.value(dataset, DCAT3.version) == catalog.value(dataset, DCAT3.version)
        # the same description as in the catalog (which only names the current version),
        # distributions with their stable IRIs included
        description = own.cbd(dataset)
        for version in versions:
            description.remove((dataset, DCAT3.hasVersion, version))
            description.remove((dataset, DCTERMS.hasVersion, version))
        assert isomorphic(description, catalog.cbd(dataset))
        for distribution in own.objects(dataset, DCAT.distribution):
            assert str(distribution).startswith(f"{dataset}#")
    residents = parse(client.get("/datasets/residents", headers={"accept": "text/turtle"}))
    assert shacl_results(residents, shared_data) == []
    stations = parse(client.get("/datasets/bikeStations", headers={"accept": "text/turtle"}))
    assert shacl_results(stations, shared_data) == []  # its versions are valid datasets too
    first = URIRef(f"{BASE}/datasets/bikeStations/versions/1")
    assert stations.value(first, DCAT3.version) == Literal("bikeStations@1")
    assert stations.value(first, DCTERMS.isVersionOf) == URIRef(f"{BASE}/datasets/bikeStations")


def test_the_dataset_iri_gives_browsers_its_page_and_rdf_clients_its_description(
    demo: TestClient,
) -> None:
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = demo.get("/datasets/bikeStations", headers=browser)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1" in page.text
    described = demo.get("/datasets/bikeStations", headers={"accept": "application/ld+json"})
    assert described.headers["content-type"] == "application/ld+json"
    assert described.json()["@id"] == f"{BASE}/datasets/bikeStations"
    missing = demo.get("/datasets/nowhere", headers=browser)  # the page's own 404, in HTML
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")


def test_an_html_page_plugs_in_front_of_the_rdf(tmp_path: Path) -> None:
    async def page(request: Request) -> Response:
        return HTMLResponse(f"<h1>{request.path_params['name']}</h1>")

    settings = Settings(data_dir=tmp_path, environment=Environment.TEST, public_url=BASE)
    city = City(Catalog(builtin_specs()), Databases(settings.default_database_url))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await city.migrate()
        yield
        await city.close()

    routes = CatalogEndpoints(city, settings, html_page=page).routes()
    app = Starlette(routes=routes, lifespan=lifespan)
    with TestClient(app) as client:
        html = client.get("/datasets/districts", headers={"accept": "text/html"})
        assert html.text == "<h1>districts</h1>"
        rdf = client.get("/datasets/districts", headers={"accept": "text/turtle"})
        assert rdf.headers["content-type"].startswith("text/turtle")


# --- the command line ----------------------------------------------------------------------------


def test_the_cli_prints_the_whole_catalog_in_a_form(tmp_path: Path) -> None:
    env = {"CITYGRAPH_DATA_DIR": str(tmp_path), "CITYGRAPH_PUBLIC_URL": BASE}
    result = CliRunner().invoke(cli, ["catalog", "--format", "ttl"], env=env)
    assert result.exit_code == 0, result.output
    assert datasets_of(Graph().parse(data=result.stdout, format="turtle")) == ALL
    refused = CliRunner().invoke(cli, ["catalog", "--format", "csv"], env=env)
    assert refused.exit_code == 2
