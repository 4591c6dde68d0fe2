"""RDF forms: which one an Accept header gets, and that every form (the nested JSON-LD included)
carries exactly the graph rdflib built."""

from __future__ import annotations

import orjson
import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, RDF, RDFS

from api.rdf import FORMS, JSONLD, NTRIPLES, RDFXML, TURTLE, RdfForm, nest, rdf_form, serialize
from schema.city import builtin_specs
from schema.dcat_graph import CatalogMeta, catalog_graph

META = CatalogMeta(base_url="http://city.test", publisher="Ville", homepage="http://city.test/")
CATALOG_GRAPH = catalog_graph(META, builtin_specs(), {})


@pytest.mark.parametrize(
    ("accept", "html", "expected"),
    [
        (None, False, JSONLD),
        ("", False, JSONLD),
        ("*/*", True, JSONLD),  # curl and harvesters: RDF wins a tie with the page
        ("text/turtle", False, TURTLE),
        ("text/*", False, TURTLE),
        ("application/*", False, JSONLD),
        ("application/json", False, JSONLD),
        ("application/xml", False, RDFXML),
        ("application/n-triples", False, NTRIPLES),
        ("text/turtle;q=0.3, application/rdf+xml;q=0.7", False, RDFXML),
        ("TEXT/TURTLE", False, TURTLE),
        ("text/turtle;q=zero, application/ld+json;q=0.1", False, JSONLD),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True, None),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False, RDFXML),
        ("text/html", True, None),
        ("text/html", False, None),
        ("image/png", False, None),
        ("text/turtle;q=0", False, None),
        ("*/*;q=0.5, text/turtle;q=0", False, JSONLD),  # the most specific range decides
    ],
)
def test_negotiation(accept: str | None, html: bool, expected: RdfForm | None) -> None:
    assert rdf_form(accept, html=html) is expected


def test_a_tie_goes_to_the_default_form() -> None:
    assert rdf_form("*/*", default=TURTLE) is TURTLE
    assert rdf_form("application/ld+json, text/turtle", default=TURTLE) is TURTLE


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_form_carries_the_graph(form: RdfForm) -> None:
    data = serialize(CATALOG_GRAPH, form, root=str(META.iri))
    parsed = Graph().parse(
        data=data, format={"pretty-xml": "xml"}.get(form.rdflib_format, form.rdflib_format)
    )
    assert isomorphic(parsed, CATALOG_GRAPH)


def test_json_ld_nests_datasets_and_distributions_under_the_catalog() -> None:
    document = orjson.loads(serialize(CATALOG_GRAPH, JSONLD, root=str(META.iri)))
    assert "@graph" not in document  # the catalog reaches every node
    assert document["@id"] == str(META.iri)
    stations = next(d for d in document["dcat:dataset"] if d["dct:identifier"] == "bikeStations")
    assert [d["@id"].rsplit("#", 1)[1] for d in stations["dcat:distribution"]] == [
        "csv",
        "geojson",
        "graphql",
    ]
    # blank nodes embedded once need no name
    assert "@id" not in stations["dct:publisher"]
    assert stations["dct:publisher"]["foaf:name"].startswith("Vélib'")


def test_nest_keeps_unreached_nodes_and_shared_blank_nodes() -> None:
    g = Graph()
    root, other, shared = URIRef("http://x/root"), URIRef("http://x/other"), BNode()
    g.add((root, RDF.type, DCAT.Catalog))
    g.add((root, RDFS.seeAlso, shared))
    g.add((other, RDFS.seeAlso, shared))  # other is not reachable from root
    g.add((shared, RDFS.label, Literal("shared")))
    document = orjson.loads(serialize(g, JSONLD, root=str(root)))
    assert [n["@id"] for n in document["@graph"]] == [str(root), str(other)]
    embedded = document["@graph"][0]["rdfs:seeAlso"]
    assert embedded["@id"].startswith("_:")  # referenced twice: it keeps its name
    assert document["@graph"][1]["rdfs:seeAlso"] == {"@id": embedded["@id"]}
    assert isomorphic(Graph().parse(data=orjson.dumps(document), format="json-ld"), g)


def test_nest_leaves_a_document_without_its_root_alone() -> None:
    flat = {"@context": {}, "@graph": [{"@id": "http://x/a"}]}
    assert nest(flat, "http://x/missing") == flat
