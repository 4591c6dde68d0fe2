"""The dataset catalog in GraphQL: the `datasets` field (DCAT-AP vocabulary), and whom to credit.

The RDF catalog (DCAT-AP 3, every serialisation) is built in schema.dcat_graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import strawberry

from schema.context import CityContext
from schema.datasets import DatasetSpec
from schema.vocabularies import FREQUENCIES as FREQUENCIES  # manifests check their words here
from storage.loads import Load
from storage.versions import Version

CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"

TYPE_NAMES = {bool: "Boolean", int: "Int", float: "Float", str: "String"}


@strawberry.type(description="A column of a dataset, as the schema exposes it.")
class DatasetField:
    name: str = strawberry.field(description="Field name in the schema (camelCase).")
    type: str = strawberry.field(description="GraphQL type of the field.")
    description: str = strawberry.field(description="What the field holds.")
    access: str = strawberry.field(description="`public`, or the scope needed to read it.")


@strawberry.type(description="One load of a dataset: a version `asOf` and citations can name.")
class DatasetVersion:
    id: str = strawberry.field(description="The version id, `bikeStations@3`: an `asOf` value.")
    number: int = strawberry.field(description="The version's number, from 1, in load order.")
    created_at: datetime = strawberry.field(description="When the load committed, UTC.")
    origin: str = strawberry.field(
        description="How the rows came: imported, generated, published, or adopted (rows an "
        "earlier release held)."
    )
    row_count: int = strawberry.field(description="Rows the version holds.")
    content_sha256: str = strawberry.field(
        description="SHA-256 of the rows in primary-key order (docs/citations.md)."
    )

    @classmethod
    def of(cls, version: Version) -> DatasetVersion:
        return cls(
            id=version.id,
            number=version.number,
            created_at=version.created_at,
            origin=version.origin,
            row_count=version.row_count,
            content_sha256=version.content_sha256,
        )


async def _versions(root: Any, info: strawberry.Info[CityContext, Any]) -> list[DatasetVersion]:
    found = await info.context.loaders.versions()
    return [DatasetVersion.of(v) for v in found.get(root.name, ())]


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
    origin: str | None = strawberry.field(
        description="Where the rows now served came from: imported, generated or published."
    )
    modified: datetime | None = strawberry.field(
        description="When the rows were last loaded (dct:modified), UTC."
    )
    row_count: int | None = strawberry.field(description="Rows loaded then, for public datasets.")
    fields: list[DatasetField] = strawberry.field(description="The dataset's columns.")

    versions: list[DatasetVersion] = strawberry.field(
        resolver=_versions,
        description="Every version of the dataset, oldest first; empty for a dataset that keeps "
        "no history (personal data).",
    )


@dataclass(frozen=True, slots=True)
class Credit:
    """Who to credit for the rows actually served, and under which licence."""

    publisher: str
    license: str
    license_url: str
    attribution: str
    source: str | None
    synthetic: bool


def credit(spec: DatasetSpec, load: Load | None) -> Credit:
    """The declared credit, unless the rows were generated: then nobody else is credited."""
    m = spec.meta
    if load is not None and load.origin == "generated" and not m.synthetic:
        return Credit(
            publisher="citygraph demo city (generated data)",
            license="CC0-1.0",
            license_url=CC0,
            attribution=f"Generated by citygraph's demo in the shape of: {m.attribution}",
            source=None,
            synthetic=True,
        )
    return Credit(m.publisher, m.license, m.license_url, m.attribution, m.source, m.synthetic)


def dataset_info(spec: DatasetSpec, load: Load | None = None) -> DatasetInfo:
    m = spec.meta
    c = credit(spec, load)
    return DatasetInfo(
        name=m.name,
        title=m.title,
        description=m.description,
        department=m.department,
        publisher=c.publisher,
        license=c.license,
        license_url=c.license_url,
        attribution=c.attribution,
        access=m.access,
        frequency=m.frequency,
        keywords=list(m.keywords),
        spatial=m.spatial,
        temporal_start=m.temporal[0],
        temporal_end=m.temporal[1],
        source=c.source,
        synthetic=c.synthetic,
        origin=load.origin if load else None,
        modified=load.loaded_at if load else None,
        row_count=load.row_count if load and not spec.restricted else None,
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
