"""Tax (restricted): property-tax assessments of residents."""

from __future__ import annotations

from auth.scopes import Scope
from schema.modeling import CityModel, Dataset, column

TAX = Scope.TAX_READ


class TaxAssessment(CityModel, table=True):
    __tablename__ = "tax_assessment"
    __dataset__ = Dataset(
        name="taxAssessments",
        title="Property-tax assessments",
        description="Yearly property-tax (taxe foncière) assessments of residents' properties.",
        department="tax",
        publisher="citygraph demo city (synthetic personal data)",
        license="restricted",
        license_url="https://www.legifrance.gouv.fr/",
        attribution="citygraph demo city; synthetic, seeded",
        access=TAX,
        frequency="annual",
        synthetic=True,
        owner="resident_id",
    )

    id: str = column("Assessment identifier.", primary_key=True, access=TAX)
    resident_id: str = column(
        "Resident assessed.", access=TAX, references="resident.id", reverse="taxAssessments"
    )
    year: int = column("Tax year.", access=TAX, group_by=True)
    parcel_ref: str = column("Cadastral parcel reference.", access=TAX)
    assessed_value_eur: int = column("Rental value assessed, in whole euros.", access=TAX)
    tax_due_eur: int = column("Tax due, in whole euros.", access=TAX)
    district_code: str = column(
        "Arrondissement of the property.", access=TAX, references="district.code", role="district"
    )
