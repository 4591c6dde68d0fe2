"""Finance: the city's budget, line by line."""

from __future__ import annotations

from schema.modeling import CityModel, Dataset, column


class BudgetLine(CityModel, table=True):
    __tablename__ = "budget_line"
    __dataset__ = Dataset(
        name="budgetLines",
        title="Budget lines",
        description="Voted budget by year, arrondissement, function and nature of spending.",
        department="finance",
        publisher="citygraph demo city (synthetic)",
        license="CC0-1.0",
        license_url="https://creativecommons.org/publicdomain/zero/1.0/",
        attribution="citygraph demo city, synthetic budget",
        frequency="annual",
        keywords=("budget", "finance"),
        temporal=("2020-01-01", "2024-12-31"),
        synthetic=True,
    )

    id: int = column("Line number.", primary_key=True)
    year: int = column("Budget year.", group_by=True)
    district_code: str = column(
        "Arrondissement the line is allocated to.", references="district.code", role="district"
    )
    function: str = column("Policy function, for example Education or Roads.", group_by=True)
    nature: str = column("operating or investment.", group_by=True)
    amount_eur: int = column("Amount voted, in whole euros.")
