"""Integer keys in `_entities` (a budget line's): compiled as the column's type, or left alone.

Today's resolver hands a key to the loader as sent (schema.compiled.entities says what each
engine then answers); the compiled path binds JSON integers that the engine's parameter holds,
as an array of the key column's type, and leaves every other key to today's path.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.principal import ANONYMOUS
from schema.compiled.entities import ENTITIES
from schema.context import CityContext
from storage.engines import StatementCounter
from tests.schema.conftest import Backend
from tests.schema.test_compiled_differential import EXAMPLES, PROFILE, TIERS
from tests.schema.test_compiled_entities import (
    NOT_INTEGERS,
    answer,
    budget,  # noqa: F401 - the autouse fixture: the fixture city's budget lines
    compiled_entities,
    entities_operations,
    plain,
)
from tests.schema.test_compiled_subgraphs import SUBGRAPHS


@settings(PROFILE, max_examples=max(EXAMPLES // 4, 1))
@given(data=st.data(), tier=st.sampled_from(sorted(TIERS)))
async def test_budget_lines_entities_agree(
    backend: Backend, data: st.DataObject, tier: str
) -> None:
    """The same for budget lines alone (the finance subgraph's): their integer keys, and now and
    then keys of other types, which each engine answers its own way (NOT_INTEGERS)."""
    finance = [("finance", "BudgetLine")]
    department, query, variables = data.draw(entities_operations(backend.name, finance, 12))
    today = await answer(backend, department, query, variables, tier, compiled=False)
    compiled = await answer(backend, department, query, variables, tier, compiled=True)
    assert compiled == today, (query, variables)


LINES = [12, 999, 1, 12, -1, 2_147_483_647]
"""Six budget lines' keys in the router's order: a repeated one, two of no line, the largest."""
BUDGET = (
    "query Entities($representations: [_Any!]!) {"
    f" {ENTITIES}(representations: $representations) {{"
    " ... on BudgetLine { id year amountEur district { code } } } }"
)


async def test_budget_lines_keys_cost_one_statement(backend: Backend) -> None:
    """Given six representations of budget lines (an INTEGER key), when the finance subgraph
    answers `_entities` on the compiled path, then one statement answers them in their order,
    a key of no line a null, with the keys bound as integers, as today's path answers."""
    variables = {"representations": [plain("BudgetLine", n) for n in LINES]}
    entities, context, statements = await compiled_entities(
        backend, "finance", BUDGET, variables, ANONYMOUS
    )
    (statement,) = statements
    if backend.name == "postgres":  # a typed array: the join compares INTEGER with INTEGER
        assert "$1::INTEGER[]" in statement, statement
    assert [e and e["id"] for e in entities] == [12, None, 1, 12, None, 2_147_483_647]
    assert entities[0] == {
        "id": 12,
        "year": 2022,
        "amountEur": 12_000,
        "district": {"code": "75101"},
    }
    assert context.datasets_read == {"budgetLines"}
    today = await answer(backend, "finance", BUDGET, variables, "anonymous", compiled=False)
    assert today == await answer(backend, "finance", BUDGET, variables, "anonymous", compiled=True)


async def test_budget_lines_keys_are_an_index_search(backend: Backend) -> None:
    """Each key finds its line through the primary key, not a scan of the table: the engine's
    own plan says so (not a timing). On PostgreSQL a scan is ruled out for the plan's sake
    (the fixture's five lines cost less to scan); a join that cast the column to the keys'
    text would leave it no index to use, and it would scan anyway."""
    variables = {"representations": [plain("BudgetLine", n) for n in LINES]}
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
    (engine,) = {id(e): e for e in backend.city.databases.engines()}.values()
    with StatementCounter(iter([engine])) as counted:
        await SUBGRAPHS["finance"].execute(
            BUDGET, variable_values=copy.deepcopy(variables), context_value=context
        )
    (statement,) = counted.statements
    async with engine.connect() as conn:
        if backend.name == "sqlite":
            rows = await conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", (orjson.dumps(LINES).decode(),)
            )
            plan = [str(row._mapping["detail"]) for row in rows]
            assert any(p.startswith("SEARCH budget_line USING INTEGER PRIMARY KEY") for p in plan)
            assert not any(p.startswith("SCAN budget_line") for p in plan), plan
            return
        await conn.exec_driver_sql("SET enable_seqscan = off")
        raw = (
            await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", (LINES,))
        ).scalar_one()
    plan_tree = orjson.loads(raw) if isinstance(raw, str) else raw
    lines = [n for n in plan_nodes(plan_tree[0]["Plan"]) if n.get("Relation Name") == "budget_line"]
    assert [(n["Node Type"], n.get("Index Name")) for n in lines] == [
        ("Index Scan", "budget_line_pkey")
    ], plan_tree


def plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    """A PostgreSQL plan's node and all beneath it."""
    return [node, *(n for child in node.get("Plans", []) for n in plan_nodes(child))]


async def test_a_key_past_the_engine_s_integers_falls_back(backend: Backend) -> None:
    """A budget line's key past INTEGER: SQLite (64-bit integers) finds no line on either path,
    compiled; PostgreSQL would refuse the parameter: today's path answers, with its error, and
    the compiled statement is not even sent."""
    variables = {"representations": [plain("BudgetLine", 1), plain("BudgetLine", 2**31)]}
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
    with StatementCounter(iter(list(backend.city.databases.engines()))) as counted:
        result = await SUBGRAPHS["finance"].execute(
            BUDGET, variable_values=copy.deepcopy(variables), context_value=context
        )
    assert result.data is not None
    compiled = isinstance(result.data[ENTITIES], orjson.Fragment)
    assert compiled == (backend.name == "sqlite")
    assert any("cg_keys" in s for s in counted.statements) == compiled
    today = await answer(backend, "finance", BUDGET, variables, "anonymous", compiled=False)
    assert today == await answer(backend, "finance", BUDGET, variables, "anonymous", compiled=True)
    assert bool(today["errors"]) == (backend.name == "postgres")


async def test_keys_that_are_no_integers_agree(backend: Backend) -> None:
    """Each key of a budget line that is no integer (NOT_INTEGERS), beside an integer one:
    today's path answers, as without the compiled path, on each engine."""
    for key in NOT_INTEGERS[backend.name]:
        variables = {"representations": [plain("BudgetLine", 12), plain("BudgetLine", key)]}
        context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
        result = await SUBGRAPHS["finance"].execute(
            BUDGET, variable_values=copy.deepcopy(variables), context_value=context
        )
        assert result.data is not None
        assert not isinstance(result.data[ENTITIES], orjson.Fragment), key
        today = await answer(backend, "finance", BUDGET, variables, "staff", compiled=False)
        assert today == await answer(backend, "finance", BUDGET, variables, "staff", compiled=True)
