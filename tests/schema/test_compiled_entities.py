"""`_entities` on the compiled path: both paths agree, one statement per field, over N keys.

A router asks a department's subgraph for its fields of the entities another subgraph gave
(`_entities(representations:)`): an owner's rows by their key, or this subgraph's lists beneath
another department's entity (a stub). Generated operations over every subgraph's entity types,
with representations that repeat a key, name a row that does not exist, or are not the plain
ones the compiler takes (several types, a key of another type than its column's, an extra
field), are answered by both paths, for every tier, on both engines: the same data, errors and
access facts. Integer keys (a budget line's) have tests of their own in
test_compiled_entities_keys.py, restricted entity types in test_compiled_entities_restricted.py;
both draw their operations from `entities_operations` here.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from graphql import GraphQLObjectType, GraphQLUnionType, get_named_type
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from auth.principal import ANONYMOUS, Principal
from auth.scopes import PUBLIC
from schema.compiled.entities import ENTITIES
from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import CATALOG, DISTRICTS, Backend
from tests.schema.test_compiled_differential import (
    EXAMPLES,
    IDS,
    PROFILE,
    RESTRICTED_TYPES,
    TIERS,
    Document,
    node_selection,
    versions_noted,
)
from tests.schema.test_compiled_subgraphs import DEPARTMENTS, SUBGRAPHS, noted

SPECS = {spec.type_name: spec for spec in CATALOG.datasets}


def entity_types(department: str) -> dict[str, GraphQLObjectType]:
    """The members of a subgraph's `_Entity` union, by name."""
    query = SUBGRAPHS[department]._schema.query_type
    assert query is not None
    union = get_named_type(query.fields[ENTITIES].type)
    assert isinstance(union, GraphQLUnionType)
    return {t.name: t for t in union.types}


ENTITY_TYPES = {department: entity_types(department) for department in DEPARTMENTS}
BUDGET_LINES: list[dict[str, Any]] = [
    {
        "id": n,
        "year": 2020 + n % 5,
        "district_code": DISTRICTS[n % 3]["code"],
        "function": ("Education", "Roads")[n % 2],
        "nature": "operating",
        "amount_eur": 1000 * (n % 100),
    }
    for n in (0, 1, 2, 12, 2_147_483_647)
]
"""The budget's lines (integer keys; the largest an INTEGER holds), for this file alone."""
FOUND: dict[str, list[Any]] = {
    **IDS,
    "budgetLines": [0, 1, 12, 2_147_483_647],
    "households": ["H1", "H3"],
    "benefitCases": ["C0", "C1", "C6"],
    "taxAssessments": ["T0", "T1"],
}
MISSING: dict[type, list[Any]] = {str: ["75199", "S999", "", "Z", "é"], int: [999, -1, 3]}
"""Keys of no row (the empty string included), by the key's type."""
NUMBER = 75101
"""A key that is no text: today's path answers it its own way. Only on SQLite, where it reads
no row; PostgreSQL refuses to compare it with text, and logs each failed load, slowly. Null
and missing keys, whose every entity's non-null key is an error logged as slowly, are cases of
their own below (`FALLS_BACK`)."""
NOT_INTEGERS: dict[str, list[Any]] = {
    # no error on either engine: 1.0 is row 1, 1.5 none
    "postgres": [1.0, 1.5],
    # beside those, what PostgreSQL refuses with an error (logged, slowly): text, and a Boolean
    # (row 1 on SQLite)
    "sqlite": [1.0, 1.5, "1", "12", True, False],
}
"""Keys of a budget line that are no integer, which today's path answers its own way
(schema.compiled.entities), by engine: the compiled path leaves them to it."""
PAST_INTEGER = [2**31, -(2**31) - 1]
"""Keys past what an INTEGER holds: no row on SQLite, compiled; PostgreSQL refuses them (with
an error logged, slowly: test_a_key_past_the_engine_s_integers_falls_back)."""


@pytest.fixture(autouse=True)
async def budget(backend: Backend) -> None:
    """The fixture city with budget lines: the one entity type with an integer key."""
    await backend.city.repository("budgetLines").upsert(BUDGET_LINES)


def keys_of(type_name: str, engine: str) -> list[Any]:
    """Keys of the fixture's rows of an entity type, and of none."""
    spec = SPECS[type_name]
    kind = spec.primary_key[0].python_type
    found = FOUND.get(spec.name, [1, 2] if kind is int else ["A"])
    past = PAST_INTEGER if kind is int and engine == "sqlite" else []
    return [*found, *found, *MISSING[kind], *past]


def plain(type_name: str, key: Any) -> dict[str, Any]:
    return {"__typename": type_name, SPECS[type_name].primary_key[0].field_name: key}


@st.composite
def representations(
    draw: st.DrawFn,
    types: list[str],
    type_name: str,
    engine: str,
    odds: int = 32,
    mine: str | None = None,
) -> list[dict[str, Any]]:
    """Plain representations of one type (keys repeated, keys of no row); in four cases of
    `odds`, none, or one that is not what the compiler takes, and today's path answers.
    `mine`: a citizen's resident id, for a resident's key half the time (their own record)."""
    pool = keys_of(type_name, engine)
    if mine is not None and type_name == "Resident" and draw(st.booleans()):
        pool = [mine]
    keys = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
    given = [plain(type_name, key) for key in keys]
    # sampled, not st.integers: hypothesis draws an integer's small values rarely but 0
    odd = draw(st.sampled_from(range(odds)))
    integer = SPECS[type_name].primary_key[0].python_type is int
    if odd == 0:
        given = []  # today's path reads nothing
    elif odd == 1 and integer:
        given.append(plain(type_name, draw(st.sampled_from(NOT_INTEGERS[engine]))))
    elif odd == 1 and engine == "sqlite":
        given.append(plain(type_name, NUMBER))
    elif odd == 2:
        given.append({**plain(type_name, keys[0]), "name": "x"})  # a field beside the key
    elif odd == 3:
        other = draw(st.sampled_from(types))  # a second type (or the same one)
        given.append(plain(other, draw(st.sampled_from(keys_of(other, engine)))))
    return given


@st.composite
def entities_operations(
    draw: st.DrawFn,
    engine: str,
    only: list[tuple[str, str]] | None = None,
    odds: int = 32,
    mine: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """A department, an `_entities` field over one of its entity types (`only` those: each a
    department and one of its entity types), and its variables; representations that are not
    what the compiler takes in four cases of `odds`."""
    department, chosen = draw(st.sampled_from(only)) if only else (None, None)
    department = department or draw(st.sampled_from(DEPARTMENTS))
    types = ENTITY_TYPES[department]
    # mostly the types that compile: public ones
    compiled = sorted(t for t in types if SPECS[t].meta.access == PUBLIC)
    type_name = chosen or draw(st.sampled_from([*compiled * 7, *sorted(types)]))
    node: GraphQLObjectType = types[type_name]
    given = draw(representations(sorted(types), type_name, engine, odds, mine))
    # beneath a budget line, a resident, a benefit case, most relations and lists stay on
    # today's path (another department's entity asked for more than its key, a restricted
    # relation or list): for those types alone, two levels only a third of the time
    depth = draw(st.sampled_from([0, 1, 2])) if only else 2
    # mostly public fields: a restricted one beneath a public entity stays on today's path
    public_only = type_name not in RESTRICTED_TYPES and draw(st.integers(0, 3)) > 0
    doc = Document([], {"representations": given}, ["$representations: [_Any!]!"], public_only)
    inner = draw(node_selection(doc, node, depth))
    conditions = [f"... on {type_name} {{ {inner} }}"]
    if draw(st.integers(0, 3)) == 0:  # a condition on another type, which no representation names
        other = draw(st.sampled_from(sorted(types)))
        conditions.append(f"... on {other} {{ __typename }}")
    if draw(st.booleans()):
        conditions.insert(0, "__typename")
    field = f"{ENTITIES}(representations: $representations) {{ {' '.join(conditions)} }}"
    alias = draw(st.sampled_from(["", "found: "]))
    text = f"query Entities({', '.join(doc.definitions)}) {{ {alias}{field} }}\n" + "\n".join(
        doc.fragments
    )
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
    """What one path answers and notes (tests/schema/test_compiled_subgraphs.py), the versions
    it read included. Each run gets a copy of the variables: strawberry's entities resolver
    takes `__typename` out of the representations it is given."""
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS[tier], compiled=compiled)
    result = await SUBGRAPHS[department].execute(
        query, variable_values=copy.deepcopy(variables), context_value=context
    )
    if compiled and currently_in_test_context():  # --hypothesis-show-statistics counts them
        (value,) = (result.data or {"": None}).values()
        named = sorted({r.get("__typename") for r in variables.get("representations", [])})
        path = "compiled" if isinstance(value, orjson.Fragment) else "today"
        event(f"_entities: {path}")
        event(f"_entities for {tier}: {path}")
        event(f"_entities of {'/'.join(map(str, named)) or 'none'}: {path}")
    return {**noted(result, context), "versions": versions_noted(context)}


async def compiled_entities(
    backend: Backend,
    department: str,
    query: str,
    variables: dict[str, Any],
    principal: Principal,
) -> tuple[list[Any], CityContext, list[str]]:
    """A subgraph's `_entities` on the compiled path, which must answer without an error: the
    entities, what they noted, and the statements sent."""
    context = CityContext(loaders=backend.city.loaders(), principal=principal, compiled=True)
    with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
        result = await SUBGRAPHS[department].execute(
            query, variable_values=copy.deepcopy(variables), context_value=context
        )
    assert result.errors is None
    assert result.data is not None
    assert isinstance(result.data[ENTITIES], orjson.Fragment)  # the compiled path's answer
    return orjson.loads(orjson.dumps(result.data))[ENTITIES], context, counted.statements


@settings(PROFILE, max_examples=max(EXAMPLES // 2, 1))
@given(data=st.data(), tier=st.sampled_from(sorted(TIERS)))
async def test_every_subgraph_s_entities_agree(
    backend: Backend, data: st.DataObject, tier: str
) -> None:
    case = data.draw(entities_operations(backend.name))
    department, query, variables = case
    today = await answer(backend, department, query, variables, tier, compiled=False)
    compiled = await answer(backend, department, query, variables, tier, compiled=True)
    assert compiled == today, (query, variables)


FIELDS = {
    # another department's district (a stub): this subgraph's stations beneath each
    "mobility": "... on District { code bikeStations(first: 5) { nodes { name } } }",
    # territory's own districts: their rows, and their quartiers beneath
    "territory": "... on District { code name quartiers { totalCount nodes { code } } }",
}
CODES = ["75102", "75199", "75101", "75102", "75103", "75101"]
"""Six keys in the router's order: repeated ones, and one of no district."""


def entities_of(department: str) -> str:
    return (
        "query Entities($representations: [_Any!]!) {"
        f" {ENTITIES}(representations: $representations) {{ {FIELDS[department]} }} }}"
    )


@pytest.mark.parametrize(
    ("department", "read"),
    [("mobility", {"bikeStations"}), ("territory", {"districts", "quartiers"})],
)
async def test_entities_over_many_keys_cost_one_statement(
    backend: Backend, department: str, read: set[str]
) -> None:
    """Given six representations of districts, when a subgraph answers `_entities` on the
    compiled path, then one statement answers them in their order, each repeated key per
    position, a key of no row a null (an owner's) or its bare key (a stub's), as today."""
    query, variables = (
        entities_of(department),
        {"representations": [plain("District", c) for c in CODES]},
    )
    entities, context, statements = await compiled_entities(
        backend, department, query, variables, ANONYMOUS
    )
    assert len(statements) == 1
    if department == "territory":
        assert [e and e["code"] for e in entities] == [None if c == "75199" else c for c in CODES]
        assert entities[0]["quartiers"]["totalCount"] == 4
    else:
        assert [e["code"] for e in entities] == CODES
        assert entities[1]["bikeStations"] == {"nodes": []}
        assert len(entities[0]["bikeStations"]["nodes"]) == 5
    assert context.datasets_read == read
    today = await answer(backend, department, query, variables, "anonymous", compiled=False)
    assert today == await answer(backend, department, query, variables, "anonymous", compiled=True)


FALLS_BACK = [
    # several types among the representations
    ("territory", [plain("District", "75101"), plain("Quartier", "7510101")]),
    # a key that is no text, a missing key, a field beside the key
    ("territory", [plain("District", "75101"), plain("District", None)]),
    ("territory", [{"__typename": "District"}]),
    ("territory", [{**plain("District", "75101"), "name": "x"}]),
    # no representations: today's path reads nothing
    ("territory", []),
    # a restricted entity type: today's path decides who may read it
    ("registry", [plain("Resident", "R1")]),
    # a budget line's key that is no integer: text, a float, a Boolean beside an integer (which
    # the loader asks once: `True == 1`), an integer past what either engine holds
    ("finance", [plain("BudgetLine", "1")]),
    ("finance", [plain("BudgetLine", 12), plain("BudgetLine", 1.0)]),
    ("finance", [plain("BudgetLine", 1), plain("BudgetLine", True)]),
    ("finance", [plain("BudgetLine", 2**63)]),
]


@pytest.mark.parametrize(("department", "given"), FALLS_BACK)
async def test_what_the_compiler_leaves_to_today_s_path(
    backend: Backend, department: str, given: list[dict[str, Any]]
) -> None:
    """Representations the compiler does not take: today's path answers the field, the same
    way as without the compiled path."""
    named = {r["__typename"] for r in given} | {"District"}
    conditions = " ".join(
        f"... on {t} {{ {SPECS[t].primary_key[0].field_name} }}" for t in sorted(named)
    )
    query = (
        "query Entities($representations: [_Any!]!) {"
        f" {ENTITIES}(representations: $representations) {{ __typename {conditions} }} }}"
    )
    variables = {"representations": given}
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
    result = await SUBGRAPHS[department].execute(
        query, variable_values=copy.deepcopy(variables), context_value=context
    )
    assert result.data is not None
    assert not isinstance(result.data[ENTITIES], orjson.Fragment)
    assert context.compiled_roots is None  # not an operation the lane may learn
    today = await answer(backend, department, query, variables, "staff", compiled=False)
    assert today == await answer(backend, department, query, variables, "staff", compiled=True)
