"""The compiler of one gateway schema: a root field in, a ready statement out (or None)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from graphql import GraphQLObjectType, OperationType
from graphql.execution.collect_fields import FieldDetailsList
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from auth.principal import Principal
from schema.compiled.binder import Binder
from schema.compiled.fields import FieldMap
from schema.compiled.planner import NotCompiled, Planner, RootPlan
from schema.context import CityContext
from storage.compiled.dialect import dialect_named
from storage.compiled.emit import Unsupported, root_statement

log = structlog.get_logger("citygraph.compiled")


def principal_key(principal: Principal) -> tuple[Any, ...]:
    """What of a principal a plan may depend on: its access decisions, not its identity."""
    return (
        principal.tier,
        frozenset(principal.scopes),
        principal.purpose is not None,
        principal.resident_id is not None,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled root field of one request: its statement, ready to send."""

    engine: AsyncEngine
    statement: Select[Any]
    plan: RootPlan

    async def run(self, context: CityContext) -> orjson.Fragment | None:
        """The field's JSON as the database wrote it, noting what it read on `context`."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(self.statement)).first()
        context.datasets_read.add(self.plan.dataset)
        if row is None:
            return None  # a lookup that found nothing
        for flag, read in zip(row[1:], self.plan.reads, strict=True):
            if flag:
                context.datasets_read.add(read.dataset)
        return None if row[0] is None else orjson.Fragment(row[0])


class Compiler:
    """Plans (cached) and binds the root fields of one gateway schema."""

    def __init__(self, fields: FieldMap, *, capacity: int = 1_024) -> None:
        self.planner = Planner(fields, capacity=capacity)

    def prepare(
        self,
        executor: Any,
        root_type: GraphQLObjectType,
        details: FieldDetailsList,
        response_key: str,
    ) -> Prepared | None:
        """The compiled form of a root field for this request; None: today's path answers it."""
        context = executor.context_value
        if not isinstance(context, CityContext) or not context.compiled:
            return None
        operation = executor.operation
        if operation.operation is not OperationType.QUERY:
            return None
        coerced = executor.variable_values.coerced
        switches = tuple(sorted((k, v) for k, v in coerced.items() if isinstance(v, bool)))
        key = (id(operation), response_key, switches, principal_key(context.principal))
        plan = self.planner.plan(
            key,
            operation,
            lambda: self.planner.root(root_type, details, executor.collect_subfields),
        )
        if isinstance(plan, str):
            return None
        repository = context.loaders.repositories.get(plan.dataset)
        if repository is None:
            return None
        dialect = dialect_named(repository.engine.dialect.name)
        if dialect is None:
            return None
        binder = Binder(
            variables=executor.variable_values,
            principal=context.principal,
            strawberry=executor.schema._strawberry_schema,
        )
        try:
            bound = binder.root(plan.root)
            statement = root_statement(bound, dialect, plan.reads)
        except (NotCompiled, Unsupported):
            return None
        except Exception:
            return None
        return Prepared(repository.engine, statement, plan)
