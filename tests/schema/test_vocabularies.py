"""Every built-in dataset speaks the EU vocabularies: a new model with a licence, a coverage or a
department the tables do not know fails here, not at a portal's quality check."""

from __future__ import annotations

import pytest

from schema import vocabularies as vocab
from schema.city import builtin_specs
from schema.datasets import DatasetSpec

SPECS = builtin_specs()


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.restricted], ids=lambda s: s.name)
def test_public_licences_are_in_the_eu_licence_table(spec: DatasetSpec) -> None:
    iri = vocab.licence_iri(spec.meta.license, spec.meta.license_url)
    assert iri.startswith(vocab.EU + "licence/")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_frequency_coverage_and_theme_have_authority_iris(spec: DatasetSpec) -> None:
    m = spec.meta
    assert m.frequency in vocab.FREQUENCIES
    places = vocab.place_iris(m.spatial)
    assert places
    assert all(p.startswith((vocab.EU + "place/", vocab.EU + "country/")) for p in places)
    assert m.department in vocab.THEMES


def test_paris_is_the_place_tables_paris() -> None:
    assert vocab.place_iris("Paris, France") == (
        "http://publications.europa.eu/resource/authority/place/FRA_PAR",
    )


def test_values_without_an_authority_iri_keep_their_own() -> None:
    url = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    assert vocab.licence_iri("etalab-2.0", url) == url
    assert vocab.place_iris("Lyon, France") == ()
    assert vocab.place_iris("https://sws.geonames.org/2996944/") == (
        "https://sws.geonames.org/2996944/",
    )
    assert vocab.frequency_iri("fortnightly").endswith("/frequency/IRREG")
