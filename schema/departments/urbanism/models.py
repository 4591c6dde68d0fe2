"""Urbanism: building permits; the applicant is personal data."""

from __future__ import annotations

from datetime import date

from auth.scopes import Scope
from schema.modeling import CityModel, Dataset, column


class BuildingPermit(CityModel, table=True):
    __tablename__ = "building_permit"
    __dataset__ = Dataset(
        name="buildingPermits",
        title="Building permits",
        description="Applications for building permits and their decisions.",
        department="urbanism",
        publisher="citygraph demo city (synthetic)",
        license="CC0-1.0",
        license_url="https://creativecommons.org/publicdomain/zero/1.0/",
        attribution="citygraph demo city, synthetic permits",
        frequency="daily",
        keywords=("permits", "urbanism", "construction"),
        synthetic=True,
        owner="applicant_id",
    )

    id: str = column("Permit reference, for example PC 075 112 24 V0001.", primary_key=True)
    address: str = column("Address of the works.")
    kind: str = column(
        "new_building, extension, renovation, change_of_use or demolition.", group_by=True
    )
    status: str = column("filed, under_review, granted, refused or withdrawn.", group_by=True)
    filed_on: date = column("Date the application was filed.")
    decided_on: date | None = column("Date of the decision; null while pending.")
    floor_area_m2: int = column("Floor area created or changed, in square metres.")
    district_code: str = column(
        "Arrondissement of the works.", references="district.code", role="district"
    )
    applicant_name: str = column("Name of the applicant.", access=Scope.URBANISM_READ)
    applicant_id: str | None = column(
        "Resident who applied, when a private person.",
        access=Scope.URBANISM_READ,
        references="resident.id",
        relation="applicant",
        reverse="buildingPermits",
    )
