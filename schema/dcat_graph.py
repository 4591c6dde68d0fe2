"""The catalog as an RDF graph (DCAT-AP 3): the catalog, its datasets, their distributions.

Every dataset of the city is listed. A public one has a CSV distribution (and GeoJSON when it has
coordinates) and one through the GraphQL API; a restricted one (personal data) is listed with a
non-public access right and a contact point, and no distribution at all: nothing in the catalog
leads to a row. Values come from the controlled vocabularies (schema.vocabularies), typed with
the classes the profile's shapes expect, and dates are typed literals.

IRIs are stable: `{base}/catalog`, `{base}/datasets/{name}` (dereferenceable, api.catalog), and
`{base}/datasets/{name}#csv` and so on for distributions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from schema import vocabularies as vocab
from schema.datasets import DatasetSpec
from schema.dcat import Credit, credit
from storage.loads import Load
from storage.versions import Version

DCAT3 = Namespace("http://www.w3.org/ns/dcat#")
"""DCAT 3's terms that rdflib's DCAT namespace (DCAT 2) does not define: version, hasVersion."""

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
GRAPHQL_SPEC = URIRef("https://spec.graphql.org/")


@dataclass(frozen=True, slots=True)
class CatalogMeta:
    """Who publishes the catalog, where, and how people reach them (from the settings)."""

    base_url: str
    publisher: str
    homepage: str
    contact_email: str | None = None
    language: str = "en"
    """Language of the metadata (titles, descriptions) written in the models."""

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def iri(self) -> URIRef:
        return URIRef(f"{self.base}/catalog")

    def dataset(self, name: str) -> URIRef:
        return URIRef(f"{self.base}/datasets/{name}")


def new_graph() -> Graph:
    """An empty graph with the prefixes every serialisation uses."""
    g = Graph()
    for prefix, namespace in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("skos", SKOS),
        ("vcard", VCARD),
        ("xsd", XSD),
        ("rdfs", RDFS),
    ):
        g.bind(prefix, namespace, replace=True)
    return g


def catalog_graph(
    meta: CatalogMeta,
    specs: Iterable[DatasetSpec],
    loads: Mapping[str, Load],
    versions: Mapping[str, Sequence[Version]] | None = None,
) -> Graph:
    """The catalog listing these datasets (one page of them), with their descriptions."""
    g = new_graph()
    cat = meta.iri
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal(f"{meta.publisher}: data catalog")))
    g.add(
        (
            cat,
            DCTERMS.description,
            Literal(
                "Every dataset the city serves through its citygraph API: open data with its "
                "downloads and API access, and restricted registers of personal data, listed "
                "without any distribution."
            ),
        )
    )
    g.add((cat, DCTERMS.publisher, _city(g, meta)))
    homepage = URIRef(meta.homepage)
    g.add((cat, FOAF.homepage, homepage))
    g.add((homepage, RDF.type, FOAF.Document))
    g.add((cat, DCTERMS.language, _language(g, meta.language)))
    modified = [_utc(load.loaded_at) for load in loads.values()]
    if modified:
        g.add((cat, DCTERMS.modified, Literal(max(modified))))
    for spec in specs:
        ds = _describe(g, meta, spec, loads.get(spec.name))
        g.add((cat, DCAT.dataset, ds))
        _versions(g, spec, ds, (versions or {}).get(spec.name, ()), linked=False)
    return g


def dataset_graph(
    meta: CatalogMeta,
    spec: DatasetSpec,
    load: Load | None,
    versions: Sequence[Version] = (),
) -> Graph:
    """One dataset's own description: what `/datasets/{name}` dereferences to."""
    g = new_graph()
    _versions(g, spec, _describe(g, meta, spec, load), versions, linked=True)
    return g


def _versions(
    g: Graph, spec: DatasetSpec, ds: URIRef, versions: Sequence[Version], *, linked: bool
) -> None:
    """`dcat:version` (the current one) and, when `linked`, `dct:hasVersion` (each version).

    The catalog's pages carry `dcat:version` only: a version must be a dcat:Dataset for the
    shapes, and harvesters (ckanext-dcat, piveau) import every dcat:Dataset of a page as a
    dataset of its own. The dataset's own description (its IRI) links every version, each
    described enough for the shapes (a title, a description) and for a reader: when, how many
    rows, their SHA-256, and the `asOf` that asks for them.
    """
    if not versions:
        return
    g.add((ds, DCAT3.version, Literal(versions[-1].id)))
    for version in versions if linked else ():
        node = URIRef(f"{ds}/versions/{version.number}")
        # DCAT 3 and DCAT-AP 3 say dcat:hasVersion; DCMI's dct:hasVersion is what older
        # harvesters (and DCAT 2 profiles) read
        g.add((ds, DCAT3.hasVersion, node))
        g.add((ds, DCTERMS.hasVersion, node))
        g.add((node, RDF.type, DCAT.Dataset))
        g.add((node, DCTERMS.isVersionOf, ds))
        g.add((node, DCAT3.version, Literal(version.id)))
        g.add((node, DCTERMS.title, Literal(f"{spec.meta.title}, version {version.number}")))
        g.add(
            (
                node,
                DCTERMS.description,
                Literal(
                    f"The {version.row_count} rows of {spec.meta.title} as {version.origin} on "
                    f"{_utc(version.created_at).isoformat()} (SHA-256 {version.content_sha256}); "
                    f'ask the API for them with asOf: "{version.id}".'
                ),
            )
        )
        g.add((node, DCTERMS.issued, Literal(_utc(version.created_at))))


def _describe(g: Graph, meta: CatalogMeta, spec: DatasetSpec, load: Load | None) -> URIRef:
    m = spec.meta
    c = credit(spec, load)
    ds = meta.dataset(m.name)
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(m.name)))
    g.add((ds, DCTERMS.title, Literal(m.title)))
    g.add((ds, DCTERMS.description, Literal(m.description)))
    g.add((ds, DCTERMS.publisher, _agent(g, c.publisher)))
    g.add((ds, DCAT.contactPoint, _contact(g, meta, m.department)))
    for keyword in m.keywords:
        g.add((ds, DCAT.keyword, Literal(keyword)))
    theme = vocab.THEMES.get(m.department)
    if theme is not None:
        g.add((ds, DCAT.theme, _concept(g, theme)))
    g.add(
        (
            ds,
            DCTERMS.accrualPeriodicity,
            _typed(g, vocab.frequency_iri(m.frequency), DCTERMS.Frequency),
        )
    )
    for place in _places(g, m.spatial):
        g.add((ds, DCTERMS.spatial, place))
    if m.temporal != (None, None):
        g.add((ds, DCTERMS.temporal, _period(g, *m.temporal)))
    if load is not None:
        g.add((ds, DCTERMS.modified, Literal(_utc(load.loaded_at))))
    if c.source:
        page = URIRef(c.source)  # the original publisher's page: documentation, not a dcat:Dataset
        g.add((ds, FOAF.page, page))
        g.add((page, RDF.type, FOAF.Document))
    if spec.restricted:
        # listed, as the Data Governance Act expects of protected data; no way to a row
        g.add(
            (ds, DCTERMS.accessRights, _typed(g, vocab.NON_PUBLIC_ACCESS, DCTERMS.RightsStatement))
        )
        return ds
    g.add((ds, DCTERMS.accessRights, _typed(g, vocab.PUBLIC_ACCESS, DCTERMS.RightsStatement)))
    _open(g, meta, spec, c, ds)
    return ds


def _open(g: Graph, meta: CatalogMeta, spec: DatasetSpec, c: Credit, ds: URIRef) -> None:
    """What only open data has: the attribution, and the ways to its rows with their licence."""
    m = spec.meta
    rights = BNode()
    g.add((rights, RDF.type, DCTERMS.RightsStatement))
    g.add((rights, RDFS.label, Literal(c.attribution)))
    g.add((ds, DCTERMS.rights, rights))
    licence = _typed(g, vocab.licence_iri(c.license, c.license_url), DCTERMS.LicenseDocument)
    base = f"{meta.base}/export/{m.name}"
    downloads = [("csv", vocab.CSV)] + ([("geojson", vocab.GEOJSON)] if spec.geographic else [])
    for ext, fmt in downloads:
        dist = _distribution(g, ds, ext, f"{m.title} as {fmt.label}", licence, fmt)
        url = URIRef(f"{base}.{ext}")
        g.add((dist, DCAT.accessURL, url))
        g.add((dist, DCAT.downloadURL, url))
    api = _distribution(g, ds, "graphql", f"{m.title} through GraphQL", licence, vocab.JSON)
    g.add((api, DCAT.accessURL, URIRef(f"{meta.base}/graphql")))
    g.add((api, DCTERMS.conformsTo, _typed(g, str(GRAPHQL_SPEC), DCTERMS.Standard)))
    # the API's schema documents it. No dcat:DataService: the official 3.0.1 shapes name two
    # property shapes they never define for it, and validators (pySHACL, Jena) stop on any
    # catalog that has one (SEMICeu/DCAT-AP#448)
    sdl = URIRef(f"{meta.base}/schema.graphql")
    g.add((api, FOAF.page, sdl))
    g.add((sdl, RDF.type, FOAF.Document))


def _distribution(
    g: Graph, ds: URIRef, key: str, title: str, licence: URIRef, fmt: vocab.FileFormat
) -> URIRef:
    dist = URIRef(f"{ds}#{key}")
    g.add((ds, DCAT.distribution, dist))
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCTERMS.title, Literal(title)))
    g.add((dist, DCTERMS.license, licence))
    g.add((dist, DCAT.mediaType, _typed(g, fmt.media_type_iri, DCTERMS.MediaType)))
    g.add((dist, DCTERMS["format"], _typed(g, fmt.file_type_iri, DCTERMS.MediaTypeOrExtent)))
    return dist


def _typed(g: Graph, iri: str, cls: URIRef) -> URIRef:
    node = URIRef(iri)
    g.add((node, RDF.type, cls))
    return node


def _concept(g: Graph, concept: vocab.Theme) -> URIRef:
    node = _typed(g, concept.iri, SKOS.Concept)
    g.add((node, SKOS.prefLabel, Literal(concept.label, lang="en")))
    return node


def _agent(g: Graph, name: str) -> BNode:
    agent = BNode()
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(name)))
    return agent


def _city(g: Graph, meta: CatalogMeta) -> URIRef:
    city = URIRef(f"{meta.base}/catalog#publisher")
    g.add((city, RDF.type, FOAF.Agent))
    g.add((city, FOAF.name, Literal(meta.publisher)))
    g.add((city, DCTERMS.type, _concept(g, vocab.LOCAL_AUTHORITY)))
    return city


def _contact(g: Graph, meta: CatalogMeta, department: str) -> BNode:
    contact = BNode()
    g.add((contact, RDF.type, VCARD.Kind))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, VCARD.fn, Literal(f"{meta.publisher}, {department} department")))
    if meta.contact_email:
        g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{meta.contact_email}")))
    g.add((contact, VCARD.hasURL, URIRef(meta.homepage)))
    return contact


def _language(g: Graph, code: str) -> URIRef:
    return _typed(g, vocab.language_iri(code), DCTERMS.LinguisticSystem)


def _places(g: Graph, spatial: str) -> list[URIRef | BNode]:
    """Authority IRIs of the coverage, else one location named by the text."""
    iris = vocab.place_iris(spatial)
    if iris:
        return [_typed(g, iri, DCTERMS.Location) for iri in iris]
    named = BNode()
    g.add((named, RDF.type, DCTERMS.Location))
    g.add((named, SKOS.prefLabel, Literal(spatial)))
    return [named]


def _period(g: Graph, start: str | None, end: str | None) -> BNode:
    period = BNode()
    g.add((period, RDF.type, DCTERMS.PeriodOfTime))
    if start:
        g.add((period, DCAT.startDate, Literal(date.fromisoformat(start))))
    if end:
        g.add((period, DCAT.endDate, Literal(date.fromisoformat(end))))
    return period


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
