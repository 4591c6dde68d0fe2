"""Restricted entity types in `_entities`: both paths give the same nulls, errors and record.

Today's resolver decides per key who reads a restricted entity (schema.objects
`add_reference_resolver`) and a guard per field notes each read (schema.access); the compiled
path answers those its principal may read whatever the key (staff with a purpose) and a
citizen's own record, in one statement that also returns what the record names
(schema.compiled.planner `_entities`). The rest stays on today's path; these tests say which.
"""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.compiled.entities import ENTITIES
from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import Backend
from tests.schema.test_compiled_differential import EXAMPLES, PROFILE, RESTRICTED_TYPES, TIERS
from tests.schema.test_compiled_entities import (
    ENTITY_TYPES,
    SPECS,
    answer,
    compiled_entities,
    entities_operations,
    plain,
)
from tests.schema.test_compiled_subgraphs import DEPARTMENTS, SUBGRAPHS

RESTRICTED = [(d, t) for d in DEPARTMENTS for t in sorted(ENTITY_TYPES[d]) if t in RESTRICTED_TYPES]
"""Restricted entity types, each in a subgraph: residents and households in the registry's,
benefit cases in social services', tax assessments in tax's; residents as a stub in those two.
Their owners' three times as often: a stub compiles only with a list beneath it."""
RESTRICTED += [(d, t) for d, t in RESTRICTED if SPECS[t].department == d] * 2


@pytest.mark.parametrize("tier", sorted(TIERS))  # each tier alike: hypothesis favours the first
@settings(PROFILE, max_examples=max(EXAMPLES // 4, 1))
@given(data=st.data())
async def test_restricted_entities_agree(backend: Backend, data: st.DataObject, tier: str) -> None:
    """The same for restricted entity types alone, every tier: the same nulls, errors and
    access record (datasets, denials, fields, subjects)."""
    mine = TIERS[tier].resident_id  # a citizen asks for their own record too
    drawn = entities_operations(backend.name, RESTRICTED, mine=mine)
    department, query, variables = data.draw(drawn)
    today = await answer(backend, department, query, variables, tier, compiled=False)
    compiled = await answer(backend, department, query, variables, tier, compiled=True)
    assert compiled == today, (query, variables)


RESIDENTS = ["R3", "R9", "R0", "R3"]
"""Four residents' keys in the router's order: a repeated one and one of no resident."""
RESIDENT = (
    "query Entities($representations: [_Any!]!) {"
    f" {ENTITIES}(representations: $representations) {{"
    " __typename ... on Resident { id familyName birthDate district { code } } } }"
)


async def test_a_staff_member_s_residents_cost_one_statement(backend: Backend) -> None:
    """Given a staff member with the scope and a purpose, when the registry's subgraph answers
    residents' entities on the compiled path, then one statement answers them in their order
    and the access record names what today's guards name: each restricted field read, and the
    residents found as its subjects (not the key of no resident)."""
    variables = {"representations": [plain("Resident", r) for r in RESIDENTS]}
    staff = TIERS["staff_purpose"]
    entities, context, statements = await compiled_entities(
        backend, "registry", RESIDENT, variables, staff
    )
    assert len(statements) == 1
    assert [e and e["familyName"] for e in entities] == ["Li", None, "Martin", "Li"]
    assert entities[0]["district"] == {"code": "75101"}
    assert context.restricted
    assert context.restricted_read
    assert context.fields_read == {
        "Resident.id",
        "Resident.familyName",
        "Resident.birthDate",
        "Resident.district",
    }
    assert context.subjects == {"R0", "R3"}
    assert context.datasets_read == {"residents"}
    today = await answer(backend, "registry", RESIDENT, variables, "staff_purpose", compiled=False)
    compiled = await answer(
        backend, "registry", RESIDENT, variables, "staff_purpose", compiled=True
    )
    assert compiled == today


async def test_residents_of_no_row_note_no_subject(backend: Backend) -> None:
    """Keys of no resident: null entities, and nothing read to note but the dataset."""
    variables = {"representations": [plain("Resident", "R9"), plain("Resident", "Z")]}
    today = await answer(backend, "registry", RESIDENT, variables, "staff_purpose", compiled=False)
    compiled = await answer(
        backend, "registry", RESIDENT, variables, "staff_purpose", compiled=True
    )
    assert compiled == today
    assert (compiled["data"], compiled["fields"], compiled["subjects"]) == (
        {ENTITIES: [None, None]},
        [],
        [],
    )


@pytest.mark.parametrize(
    ("keys", "compiles"),
    [(["R1", "R1"], True), (["R1", "R0"], False), (["R9"], False)],
)
async def test_a_citizen_s_own_record_compiles(
    backend: Backend, keys: list[str], compiles: bool
) -> None:
    """A citizen (resident R1) asking for their own record by its key, and only that, reads it
    on the compiled path, noted as today's guards note it (themselves the subject); with
    anyone else's key among them, today's path answers (that one a bare reference with every
    field's error)."""
    variables = {"representations": [plain("Resident", r) for r in keys]}
    citizen = TIERS["citizen"]
    context = CityContext(loaders=backend.city.loaders(), principal=citizen, compiled=True)
    with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
        result = await SUBGRAPHS["registry"].execute(
            RESIDENT, variable_values=copy.deepcopy(variables), context_value=context
        )
    assert result.data is not None
    assert isinstance(result.data[ENTITIES], orjson.Fragment) == compiles
    if compiles:
        assert len(counted.statements) == 1
        assert context.subjects == {"R1"}
        assert "Resident.familyName" in context.fields_read
    today = await answer(backend, "registry", RESIDENT, variables, "citizen", compiled=False)
    assert today == await answer(backend, "registry", RESIDENT, variables, "citizen", compiled=True)


TYPENAMES = (
    "query Entities($representations: [_Any!]!) {"
    f" {ENTITIES}(representations: $representations) {{ __typename }} }}"
)
"""No field a guard checks: only the resolver decides whether the rows are read."""


@pytest.mark.parametrize("query", [RESIDENT, TYPENAMES])
@pytest.mark.parametrize("tier", sorted(TIERS))
async def test_whose_residents_compile(backend: Backend, tier: str, query: str) -> None:
    """Only a principal whom the resolver lets through whatever the key reads residents on the
    compiled path (staff with a purpose); a citizen (their own key or another's), a staff
    member without a purpose and anyone else get today's answer, nulls, errors and reads
    (a bare reference reads nothing)."""
    variables = {"representations": [plain("Resident", "R1"), plain("Resident", "R0")]}
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS[tier], compiled=True)
    result = await SUBGRAPHS["registry"].execute(
        query, variable_values=copy.deepcopy(variables), context_value=context
    )
    assert result.data is not None
    compiled = isinstance(result.data[ENTITIES], orjson.Fragment)
    assert compiled == (tier == "staff_purpose")  # R0 is not the citizen's own record
    today = await answer(backend, "registry", query, variables, tier, compiled=False)
    assert today == await answer(backend, "registry", query, variables, tier, compiled=True)


RESIDENT_CASES = (
    "query Entities($representations: [_Any!]!) {"
    f" {ENTITIES}(representations: $representations) {{"
    " ... on Resident { id benefitCases(first: 3) { totalCount nodes { id status } } } } }"
)


async def test_a_resident_stub_s_benefit_cases_compile_for_staff(backend: Backend) -> None:
    """Given the router's fetch of residents' benefit cases from social services' subgraph,
    where a resident is a stub: its key and its list are guarded each on its own, so for a
    staff member with both scopes and a purpose one statement answers it, and the record names
    the key's `Resident.id`, the list, each case's fields, and every resident as a subject; a
    citizen's stays on today's path. Both paths agree either way."""
    variables = {"representations": [plain("Resident", r) for r in RESIDENTS]}
    staff = TIERS["staff_purpose"]
    entities, context, statements = await compiled_entities(
        backend, "social", RESIDENT_CASES, variables, staff
    )
    assert len(statements) == 1
    assert [e["id"] for e in entities] == RESIDENTS  # echoed, R9 too
    assert {"Resident.id", "Resident.benefitCases", "BenefitCase.id"} <= context.fields_read
    assert context.subjects == set(RESIDENTS)  # the keys: a stub is echoed, R9 too
    for tier in ("staff_purpose", "staff", "citizen", "anonymous"):
        today = await answer(backend, "social", RESIDENT_CASES, variables, tier, compiled=False)
        compiled = await answer(backend, "social", RESIDENT_CASES, variables, tier, compiled=True)
        assert compiled == today, tier
