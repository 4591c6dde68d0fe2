"""Restricted relations, lists and columns beneath a root field's rows, compiled.

Today's guards (schema.access) run once per row a restricted field resolves on and note the
field and the row's owner; the compiled statement says whether a row is at each guarded level
and returns the owners of those rows (storage.compiled.emit), so both paths give the same
answer and the same access facts. A principal who may read them whatever the row (staff with
the scope and a purpose) compiles, and so does a citizen's list of their own personal rows;
any other nested read of a citizen's depends on whose row it is and stays on today's path.
tests/schema/test_compiled_differential.py generates the rest.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given

from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import GATEWAY, Backend
from tests.schema.test_compiled_differential import (
    PROFILE,
    TIERS,
    answer,
    both_paths_agree,
    operations,
)

STAFF = TIERS["staff_purpose"]

SHAPES = {
    "a resident's household and benefit cases": """
        { residents(first: 4) { nodes { id household { id address }
            benefitCases(first: 2) { totalCount nodes { id status } } } } }""",
    "a public root's restricted lists": """
        { districts(first: 2) { nodes { code
            residents(first: 3) { nodes { id familyName } }
            households(first: 2) { edges { cursor node { id address } } } } } }""",
    "a public root's restricted relation": """
        { buildingPermits(first: 4) { nodes { id applicantName applicant { familyName } } } }""",
    "a lookup's list two levels down": """
        { resident(id: "R1") { id household { members(first: 5) { nodes { id givenName } } } } }""",
    "a nested list ordered and filtered by restricted columns": """
        { households(first: 3) { nodes { id members(orderBy: [{field: ID, direction: DESC}],
            where: {familyName: {ne: "nobody"}}) { nodes { id } } } } }""",
    "a list beneath a relation beneath a list": """
        { benefitCases(first: 3) { nodes { id resident { household { address } } } } }""",
}


async def _compiled(backend: Backend, query: str) -> tuple[dict[str, object], CityContext, int]:
    """The staff member's compiled answer, its context and how many statements it sent."""
    engines = list(backend.city.databases.engines())
    context = CityContext(loaders=backend.city.loaders(), principal=STAFF, compiled=True)
    with StatementCounter(iter(engines)) as counted:
        result = await GATEWAY.execute(query, context_value=context)
    assert result.data is not None
    assert all(isinstance(v, orjson.Fragment) for v in result.data.values()), result.data
    return orjson.loads(orjson.dumps(result.data)), context, len(counted.statements)


@pytest.mark.parametrize("shape", sorted(SHAPES))
async def test_a_staff_member_s_nested_restricted_read_compiles_and_agrees(
    backend: Backend, shape: str
) -> None:
    query = SHAPES[shape]
    _data, context, statements = await _compiled(backend, query)
    assert statements == 1
    assert context.restricted_read  # never cached
    await both_paths_agree(backend, query, {}, STAFF)


async def test_the_record_names_the_nested_rows_owners(backend: Backend) -> None:
    """Residents and households beneath districts: each listed resident is a subject, a
    household none (it has no owner), the lists themselves no one (a staff member has no
    resident id of their own); the fields are noted as their guards note them."""
    query = SHAPES["a public root's restricted lists"]
    data, context, _ = await _compiled(backend, query)
    districts = data["districts"]["nodes"]  # type: ignore[index]
    listed = {r["id"] for d in districts for r in d["residents"]["nodes"]}
    assert listed, "the fixture's first districts have residents"
    assert context.subjects == listed
    assert context.fields_read == {
        "District.residents",
        "District.households",
        "Resident.id",
        "Resident.familyName",
        "Household.id",
        "Household.address",
    }
    assert context.restricted


async def test_a_level_no_row_reaches_notes_nothing(backend: Backend) -> None:
    """Districts without a match: the guards beneath them never run, on either path."""
    query = """{ districts(where: {code: {eq: "nowhere"}}) {
        nodes { code residents { nodes { id familyName } } } } }"""
    data, context, _ = await _compiled(backend, query)
    assert data == {"districts": {"nodes": []}}
    assert not context.restricted
    assert context.fields_read == set()
    assert context.subjects == set()
    await both_paths_agree(backend, query, {}, STAFF)


async def test_a_relation_with_no_row_still_notes_its_guard(backend: Backend) -> None:
    """A relation's guard runs for every row, whether its reference finds a row or not: the
    permits' `applicant` is noted, with each permit's applicant as the subject."""
    query = "{ buildingPermits(first: 10) { nodes { id applicant { id } } } }"
    data, context, _ = await _compiled(backend, query)
    permits = data["buildingPermits"]["nodes"]  # type: ignore[index]
    assert "BuildingPermit.applicant" in context.fields_read
    assert any(p["applicant"] is not None for p in permits)
    await both_paths_agree(backend, query, {}, STAFF)


@pytest.mark.parametrize("tier", ["citizen", "staff", "app", "anonymous"])
async def test_anyone_else_s_nested_read_goes_today_s_way(backend: Backend, tier: str) -> None:
    """A citizen's household is decided row by row, and a denial is today's to answer: the
    root field is not compiled, and both paths still agree."""
    query = SHAPES["a resident's household and benefit cases"]
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS[tier], compiled=True)
    result = await GATEWAY.execute(query, context_value=context)
    assert not isinstance((result.data or {}).get("residents"), orjson.Fragment)
    await both_paths_agree(backend, query, {}, TIERS[tier])


CITIZEN_SHAPES = {
    # their own resident row, and beneath it their benefit cases (filtered to their own)
    '{ resident(id: "R1") { id familyName benefitCases { nodes { id status } } } }': True,
    # every district, each with the residents it lists for them: themselves, or nobody
    "{ districts(first: 3) { nodes { code residents { totalCount nodes { id familyName } } } } }": True,
    # someone else's row: handed back once the statement says whose it is, and refused
    '{ resident(id: "R2") { id benefitCases { nodes { id status } } } }': False,
    # a household is nobody's own row: its fields are decided per household (today's path)
    '{ resident(id: "R1") { id household { address } } }': False,
}


@pytest.mark.parametrize("query", sorted(CITIZEN_SHAPES))
async def test_a_citizen_s_nested_lists_of_their_own_rows_compile(
    backend: Backend, query: str
) -> None:
    """A list of personal rows is narrowed to the citizen's own whatever the row it hangs from
    (schema.access.row_filter): it compiles, with the citizen as its guard's subject; rows that
    are nobody's own (a household's) stay on today's path. Both paths agree either way."""
    citizen = TIERS["citizen"]
    context = CityContext(loaders=backend.city.loaders(), principal=citizen, compiled=True)
    result = await GATEWAY.execute(query, context_value=context)
    compiled = [isinstance(v, orjson.Fragment) for v in (result.data or {}).values()]
    assert compiled == [CITIZEN_SHAPES[query]]
    if CITIZEN_SHAPES[query]:
        assert context.subjects == {"R1"}
        today = await answer(backend, query, {}, citizen, compiled=False)
        assert today["errors"] == [], today
    await both_paths_agree(backend, query, {}, citizen)


@pytest.mark.parametrize("tier", ["staff_purpose", "citizen"])
@PROFILE
@given(case=operations())
async def test_generated_nested_operations_agree(
    backend: Backend, tier: str, case: tuple[str, dict[str, Any]]
) -> None:
    """Every dataset, restricted ones and their nested levels included, for the tiers whose
    nested restricted reads compile: both paths give the same data, errors and facts."""
    await both_paths_agree(backend, *case, TIERS[tier])
