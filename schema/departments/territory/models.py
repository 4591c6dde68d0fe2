"""Territory: districts (arrondissements) and quartiers, the entities every department refers to."""

from __future__ import annotations

from schema.modeling import CityModel, Dataset, column

ODBL = "https://opendatacommons.org/licenses/odbl/1-0/"
PARIS = "Ville de Paris"


class District(CityModel, table=True):
    __tablename__ = "district"
    __dataset__ = Dataset(
        name="districts",
        singular="district",
        title="Arrondissements",
        description="The 20 arrondissements of Paris with their boundaries and areas.",
        department="territory",
        publisher=PARIS,
        license="ODbL-1.0",
        license_url=ODBL,
        attribution="Ville de Paris, dataset « arrondissements » (opendata.paris.fr)",
        frequency="never",
        keywords=("arrondissement", "boundaries"),
        source="https://opendata.paris.fr/explore/dataset/arrondissements/",
    )

    code: str = column("INSEE code of the arrondissement, 75101 to 75120.", primary_key=True)
    number: int = column("Arrondissement number, 1 to 20.", group_by=True)
    name: str = column("Official name, for example « Louvre ».")
    label: str = column("Short label as the city writes it, for example « 1er Ardt ».")
    area_m2: float = column("Area in square metres.")
    perimeter_m: float = column("Perimeter in metres.")
    population: int = column(
        "Resident population. In the demo city this is the count of the synthetic civil registry."
    )
    latitude: float = column("Latitude of the centroid (WGS84).", role="latitude")
    longitude: float = column("Longitude of the centroid (WGS84).", role="longitude")
    geometry: str = column("Boundary as a GeoJSON geometry (WGS84).", role="geometry")


class Quartier(CityModel, table=True):
    __tablename__ = "quartier"
    __dataset__ = Dataset(
        name="quartiers",
        title="Quartiers administratifs",
        description="The 80 administrative quartiers of Paris, four per arrondissement.",
        department="territory",
        publisher=PARIS,
        license="ODbL-1.0",
        license_url=ODBL,
        attribution="Ville de Paris, dataset « quartier_paris » (opendata.paris.fr)",
        frequency="never",
        keywords=("quartier", "boundaries"),
        source="https://opendata.paris.fr/explore/dataset/quartier_paris/",
    )

    code: str = column("INSEE code of the quartier, for example 7510101.", primary_key=True)
    number: int = column("Quartier number, 1 to 80.")
    name: str = column("Name of the quartier.")
    district_code: str = column(
        "Arrondissement the quartier belongs to.", references="district.code", role="district"
    )
    area_m2: float = column("Area in square metres.")
    perimeter_m: float = column("Perimeter in metres.")
    latitude: float = column("Latitude of the centroid (WGS84).", role="latitude")
    longitude: float = column("Longitude of the centroid (WGS84).", role="longitude")
    geometry: str = column("Boundary as a GeoJSON geometry (WGS84).", role="geometry")
