"""The auditors' and citizens' fields, in the smallest schema that has them (the gateway composes
them too, schema.gateway; federated, one subgraph serves them: schema.federation.AUDIT_DEPARTMENT)."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.store import ChainAppender
from auth.principal import Principal, Tier
from auth.scopes import Scope
from schema.audit_fields import audit_fields
from schema.context import CityContext
from tests.audit.conftest import KEY, record

Query = strawberry.type(type("Query", (), audit_fields()))
SCHEMA = strawberry.Schema(query=Query)
AUDITOR = Principal(tier=Tier.AUDITOR, subject="dpo-1", scopes=frozenset({Scope.AUDIT_READ}))
CITIZEN = Principal(
    tier=Tier.CITIZEN, subject="marie", scopes=frozenset({Scope.SELF}), resident_id="R3"
)
LOG_Q = """query Log($after: String) {
  accessLog(where: {subject: "R3"}, first: 1, after: $after) {
    nodes { tier subject legalBasis subjects } endCursor hasNextPage
  }
}"""
HISTORY_Q = "{ myAccessHistory { nodes { departments purpose datasets } } }"


async def run(engine: AsyncEngine, principal: Principal, query: str, **variables: Any) -> Any:
    context = CityContext(loaders=None, principal=principal, audit_engine=engine)  # type: ignore[arg-type]
    result = await SCHEMA.execute(query, context_value=context, variable_values=variables)
    return result, context


async def test_auditors_page_through_the_log_and_their_reads_are_noted(
    log_engine: AsyncEngine,
) -> None:
    await ChainAppender(log_engine, KEY).append(
        [record(3), record(4), record(3, subject="marie", tier="citizen", record_id="own")]
    )
    result, context = await run(log_engine, AUDITOR, LOG_Q)
    page = result.data["accessLog"]
    assert page["nodes"] == [
        {"tier": "citizen", "subject": "marie", "legalBasis": "CGCT-L2122-32", "subjects": ["R3"]}
    ]
    assert page["hasNextPage"] is True
    assert context.restricted  # the view commits this read's record before answering
    assert context.fields_read == {"Query.accessLog"}
    result, _ = await run(log_engine, AUDITOR, LOG_Q, after=page["endCursor"])
    assert [n["subject"] for n in result.data["accessLog"]["nodes"]] == ["agent-7"]
    counts, _ = await run(log_engine, AUDITOR, "{ accessLogCounts(by: PURPOSE) { key count } }")
    assert {"key": "CGCT-L2122-32", "count": 2} in counts.data["accessLogCounts"]


async def test_citizens_see_others_reads_of_their_records_only(log_engine: AsyncEngine) -> None:
    await ChainAppender(log_engine, KEY).append(
        [record(3), record(6), record(3, subject="marie", tier="citizen", record_id="own")]
    )
    result, context = await run(log_engine, CITIZEN, HISTORY_Q)
    assert result.data["myAccessHistory"]["nodes"] == [
        {"departments": ["registry"], "purpose": "CGCT-L2122-32", "datasets": ["residents"]}
    ]  # the staff read of R3; not R6's, not marie's own, and nobody's name
    assert context.subjects == {"R3"}


async def test_others_are_refused(log_engine: AsyncEngine) -> None:
    result, _ = await run(log_engine, CITIZEN, LOG_Q)
    assert result.data["accessLog"] is None
    assert result.errors[0].extensions["code"] == "FORBIDDEN"
    result, _ = await run(log_engine, AUDITOR, HISTORY_Q)
    assert result.errors[0].extensions["code"] == "FORBIDDEN"
