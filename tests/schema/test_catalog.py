"""The catalog credits whoever made the rows served: real publishers for imported rows, nobody
else for rows the demo generated; and it says when the rows were loaded."""

from __future__ import annotations

from rdflib import Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF, XSD

from schema.dcat_graph import CatalogMeta, catalog_graph
from tests.schema.conftest import CATALOG, Backend

QUERY = '{ dataset(name: "bikeStations") { publisher license synthetic origin modified rowCount attribution } }'


async def test_before_any_recorded_load_the_declared_credit_stands(backend: Backend) -> None:
    info = (await backend.run(QUERY))["data"]["dataset"]
    assert info["publisher"].startswith("Vélib'")
    assert info["origin"] is None
    assert info["synthetic"] is False


async def test_generated_rows_credit_nobody_else(backend: Backend) -> None:
    await backend.city.record_loads({"bikeStations": 1000}, origin="generated", source="demo")
    info = (await backend.run(QUERY))["data"]["dataset"]
    assert info["publisher"] == "citygraph demo city (generated data)"
    assert info["license"] == "CC0-1.0"
    assert info["synthetic"] is True
    assert info["origin"] == "generated"
    assert info["rowCount"] == 1000
    assert "Vélib'" in info["attribution"]  # "in the shape of", so the reader knows the model
    assert info["modified"].endswith("+00:00")


async def test_imported_rows_credit_their_publisher_in_graphql_and_rdf(
    backend: Backend,
) -> None:
    await backend.city.record_loads({"bikeStations": 1468}, origin="imported", source="/data")
    info = (await backend.run(QUERY))["data"]["dataset"]
    assert info["publisher"].startswith("Vélib'")
    assert info["origin"] == "imported"
    loads = await backend.city.loaders().loads()
    meta = CatalogMeta(base_url="http://city.test", publisher="Ville", homepage="http://city.test/")
    graph = catalog_graph(meta, CATALOG.datasets, loads)
    stations = URIRef("http://city.test/datasets/bikeStations")
    publisher = graph.value(stations, DCTERMS.publisher)
    assert str(graph.value(publisher, FOAF.name)).startswith("Vélib'")
    modified = graph.value(stations, DCTERMS.modified)
    assert isinstance(modified, Literal)
    assert modified.datatype == XSD.dateTime
