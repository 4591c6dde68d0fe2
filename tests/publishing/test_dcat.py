"""Published datasets in the DCAT-AP catalog: clean against the official shapes like the
built-ins, whatever licence and coverage the manifest names, and closed when the manifest
closes the dataset."""

from __future__ import annotations

from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF, SKOS, XSD
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import Environment, Settings
from schema.vocabularies import NON_PUBLIC_ACCESS
from tests.dcat_shapes import shacl_results
from tests.publishing.conftest import BENCHES_CSV, Workspace, manifest_data

BASE = "http://city.test"
ETALAB = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"


def served_catalog(workspace: Workspace) -> Graph:
    """The catalog the next start serves, as Turtle."""
    settings = Settings(data_dir=workspace.data_dir, environment=Environment.TEST, public_url=BASE)
    with TestClient(create_app(settings)) as client:
        response = client.get("/catalog", headers={"accept": "text/turtle"})
    assert response.status_code == 200
    return Graph().parse(data=response.content, format="turtle")


async def test_a_published_dataset_validates_in_the_catalog(
    workspace: Workspace, shared_data: Path
) -> None:
    await workspace.publish(workspace.write(manifest_data(), BENCHES_CSV))
    graph = served_catalog(workspace)
    assert shacl_results(graph, shared_data) == []
    benches = URIRef(f"{BASE}/datasets/benches")
    assert (benches, RDF.type, DCAT.Dataset) in graph
    assert {str(d).rsplit("#", 1)[1] for d in graph.objects(benches, DCAT.distribution)} == {
        "csv",
        "geojson",
        "graphql",
    }
    licences = {graph.value(d, DCTERMS.license) for d in graph.objects(benches, DCAT.distribution)}
    assert licences == {URIRef("http://publications.europa.eu/resource/authority/licence/ODC_BL")}
    modified = graph.value(benches, DCTERMS.modified)  # when it was published
    assert isinstance(modified, Literal)
    assert modified.datatype == XSD.dateTime


async def test_licences_and_places_without_authority_iris_validate_too(
    workspace: Workspace, shared_data: Path
) -> None:
    manifest = manifest_data(
        license="etalab-2.0",
        license_url=ETALAB,
        spatial="Lyon, France",
        temporal={"start": "2021-01-01"},
    )
    await workspace.publish(workspace.write(manifest, BENCHES_CSV))
    graph = served_catalog(workspace)
    assert shacl_results(graph, shared_data) == []
    benches = URIRef(f"{BASE}/datasets/benches")
    licence = URIRef(ETALAB)
    assert licence in set(graph.objects(None, DCTERMS.license))
    assert (licence, RDF.type, DCTERMS.LicenseDocument) in graph
    place = graph.value(benches, DCTERMS.spatial)
    assert str(graph.value(place, SKOS.prefLabel)) == "Lyon, France"


async def test_a_restricted_published_dataset_is_listed_closed(
    workspace: Workspace, shared_data: Path
) -> None:
    data = manifest_data(access="urbanism:read")
    for column in data["columns"]:
        if not column.get("primary_key"):
            column["access"] = "urbanism:read"
    await workspace.publish(workspace.write(data, BENCHES_CSV))
    graph = served_catalog(workspace)
    assert shacl_results(graph, shared_data) == []
    benches = URIRef(f"{BASE}/datasets/benches")
    assert graph.value(benches, DCTERMS.accessRights) == URIRef(NON_PUBLIC_ACCESS)
    assert list(graph.objects(benches, DCAT.distribution)) == []
    assert graph.value(benches, DCAT.contactPoint) is not None
