"""Public statistics computed from personal data, with small cells suppressed.

Counts and sums of residents, benefit cases and tax assessments per district or quartier and by a
few dimensions (age band, sex, benefit type, year) are open data; every cell computed from fewer
than the threshold of people is withheld (null, `suppressed: true`), and so is every cell that a
combination of the published ones would pin or narrow below the threshold, across all the
groupings of a field and the populations the territory publishes (schema.disclosure plans it once
per data load; docs/statistics.md). These fields are declared by hand: they are the exception to
generated fields, because what they may publish is not a column.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

import strawberry

from schema.context import CityContext
from schema.datasets import ListOf
from schema.disclosure import DISTRICT, Axis, Disclosure, Level, Source
from schema.errors import BadInput

Info = strawberry.Info[CityContext, Any]

AGE_BANDS = ("0-17", "18-29", "30-44", "45-59", "60-74", "75+")


def age_band(birth_year: Any, reference_year: int) -> str | None:
    """The age band of someone born in `birth_year`, as of the start of `reference_year`."""
    if birth_year is None:
        return None
    age = reference_year - int(birth_year)
    for band, upper in zip(AGE_BANDS, (17, 29, 44, 59, 74), strict=False):
        if age <= upper:
            return band
    return AGE_BANDS[-1]


# GraphQL ---------------------------------------------------------------------------------------


@strawberry.enum(description="Ways to split resident statistics.")
class ResidentDimension(enum.Enum):
    DISTRICT = "district"
    QUARTIER = "quartier"
    AGE_BAND = "age_band"
    SEX = "sex"


@strawberry.enum(description="Ways to split benefit-case statistics.")
class BenefitCaseDimension(enum.Enum):
    DISTRICT = "district"
    BENEFIT_TYPE = "benefit_type"
    STATUS = "status"


@strawberry.enum(description="Ways to split property-tax statistics.")
class TaxAssessmentDimension(enum.Enum):
    DISTRICT = "district"
    YEAR = "year"


@strawberry.type(description="Residents in one cell; counts are null when suppressed.")
class ResidentStatisticsCell:
    district_code: str | None = strawberry.field(description="Arrondissement, when split by it.")
    quartier_code: str | None = strawberry.field(description="Quartier, when split by it.")
    age_band: str | None = strawberry.field(description="Age band at the start of this year.")
    sex: str | None = strawberry.field(description="Sex as registered, when split by it.")
    people: int | None = strawberry.field(description="Residents; null when suppressed.")
    suppressed: bool = strawberry.field(description="True when the figure is withheld.")


@strawberry.type(description="Benefit cases in one cell; figures are null when suppressed.")
class BenefitCaseStatisticsCell:
    district_code: str | None = strawberry.field(description="Arrondissement, when split by it.")
    benefit_type: str | None = strawberry.field(description="Benefit type, when split by it.")
    status: str | None = strawberry.field(description="Case status, when split by it.")
    people: int | None = strawberry.field(description="Distinct residents with a case.")
    cases: int | None = strawberry.field(description="Cases.")
    monthly_amount_eur: float | None = strawberry.field(description="Sum of monthly amounts.")
    suppressed: bool = strawberry.field(description="True when the figures are withheld.")


@strawberry.type(
    description="Property-tax assessments in one cell; figures are null when suppressed."
)
class TaxAssessmentStatisticsCell:
    district_code: str | None = strawberry.field(description="Arrondissement, when split by it.")
    year: int | None = strawberry.field(description="Tax year, when split by it.")
    people: int | None = strawberry.field(description="Distinct residents assessed.")
    assessments: int | None = strawberry.field(description="Assessments.")
    tax_due_eur: float | None = strawberry.field(description="Sum of tax due.")
    suppressed: bool = strawberry.field(description="True when the figures are withheld.")


def _levels(group_by: list[Any], axes: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Axis -> level of a `groupBy` argument; BAD_USER_INPUT for two levels of one axis."""
    levels: dict[str, str] = {}
    for value in dict.fromkeys(g.value for g in group_by):
        axis, level = axes[value]
        if axis in levels:
            raise BadInput(
                "group by district or by quartier, not both: a quartier lies in one district"
            )
        levels[axis] = level
    return levels


@dataclass(frozen=True, slots=True)
class StatisticsTable:
    """One public statistics field: its source, how `groupBy` names its axes, its cell type."""

    source: Source
    dimension: type[enum.Enum]
    axes: dict[str, tuple[str, str]]
    """`groupBy` value -> (axis, level)."""
    cell: type
    rows_field: str
    description: str

    @property
    def dataset(self) -> str:
        return self.source.dataset

    def field(self, disclosure: Disclosure, note: str) -> Any:
        """The root field, with `groupBy` typed by this table's dimensions."""

        async def resolve(info: Info, group_by: list[Any]) -> list[Any]:
            levels = _levels(group_by, self.axes)
            info.context.datasets_read.add(self.dataset)
            loaders = info.context.loaders
            tables = await disclosure.tables(
                self.source, repositories=loaders.repositories, loads=await loaders.loads()
            )
            names = [f.name for f in dataclasses.fields(self.cell)]
            return [
                self.cell(
                    **{n: key.get(n) for n in names if n not in MEASURE_FIELDS},
                    people=m.people,
                    suppressed=m.suppressed,
                    **{self.rows_field: m.rows} if self.rows_field != "people" else {},
                    **m.sums,
                )
                for key, m in tables.table(tables.grouping(levels))
            ]

        resolve.__annotations__.update(
            {"group_by": ListOf[self.dimension], "return": ListOf[self.cell]}
        )
        return strawberry.field(resolver=resolve, description=self.description + note)


MEASURE_FIELDS = frozenset(
    {"people", "suppressed", "cases", "assessments", "monthly_amount_eur", "tax_due_eur"}
)

PLACE = Axis(
    "place",
    (Level(DISTRICT, "district_code"), Level("quartier_code", "quartier_code")),
)
DISTRICT_ONLY = Axis("district", (Level(DISTRICT, "district_code"),))


def _axis(name: str, kind: Any = "value") -> Axis:
    return Axis(name, (Level(name, name, kind),))


TABLES = {
    "resident_statistics": StatisticsTable(
        Source(
            "residents",
            "id",
            (
                PLACE,
                Axis(
                    "age",
                    (Level("age_band", "birth_date", "year", age_band),),
                    domain=AGE_BANDS,
                ),
                _axis("sex"),
            ),
            additive_people=True,
            population_axis="place",
        ),
        ResidentDimension,
        {
            "district": ("place", DISTRICT),
            "quartier": ("place", "quartier_code"),
            "age_band": ("age", "age_band"),
            "sex": ("sex", "sex"),
        },
        ResidentStatisticsCell,
        "people",
        "Residents counted by the chosen dimensions.",
    ),
    "benefit_case_statistics": StatisticsTable(
        Source(
            "benefitCases",
            "resident_id",
            (DISTRICT_ONLY, _axis("benefit_type"), _axis("status")),
            sums=("monthly_amount_eur",),
        ),
        BenefitCaseDimension,
        {
            "district": ("district", DISTRICT),
            "benefit_type": ("benefit_type", "benefit_type"),
            "status": ("status", "status"),
        },
        BenefitCaseStatisticsCell,
        "cases",
        "Benefit cases, people and amounts by the chosen dimensions.",
    ),
    "tax_assessment_statistics": StatisticsTable(
        Source(
            "taxAssessments",
            "resident_id",
            (DISTRICT_ONLY, _axis("year")),
            sums=("tax_due_eur",),
        ),
        TaxAssessmentDimension,
        {"district": ("district", DISTRICT), "year": ("year", "year")},
        TaxAssessmentStatisticsCell,
        "assessments",
        "Property-tax assessments, people and tax due by the chosen dimensions.",
    ),
}


def statistics_fields(threshold: int) -> dict[str, Any]:
    """The public statistics fields of the root Query, for a suppression threshold."""
    note = (
        f" Public: cells from fewer than {threshold} people are withheld, and so is every cell"
        " that the others (in any grouping) and the published populations would pin or narrow"
        f" to an interval shorter than {threshold}."
    )
    disclosure = Disclosure(threshold=threshold)
    return {name: table.field(disclosure, note) for name, table in TABLES.items()}
