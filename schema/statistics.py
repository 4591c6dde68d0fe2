"""Public statistics computed from personal data, with small cells suppressed.

Counts and sums of residents, benefit cases and tax assessments per district or quartier and by a
few dimensions (age band, sex, benefit type, year) are open data; every cell computed from fewer
than the threshold of people is withheld (null, `suppressed: true`), and so is any cell that could
be recovered from the others and a margin (schema.suppression). These fields are declared by hand:
they are the exception to generated fields, because what they may publish is not a column.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import strawberry

from schema.context import CityContext
from schema.datasets import ListOf
from schema.errors import BadInput
from schema.suppression import suppress
from storage.repository import Repository

Info = strawberry.Info[CityContext, Any]

AGE_BANDS = ("0-17", "18-29", "30-44", "45-59", "60-74", "75+")


def age_band(birth_year: Any, *, reference_year: int) -> str | None:
    """The age band of someone born in `birth_year`, as of the start of `reference_year`."""
    if birth_year is None:
        return None
    age = reference_year - int(birth_year)
    for band, upper in zip(AGE_BANDS, (17, 29, 44, 59, 74), strict=False):
        if age <= upper:
            return band
    return AGE_BANDS[-1]


@dataclass(frozen=True, slots=True)
class Dimension:
    """A way to split a table: a column (or the year of a date column), its labels and domain."""

    name: str
    column: str
    kind: str = "value"
    label: Callable[[Any], Hashable] | None = None
    domain: tuple[Hashable, ...] | None = None


@dataclass(frozen=True, slots=True)
class Measures:
    people: int | None
    rows: int | None
    sums: dict[str, float | None]
    suppressed: bool


async def suppressed_table(
    repo: Repository,
    *,
    dimensions: list[Dimension],
    person: str,
    sums: tuple[str, ...],
    threshold: int,
) -> list[tuple[dict[str, Hashable], Measures]]:
    """Every cell of the cross product of the dimensions' values, with suppression applied."""
    rows = await repo.grouped_people(
        dimensions=[(d.column, "year" if d.kind == "year" else "value") for d in dimensions],
        person=person,
        sums=sums,
    )
    people: dict[tuple[Hashable, ...], int] = defaultdict(int)
    counts: dict[tuple[Hashable, ...], int] = defaultdict(int)
    totals: dict[tuple[Hashable, ...], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(sums, 0.0)
    )
    seen: list[set[Hashable]] = [set() for _ in dimensions]
    for row in rows:
        cell = tuple((d.label or (lambda v: v))(row[i]) for i, d in enumerate(dimensions))
        for i, value in enumerate(cell):
            seen[i].add(value)
        # a person is in one cell per group: distinct counts add up across merged groups
        people[cell] += int(row.people)
        counts[cell] += int(row.rows)
        for column in sums:
            totals[cell][column] += float(getattr(row, f"sum_{column}") or 0)
    domains = [
        list(d.domain)
        if d.domain is not None
        else sorted(seen[i], key=lambda v: (v is None, str(v)))
        for i, d in enumerate(dimensions)
    ]
    grid = {cell: people.get(cell, 0) for cell in itertools.product(*domains)}
    withheld = suppress(grid, dimensions=len(dimensions), threshold=threshold)
    table = []
    for cell in grid:
        hidden = cell in withheld
        table.append(
            (
                {d.name: v for d, v in zip(dimensions, cell, strict=True)},
                Measures(
                    people=None if hidden else grid[cell],
                    rows=None if hidden else counts.get(cell, 0),
                    sums={
                        c: None if hidden else totals[cell][c] if cell in totals else 0.0
                        for c in sums
                    },
                    suppressed=hidden,
                ),
            )
        )
    return table


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


def _dimension(name: str, *, reference_year: int) -> Dimension:
    return {
        "district": Dimension("district_code", "district_code"),
        "quartier": Dimension("quartier_code", "quartier_code"),
        "sex": Dimension("sex", "sex"),
        "age_band": Dimension(
            "age_band",
            "birth_date",
            kind="year",
            label=lambda y: age_band(y, reference_year=reference_year),
            domain=AGE_BANDS,
        ),
        "benefit_type": Dimension("benefit_type", "benefit_type"),
        "status": Dimension("status", "status"),
        "year": Dimension("year", "year"),
    }[name]


def _dimensions(group_by: list[Any]) -> list[Dimension]:
    names = list(dict.fromkeys(g.value for g in group_by))
    if "district" in names and "quartier" in names:
        raise BadInput(
            "group by district or by quartier, not both: a quartier lies in one district"
        )
    year = datetime.now(UTC).year
    return [_dimension(n, reference_year=year) for n in names]


@dataclass(frozen=True, slots=True)
class StatisticsTable:
    """One public statistics field: which dataset, whose people, which sums, which cell type."""

    dataset: str
    person: str
    dimension: type[enum.Enum]
    cell: type
    rows_field: str
    sums: tuple[str, ...]
    description: str

    def field(self, threshold: int, note: str) -> Any:
        """The root field, with `groupBy` typed by this table's dimensions."""

        async def resolve(info: Info, group_by: list[Any]) -> list[Any]:
            info.context.datasets_read.add(self.dataset)
            table = await suppressed_table(
                info.context.loaders.repositories[self.dataset],
                dimensions=_dimensions(group_by),
                person=self.person,
                sums=self.sums,
                threshold=threshold,
            )
            names = [f.name for f in dataclasses.fields(self.cell)]
            return [
                self.cell(
                    **{n: key.get(n) for n in names if n not in MEASURE_FIELDS},
                    people=m.people,
                    suppressed=m.suppressed,
                    **{self.rows_field: m.rows} if self.rows_field != "people" else {},
                    **{c: m.sums[c] for c in self.sums},
                )
                for key, m in table
            ]

        resolve.__annotations__.update(
            {"group_by": ListOf[self.dimension], "return": ListOf[self.cell]}
        )
        return strawberry.field(resolver=resolve, description=self.description + note)


MEASURE_FIELDS = frozenset(
    {"people", "suppressed", "cases", "assessments", "monthly_amount_eur", "tax_due_eur"}
)

TABLES = {
    "resident_statistics": StatisticsTable(
        "residents",
        "id",
        ResidentDimension,
        ResidentStatisticsCell,
        "people",
        (),
        "Residents counted by the chosen dimensions.",
    ),
    "benefit_case_statistics": StatisticsTable(
        "benefitCases",
        "resident_id",
        BenefitCaseDimension,
        BenefitCaseStatisticsCell,
        "cases",
        ("monthly_amount_eur",),
        "Benefit cases, people and amounts by the chosen dimensions.",
    ),
    "tax_assessment_statistics": StatisticsTable(
        "taxAssessments",
        "resident_id",
        TaxAssessmentDimension,
        TaxAssessmentStatisticsCell,
        "assessments",
        ("tax_due_eur",),
        "Property-tax assessments, people and tax due by the chosen dimensions.",
    ),
}


def statistics_fields(threshold: int) -> dict[str, Any]:
    """The public statistics fields of the root Query, for a suppression threshold."""
    note = (
        f" Public: cells from fewer than {threshold} people are withheld, with complementary"
        " suppression so no withheld cell can be recovered from the others and a total."
    )
    return {name: table.field(threshold, note) for name, table in TABLES.items()}
