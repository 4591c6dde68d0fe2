"""The compiled path in every department's subgraph: both paths agree, as in the gateway.

A subgraph compiles its own datasets as the gateway does (tests/schema/test_compiled_differential.py
generates the same operations, here over each subgraph's own types). What differs is the edge of
the department: a relation to another department's entity (a bike station's `district` in the
mobility subgraph) is that entity's key, read from the row itself, which the router sends to the
owner's subgraph (`_entities`: tests/schema/test_compiled_entities.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from strawberry.types import ExecutionResult

from schema.context import CityContext
from schema.federation import build_subgraph_schema
from schema.gateway import QueryLimits
from storage.engines import StatementCounter
from tests.schema.conftest import CATALOG, Backend
from tests.schema.test_compiled_differential import (
    IDS,
    LOOKUPS,
    PROFILE,
    TIERS,
    Document,
    _named,
    aggregate_selection,
    connection_selection,
    list_arguments,
    node_selection,
)

LIMITS = QueryLimits(page_default=10, page_max=100)
DEPARTMENTS = sorted({spec.department for spec in CATALOG.datasets})
SUBGRAPHS = {d: build_subgraph_schema(CATALOG, d, LIMITS) for d in DEPARTMENTS}
OWN = {d: sorted(s.name for s in CATALOG.datasets if s.department == d) for d in DEPARTMENTS}


@st.composite
def subgraph_operations(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A department, and an operation over one or two of its own root fields."""
    department = draw(st.sampled_from(DEPARTMENTS))
    query = SUBGRAPHS[department]._schema.query_type
    assert query is not None
    doc = Document([], {}, [])
    lookups = sorted(n for n, spec in LOOKUPS.items() if spec.department == department)
    roots: list[str] = []
    for index in range(draw(st.integers(1, 2))):
        shape = draw(st.integers(0, 4))
        name = draw(st.sampled_from(OWN[department]))
        if shape == 0:
            field = query.fields[f"{name}Aggregate"]
            selection = draw(aggregate_selection(doc, field, f"{name}Aggregate"))
            roots.append(f"r{index}: {selection}")
        elif shape == 1 and lookups:
            lookup = draw(st.sampled_from(lookups))
            field = query.fields[lookup]
            (arg,) = (a for a in field.args if a != "asOf")
            kind = str(field.args[arg].type)
            ids = IDS.get(LOOKUPS[lookup].name, [1, 2] if kind.startswith("Int") else ["A"])
            value = doc.var(kind, draw(st.sampled_from(ids)))
            inner = draw(node_selection(doc, _named(field.type), 1))
            roots.append(f"r{index}: {lookup}({arg}: {value}) {{ {inner} }}")
        else:
            field = query.fields[name]
            args = draw(list_arguments(doc, field, name, nested=False))
            inner = draw(connection_selection(doc, _named(field.type), 1))
            roots.append(f"r{index}: {name}{args} {{ {inner} }}")
    variables = f"({', '.join(doc.definitions)})" if doc.definitions else ""
    text = f"query Generated{variables} {{ {' '.join(roots)} }}\n" + "\n".join(doc.fragments)
    return department, text, doc.variables


async def answer(
    backend: Backend,
    department: str,
    query: str,
    variables: dict[str, Any],
    tier: str,
    *,
    compiled: bool,
) -> dict[str, Any]:
    """What a subgraph answers and notes for the access record, on one path."""
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS[tier], compiled=compiled)
    result = await SUBGRAPHS[department].execute(
        query, variable_values=variables, context_value=context
    )
    if compiled and currently_in_test_context():  # --hypothesis-show-statistics counts them
        values = list((result.data or {}).values())
        spliced = sum(isinstance(v, orjson.Fragment) for v in values)
        event(f"root fields compiled: {spliced} of {len(values)}")
    return noted(result, context)


async def all_compiled(
    backend: Backend, department: str, query: str, tier: str
) -> tuple[dict[str, Any], CityContext, list[str]]:
    """A subgraph's answer when every root field took the compiled path, without an error: its
    data, what it noted, and the statements sent."""
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS[tier], compiled=True)
    with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
        result = await SUBGRAPHS[department].execute(query, context_value=context)
    assert result.errors is None
    assert result.data is not None
    assert all(isinstance(v, orjson.Fragment) for v in result.data.values())
    return orjson.loads(orjson.dumps(result.data)), context, counted.statements


def noted(result: ExecutionResult, context: CityContext) -> dict[str, Any]:
    """A subgraph's answer and what it noted for the access record, as the paths must agree."""
    return {
        "data": orjson.loads(orjson.dumps(result.data)),
        "errors": sorted(
            (e.message, str(e.path), (e.extensions or {}).get("code")) for e in result.errors or ()
        ),
        "datasets": sorted(context.datasets_read),
        "denials": sorted(context.denials),
        "restricted": context.restricted,
        "fields": sorted(context.fields_read),
        "subjects": sorted(context.subjects),
    }


@PROFILE
@given(case=subgraph_operations(), tier=st.sampled_from(sorted(TIERS)))
async def test_every_subgraph_s_operations_agree(
    backend: Backend, case: tuple[str, str, dict[str, Any]], tier: str
) -> None:
    department, query, variables = case
    today = await answer(backend, department, query, variables, tier, compiled=False)
    compiled = await answer(backend, department, query, variables, tier, compiled=True)
    assert compiled == today, query


REFERENCES = """
{ bikeStations(first: 40) { nodes { id district { __typename code } } }
  bikeStation(id: "S001") { district { code } } }
"""


async def test_a_reference_to_another_department_compiles_in_the_subgraph(
    backend: Backend,
) -> None:
    """The mobility subgraph answers a page with each station's district key, and a lookup,
    in one statement each, as its resolvers do without reading the districts."""
    data, context, statements = await all_compiled(backend, "mobility", REFERENCES, "anonymous")
    assert len(statements) == 2
    districts = [n["district"] for n in data["bikeStations"]["nodes"]]
    assert None in districts  # a station with no district: a null, not an object of nulls
    assert {"__typename": "District", "code": "75101"} in districts
    assert context.datasets_read == {"bikeStations"}
    today = await answer(backend, "mobility", REFERENCES, {}, "anonymous", compiled=False)
    assert today == await answer(backend, "mobility", REFERENCES, {}, "anonymous", compiled=True)


RESTRICTED_REFERENCES = """
{ residents(first: 3) { nodes { id district { code } } }
  resident(id: "R3") { district { __typename code } } }
"""


async def test_a_restricted_reference_compiles_for_staff_with_a_purpose(
    backend: Backend,
) -> None:
    """The registry's subgraph answers a staff member's page of residents with each one's
    district key, and a lookup, in one statement each: the district's column is restricted,
    and the record names it, with the residents read as subjects, as its guard does."""
    _data, context, statements = await all_compiled(
        backend, "registry", RESTRICTED_REFERENCES, "staff_purpose"
    )
    assert len(statements) == 2
    assert {"Resident.district", "Query.resident", "Query.residents"} <= context.fields_read
    assert context.subjects == {"R0", "R1", "R2", "R3"}
    staff = "staff_purpose"
    today = await answer(backend, "registry", RESTRICTED_REFERENCES, {}, staff, compiled=False)
    compiled = await answer(backend, "registry", RESTRICTED_REFERENCES, {}, staff, compiled=True)
    assert compiled == today


RESTRICTED_KEYS = """{
  benefitCases(first: 6) { nodes { id resident { __typename id } } }
  benefitCase(id: "C0") { status resident { id } }
}"""


async def test_a_restricted_key_beneath_a_reference_compiles_for_staff(
    backend: Backend,
) -> None:
    """Social services' subgraph answers a staff member's benefit cases with each one's
    resident key (a stub's restricted key: the router's way to the registry's fields) in one
    statement a root field. Today's guard on the key runs beneath each reference that is not
    null and notes `Resident.id` with the key as the subject: so does the record here."""
    staff = "staff_purpose"
    data, context, statements = await all_compiled(backend, "social", RESTRICTED_KEYS, staff)
    assert len(statements) == 2
    keys = {n["resident"]["id"] for n in data["benefitCases"]["nodes"] if n["resident"]}
    assert keys, "the fixture's benefit cases belong to residents"
    assert {"Resident.id", "BenefitCase.resident"} <= context.fields_read
    assert keys <= context.subjects
    today = await answer(backend, "social", RESTRICTED_KEYS, {}, staff, compiled=False)
    compiled = await answer(backend, "social", RESTRICTED_KEYS, {}, staff, compiled=True)
    assert compiled == today
