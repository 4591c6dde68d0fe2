"""Social services (restricted): benefit cases of residents."""

from __future__ import annotations

from datetime import date

from auth.scopes import Scope
from schema.modeling import CityModel, Dataset, column

SOC = Scope.SOCIAL_READ


class BenefitCase(CityModel, table=True):
    __tablename__ = "benefit_case"
    __dataset__ = Dataset(
        name="benefitCases",
        title="Benefit cases",
        description="Social-assistance cases opened for residents.",
        department="social",
        publisher="citygraph demo city (synthetic personal data)",
        license="restricted",
        license_url="https://www.legifrance.gouv.fr/",
        attribution="citygraph demo city; synthetic, seeded",
        access=SOC,
        frequency="continuous",
        synthetic=True,
        owner="resident_id",
    )

    id: str = column("Case identifier.", primary_key=True, access=SOC)
    resident_id: str = column(
        "Resident the case concerns.", access=SOC, references="resident.id", reverse="benefitCases"
    )
    benefit_type: str = column(
        "housing, family, disability, minimum_income or elderly.", access=SOC, group_by=True
    )
    status: str = column("open, suspended or closed.", access=SOC, group_by=True)
    opened_on: date = column("Date the case was opened.", access=SOC)
    closed_on: date | None = column("Date the case was closed.", access=SOC)
    monthly_amount_eur: int = column("Monthly amount paid, in whole euros.", access=SOC)
    district_code: str = column(
        "Arrondissement of the case office.",
        access=SOC,
        references="district.code",
        role="district",
    )
