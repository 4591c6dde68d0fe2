"""RDF as HTTP serves it: the forms (JSON-LD, Turtle, RDF/XML, N-Triples), which one a client
asked for, and the bytes of a graph in that form.

rdflib writes every form. JSON-LD comes out of it compacted but flat (a list of nodes); `nest`
then embeds each node where it is first referenced, so that plain-JSON readers find the
catalog's datasets under `dcat:dataset` and their distributions under each dataset, as
`/catalog.jsonld` has always shown them. The triples do not change (a test checks the nested
document against the graph).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import orjson
from rdflib import Graph

from api.accept import quality_of


@dataclass(frozen=True, slots=True)
class RdfForm:
    """One serialisation: its media type, file extension and rdflib format."""

    name: str
    media_type: str
    extension: str
    rdflib_format: str
    aliases: tuple[str, ...] = ()
    """Other media types a client may ask it by."""

    @property
    def content_type(self) -> str:
        return self.media_type + ("; charset=utf-8" if self.media_type.startswith("text/") else "")


JSONLD = RdfForm("JSON-LD", "application/ld+json", "jsonld", "json-ld", ("application/json",))
TURTLE = RdfForm("Turtle", "text/turtle", "ttl", "turtle", ("application/x-turtle",))
RDFXML = RdfForm("RDF/XML", "application/rdf+xml", "rdf", "pretty-xml", ("application/xml",))
NTRIPLES = RdfForm("N-Triples", "application/n-triples", "nt", "nt")
FORMS = (JSONLD, TURTLE, RDFXML, NTRIPLES)
EXTENSIONS = {form.extension: form for form in FORMS} | {"xml": RDFXML, "json": JSONLD}
HTML = "text/html"


def rdf_form(
    accept: str | None, *, default: RdfForm = JSONLD, html: bool = False
) -> RdfForm | None:
    """The RDF form to answer an Accept header with, or None for no RDF form.

    None means the client prefers HTML over every RDF form (only when `html`: the route has a
    page to offer) or accepts none of them. A tie goes to `default`, then to the order of FORMS,
    and RDF wins a tie with HTML: `*/*` (curl, harvesters) gets `default`.
    """
    ranked = sorted(
        FORMS,
        key=lambda f: (
            -max(quality_of(accept, t) for t in (f.media_type, *f.aliases)),
            f is not default,
        ),
    )
    best = ranked[0]
    q = max(quality_of(accept, t) for t in (best.media_type, *best.aliases))
    if q <= 0 or (html and quality_of(accept, HTML) > q):
        return None
    return best


CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    # always arrays, even with one value: readers index them without checking
    **{
        term: {"@container": "@set"}
        for term in ("dcat:dataset", "dcat:distribution", "dcat:keyword", "dct:spatial")
    },
}


def serialize(graph: Graph, form: RdfForm, *, root: str | None = None) -> bytes:
    """The graph in this form; JSON-LD nests its nodes under `root` (the catalog, a dataset)."""
    if form is not JSONLD:
        return graph.serialize(format=form.rdflib_format, encoding="utf-8")
    flat = orjson.loads(graph.serialize(format="json-ld", context=CONTEXT, auto_compact=True))
    return orjson.dumps(nest(flat, root) if root else flat)


def nest(document: dict[str, Any], root: str) -> dict[str, Any]:
    """A compacted flat JSON-LD document as a tree from `root`: each node embedded where it is
    first referenced, breadth first (so at its shallowest), and referenced by `@id` elsewhere.

    Blank nodes referenced once lose their `@id`. Nodes that `root` does not reach stay beside it
    in `@graph`.
    """
    nodes: dict[str, dict[str, Any]] = {n["@id"]: n for n in document.get("@graph", [document])}
    if root not in nodes:
        return document
    references = Counter(ref["@id"] for node in nodes.values() for ref in _references(node))
    placed = {root}
    queue = deque([nodes[root]])
    while queue:
        node = queue.popleft()
        for key in sorted(node):
            values = node[key]
            many = isinstance(values, list)
            items = values if many else [values]
            for i, value in enumerate(items):
                target = value.get("@id") if _is_reference(value) else None
                if target in nodes and target not in placed:
                    placed.add(target)
                    embedded = nodes[target]
                    if target.startswith("_:") and references[target] == 1:
                        del embedded["@id"]
                    items[i] = embedded
                    queue.append(embedded)
            node[key] = items if many else items[0]
    rest = [n for i, n in nodes.items() if i not in placed]
    context = {"@context": document["@context"]}
    if not rest:
        return context | nodes[root]
    return context | {"@graph": [nodes[root], *rest]}


def _is_reference(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {"@id"}


def _references(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for key, values in node.items():
        if key.startswith("@"):
            continue
        for value in values if isinstance(values, list) else [values]:
            if _is_reference(value):
                found.append(value)
    return found
