"""The controlled vocabularies the catalog speaks: EU authority tables and IANA media types.

DCAT-AP asks for IRIs from the EU Publications Office's authority tables (licences, frequencies,
file types, languages, places, access rights, data themes) and IANA's media types, each typed with
the class the profile expects. Only codes checked against the tables are listed here; a value
with no known IRI keeps its own (a licence's URL) or becomes a labelled node (a place's name).
"""

from __future__ import annotations

from dataclasses import dataclass

EU = "http://publications.europa.eu/resource/authority/"
IANA = "https://www.iana.org/assignments/media-types/"

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
"""Manifest and model words for dct:accrualPeriodicity -> the EU frequency table's codes."""

LICENCES = {
    "CC-BY-4.0": "CC_BY_4_0",
    "CC-BY-SA-4.0": "CC_BYSA_4_0",
    "CC0-1.0": "CC0",
    "ODbL-1.0": "ODC_BL",
    "ODC-By-1.0": "ODC_BY",
    "PDDL-1.0": "ODC_PDDL",
    "OGL-UK-3.0": "OGL_3_0",
}
"""SPDX identifiers -> the EU licence table's codes (other licences keep their own URL)."""

LANGUAGES = {"en": "ENG", "fr": "FRA"}
"""ISO 639-1 -> the EU language table's codes."""

PARIS = EU + "place/FRA_PAR"
"""Paris in the EU place table (its codes follow UN/LOCODE: FR PAR)."""

PLACES = {
    "Paris, France": (PARIS,),
    "Paris, Antwerp, London": (PARIS, EU + "place/BEL_ANR", EU + "place/GBR_LON"),
    "Cairns, Queensland, Australia": (EU + "country/AUS",),
}
"""Spatial coverage as the models and manifests write it -> authority IRIs (the smallest that
hold the whole coverage: Cairns is not in the place table, so Australia)."""


@dataclass(frozen=True, slots=True)
class Theme:
    """A concept of the EU data-theme table, with the label a skos:Concept must carry."""

    iri: str
    label: str


THEMES = {
    "territory": Theme(EU + "data-theme/REGI", "Regions and cities"),
    "urbanism": Theme(EU + "data-theme/REGI", "Regions and cities"),
    "facilities": Theme(EU + "data-theme/REGI", "Regions and cities"),
    "mobility": Theme(EU + "data-theme/TRAN", "Transport"),
    "environment": Theme(EU + "data-theme/ENVI", "Environment"),
    "finance": Theme(EU + "data-theme/ECON", "Economy and finance"),
    "tax": Theme(EU + "data-theme/ECON", "Economy and finance"),
    "registry": Theme(EU + "data-theme/SOCI", "Population and society"),
    "social": Theme(EU + "data-theme/SOCI", "Population and society"),
}
"""Built-in departments -> their data theme (a department a manifest invents has none)."""

PUBLIC_ACCESS = EU + "access-right/PUBLIC"
NON_PUBLIC_ACCESS = EU + "access-right/NON_PUBLIC"
LOCAL_AUTHORITY = Theme("http://purl.org/adms/publishertype/LocalAuthority", "Local Authority")
"""The ADMS publisher type of a city."""


@dataclass(frozen=True, slots=True)
class FileFormat:
    """A distribution's format: its IANA media type and its EU file type."""

    label: str
    media_type: str
    file_type: str

    @property
    def media_type_iri(self) -> str:
        return IANA + self.media_type

    @property
    def file_type_iri(self) -> str:
        return EU + "file-type/" + self.file_type


CSV = FileFormat("CSV", "text/csv", "CSV")
GEOJSON = FileFormat("GeoJSON", "application/geo+json", "GEOJSON")
JSON = FileFormat("JSON", "application/json", "JSON")


def frequency_iri(word: str) -> str:
    """The EU frequency of a manifest word; an unknown word is irregular."""
    return EU + "frequency/" + FREQUENCIES.get(word, "IRREG")


def licence_iri(spdx: str, url: str) -> str:
    """The EU licence table's IRI for an SPDX identifier, else the licence's own URL."""
    code = LICENCES.get(spdx)
    return EU + "licence/" + code if code else url


def language_iri(code: str) -> str:
    """The EU language table's IRI of an ISO 639-1 code."""
    return EU + "language/" + LANGUAGES[code]


def place_iris(spatial: str) -> tuple[str, ...]:
    """Authority IRIs of a spatial coverage: known names, or an http(s) IRI given as such."""
    if spatial.startswith(("http://", "https://")):
        return (spatial,)
    return PLACES.get(spatial.strip(), ())
