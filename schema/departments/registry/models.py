"""Civil registry (restricted): residents and households."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Index

from auth.scopes import Scope
from schema.modeling import CityModel, Dataset, column

REG = Scope.REGISTRY_READ


def _registry(name: str, title: str, description: str, owner: str | None = None) -> Dataset:
    return Dataset(
        name=name,
        title=title,
        description=description,
        department="registry",
        publisher="citygraph demo city (synthetic personal data)",
        license="restricted",
        license_url="https://www.legifrance.gouv.fr/",
        attribution="citygraph demo city; synthetic, seeded",
        access=REG,
        frequency="continuous",
        synthetic=True,
        owner=owner,
    )


class Household(CityModel, table=True):
    __tablename__ = "household"
    __dataset__ = _registry("households", "Households", "Households registered at an address.")

    id: str = column("Household identifier.", primary_key=True, access=REG)
    address: str = column("Address of the dwelling.", access=REG)
    district_code: str = column(
        "Arrondissement of the dwelling.", access=REG, references="district.code", role="district"
    )
    quartier_code: str = column(
        "Quartier of the dwelling.", access=REG, references="quartier.code", role="quartier"
    )


class Resident(CityModel, table=True):
    __tablename__ = "resident"
    __dataset__ = _registry(
        "residents", "Residents", "People registered as living in the city.", owner="id"
    )
    # A district's or quartier's residents are paged in key order (`orderBy: DISTRICT_CODE`, and
    # `district { residents }`): with the key in the index that is a range of it, not a sort of
    # every resident of the district (docs/performance.md). Filters on the code use it too.
    __table_args__ = (
        Index("ix_resident_district_code_id", "district_code", "id"),
        Index("ix_resident_quartier_code_id", "quartier_code", "id"),
    )

    id: str = column("Resident identifier.", primary_key=True, access=REG)
    given_name: str = column("Given name.", access=REG)
    family_name: str = column("Family name.", access=REG)
    birth_date: date = column("Date of birth.", access=REG)
    sex: str = column("F, M or X as registered.", access=REG)
    household_id: str = column(
        "Household the resident belongs to.",
        access=REG,
        references="household.id",
        reverse="members",
    )
    address: str = column("Registered address.", access=REG)
    district_code: str = column(
        "Arrondissement of residence.",
        access=REG,
        references="district.code",
        role="district",
        index=False,  # ix_resident_district_code_id
    )
    quartier_code: str = column(
        "Quartier of residence.",
        access=REG,
        references="quartier.code",
        role="quartier",
        index=False,  # ix_resident_quartier_code_id
    )
