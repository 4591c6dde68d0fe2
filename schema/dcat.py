"""The dataset catalog: the `datasets` field (DCAT-AP vocabulary) and its JSON-LD rendering."""

from __future__ import annotations

from typing import Any

import strawberry

from schema.datasets import Catalog, DatasetSpec

TYPE_NAMES = {bool: "Boolean", int: "Int", float: "Float", str: "String"}


@strawberry.type(description="A column of a dataset, as the schema exposes it.")
class DatasetField:
    name: str = strawberry.field(description="Field name in the schema (camelCase).")
    type: str = strawberry.field(description="GraphQL type of the field.")
    description: str = strawberry.field(description="What the field holds.")
    access: str = strawberry.field(description="`public`, or the scope needed to read it.")


@strawberry.type(description="A dataset of the catalog, described with DCAT-AP's vocabulary.")
class DatasetInfo:
    name: str = strawberry.field(description="Root field of the dataset in this schema.")
    title: str = strawberry.field(description="dct:title.")
    description: str = strawberry.field(description="dct:description.")
    department: str = strawberry.field(description="Department that owns the dataset.")
    publisher: str = strawberry.field(description="dct:publisher.")
    license: str = strawberry.field(
        description="dct:license, as an SPDX identifier or `restricted`."
    )
    license_url: str = strawberry.field(description="URL of the licence text.")
    attribution: str = strawberry.field(description="How to credit the data when reusing it.")
    access: str = strawberry.field(description="`public`, or the scope needed to read the rows.")
    frequency: str = strawberry.field(description="dct:accrualPeriodicity, for example daily.")
    keywords: list[str] = strawberry.field(description="dcat:keyword.")
    spatial: str = strawberry.field(description="dct:spatial coverage.")
    temporal_start: str | None = strawberry.field(description="Start of dct:temporal coverage.")
    temporal_end: str | None = strawberry.field(description="End of dct:temporal coverage.")
    source: str | None = strawberry.field(description="Page of the original dataset.")
    synthetic: bool = strawberry.field(description="True when the rows are generated, not real.")
    fields: list[DatasetField] = strawberry.field(description="The dataset's columns.")


def dataset_info(spec: DatasetSpec) -> DatasetInfo:
    m = spec.meta
    return DatasetInfo(
        name=m.name,
        title=m.title,
        description=m.description,
        department=m.department,
        publisher=m.publisher,
        license=m.license,
        license_url=m.license_url,
        attribution=m.attribution,
        access=m.access,
        frequency=m.frequency,
        keywords=list(m.keywords),
        spatial=m.spatial,
        temporal_start=m.temporal[0],
        temporal_end=m.temporal[1],
        source=m.source,
        synthetic=m.synthetic,
        fields=[
            DatasetField(
                name=c.field_name,
                type=TYPE_NAMES.get(
                    c.python_type,
                    "GeoJSON" if c.role == "geometry" else c.python_type.__name__.title(),
                ),
                description=c.description,
                access=c.access,
            )
            for c in spec.columns
        ],
    )


FREQUENCIES = {
    "continuous": "CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "irregular": "IRREG",
    "never": "NEVER",
}


def catalog_jsonld(catalog: Catalog, base_url: str) -> dict[str, Any]:
    """The catalog as DCAT-AP JSON-LD (dcat:Catalog with one dcat:Dataset per public dataset)."""
    base = base_url.rstrip("/")
    datasets = []
    for spec in catalog.datasets:
        m = spec.meta
        if spec.restricted:
            continue  # restricted datasets are not open data: they have no place in the open catalog
        entry: dict[str, Any] = {
            "@id": f"{base}/datasets/{m.name}",
            "@type": "dcat:Dataset",
            "dct:identifier": m.name,
            "dct:title": m.title,
            "dct:description": m.description,
            "dct:publisher": {"@type": "foaf:Agent", "foaf:name": m.publisher},
            "dct:license": {"@id": m.license_url},
            "dct:rights": m.attribution,
            "dct:accrualPeriodicity": {
                "@id": "http://publications.europa.eu/resource/authority/frequency/"
                + FREQUENCIES.get(m.frequency, "IRREG")
            },
            "dcat:keyword": list(m.keywords),
            "dct:spatial": {"@type": "dct:Location", "skos:prefLabel": m.spatial},
            "dcat:distribution": [
                {
                    "@type": "dcat:Distribution",
                    "dct:title": f"{m.title} as {fmt.upper()}",
                    "dcat:accessURL": {"@id": f"{base}/export/{m.name}.{fmt}"},
                    "dcat:mediaType": media,
                    "dct:license": {"@id": m.license_url},
                }
                for fmt, media in (("csv", "text/csv"), ("geojson", "application/geo+json"))
                if fmt == "csv" or spec.geographic
            ]
            + [
                {
                    "@type": "dcat:Distribution",
                    "dct:title": f"{m.title} through GraphQL",
                    "dcat:accessURL": {"@id": f"{base}/graphql"},
                    "dct:conformsTo": {"@id": "https://spec.graphql.org/"},
                }
            ],
        }
        if m.temporal != (None, None):
            entry["dct:temporal"] = {
                "@type": "dct:PeriodOfTime",
                "dcat:startDate": m.temporal[0],
                "dcat:endDate": m.temporal[1],
            }
        if m.source:
            entry["dct:source"] = {"@id": m.source}
        datasets.append(entry)
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "skos": "http://www.w3.org/2004/02/skos/core#",
        },
        "@id": f"{base}/catalog.jsonld",
        "@type": "dcat:Catalog",
        "dct:title": "citygraph open-data catalog",
        "dct:description": "Every public dataset served by this citygraph API.",
        "dcat:dataset": datasets,
    }
