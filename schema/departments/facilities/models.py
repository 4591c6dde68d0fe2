"""Facilities: public toilets and similar points of interest."""

from __future__ import annotations

from schema.modeling import CityModel, Dataset, column


class PublicToilet(CityModel, table=True):
    __tablename__ = "public_toilet"
    __dataset__ = Dataset(
        name="publicToilets",
        title="Public toilets (sanisettes)",
        description="Public toilets, urinals and sanisettes run by the city, with opening hours.",
        department="facilities",
        publisher="Ville de Paris, Direction de la Propreté et de l'Eau",
        license="ODbL-1.0",
        license_url="https://opendatacommons.org/licenses/odbl/1-0/",
        attribution="Ville de Paris, dataset « sanisettesparis » (opendata.paris.fr)",
        frequency="weekly",
        keywords=("toilets", "sanisettes", "facilities"),
        source="https://opendata.paris.fr/explore/dataset/sanisettesparis/",
    )

    id: str = column(
        "Stable identifier derived from the kind, address and position.", primary_key=True
    )
    kind: str = column("Kind of facility: SANISETTES, TOILETTES, URINOIR...", group_by=True)
    status: str | None = column(
        "Ouvert (open) or Fermé (closed); null when not published.", group_by=True
    )
    address: str = column("Street address.")
    hours: str | None = column("Opening hours as published.")
    wheelchair_accessible: bool | None = column("Accessible to people with reduced mobility.")
    baby_changing: bool | None = column("Has a baby-changing station.")
    url: str | None = column("Page describing the facility.")
    latitude: float = column("Latitude (WGS84).", role="latitude")
    longitude: float = column("Longitude (WGS84).", role="longitude")
    district_code: str | None = column(
        "Arrondissement containing the facility (by position).",
        references="district.code",
        role="district",
    )
