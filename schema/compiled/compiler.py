"""The compiler of one gateway schema: a root field in, a ready statement out (or None)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from graphql import GraphQLObjectType, OperationType
from graphql.execution.collect_fields import FieldDetailsList
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from auth.principal import Principal
from schema.aggregates import MAX_GROUPS
from schema.compiled.binder import Binder
from schema.compiled.fields import FieldMap
from schema.compiled.planner import Planner
from schema.compiled.plans import AggregatePlan, HandBack, LookupPlan, NotCompiled, RootPlan
from schema.compiled.versions import Reading, reading
from schema.context import CityContext
from storage.compiled.dialect import dialect_named
from storage.compiled.emit import Unsupported, root_statement
from storage.compiled.shapes import Root

log = structlog.get_logger("citygraph.compiled")


def principal_key(principal: Principal) -> tuple[Any, ...]:
    """What of a principal a plan may depend on: its access decisions, not its identity."""
    return (
        principal.tier,
        frozenset(principal.scopes),
        None if principal.purpose is None else frozenset(principal.purpose.covers),
        principal.resident_id is not None,
    )


class TooManyGroups(HandBack):
    """An aggregate over the group limit: today's path answers, with its error."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled root field of one request: its statement, ready to send."""

    engine: AsyncEngine
    statement: Select[Any]
    plan: RootPlan
    noted: CityContext
    """What binding the arguments noted (schema.compiled.binder), applied once answered."""
    versioned: frozenset[str]
    """Datasets that keep a history (schema.as_of notes which version a read saw)."""
    reading: Reading
    """The version each dataset is read at, and what a read of it notes (schema.as_of)."""

    async def run(self, context: CityContext) -> orjson.Fragment | None:
        """The field's JSON as the database wrote it, noting what it read on `context` as
        today's resolvers and guards would (datasets, restricted fields, subjects)."""
        async with self.engine.connect() as conn:
            parameters = await self.reading.settle(conn, context)
            row = (await conn.execute(self.statement, parameters)).first()
        audited = self.plan.audited
        self._read(context, self.plan.dataset)
        if audited.root_field is not None:
            _restricted(context, [audited.root_field])
            if audited.own_rows and context.principal.resident_id is not None:
                context.subjects.add(context.principal.resident_id)
        if self.noted.restricted:
            _restricted(context, self.noted.fields_read)
            context.subjects |= self.noted.subjects
        if row is None:
            return None  # a lookup that found nothing
        if isinstance(self.plan.root, AggregatePlan):
            if row[1] > MAX_GROUPS:
                raise TooManyGroups  # today's path refuses it with its own error
            return orjson.Fragment(row[0])
        extra = list(row[1:])
        for read in self.plan.reads:
            if extra.pop(0):
                self._read(context, read.dataset)
        if audited.row_fields and extra.pop(0):
            _restricted(context, audited.row_fields)
            if audited.owner is not None:
                subjects = extra.pop(0)
                if isinstance(self.plan.root, LookupPlan):
                    subjects = orjson.dumps([subjects])
                context.subjects.update(
                    s for s in orjson.loads(subjects or b"[]") if isinstance(s, str)
                )
        return None if row[0] is None else orjson.Fragment(row[0])

    def _read(self, context: CityContext, dataset: str) -> None:
        """Note a read of `dataset`, as today's resolvers do (schema.as_of.version_for): the
        citation of the answer names the version it was."""
        self.reading.note(context, dataset)


def _restricted(context: CityContext, fields: Any) -> None:
    """A restricted read let through, as schema.access notes it."""
    context.restricted = context.restricted_read = True
    context.fields_read.update(fields)


class Compiler:
    """Plans (cached) and binds the root fields of one gateway schema."""

    def __init__(self, fields: FieldMap, *, capacity: int = 1_024) -> None:
        self.planner = Planner(fields, capacity=capacity)
        self.versioned = frozenset(t.spec.name for t in fields.nodes.values() if t.spec.versioned)
        """Datasets that keep a history: a read of their live rows is noted for citations."""
        self.capacity = capacity
        self._readers: dict[AsyncEngine, AsyncEngine] = {}
        self._statements: OrderedDict[tuple[str, Root], Select[Any]] = OrderedDict()
        """Statements by their bound tree: building one costs more than running it, and the
        same page (a first page, a popular filter) is asked again and again."""

    def _remember(self, key: tuple[str, Root], statement: Select[Any]) -> None:
        self._statements[key] = statement
        if len(self._statements) > self.capacity:
            self._statements.popitem(last=False)

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
            lambda: self.planner.root(
                root_type, details, executor.collect_subfields, context.principal
            ),
        )
        if isinstance(plan, str) or context.audit_unavailable:
            return None  # without a log, today's path refuses every restricted read
        repository = context.loaders.repositories.get(plan.dataset)
        if repository is None:
            return None
        dialect = dialect_named(repository.engine.dialect.name)
        if dialect is None:
            return None
        try:
            read = reading(context, plan, executor.variable_values, response_key, self.versioned)
            binder = Binder(
                variables=executor.variable_values,
                principal=context.principal,
                strawberry=executor.schema._strawberry_schema,
                reading=read,
            )
            bound = binder.root(plan.root)
            statement = self._statements.get((dialect.name, bound))
            if statement is None:
                statement = root_statement(
                    bound,
                    dialect,
                    plan.reads,
                    audit_rows=bool(plan.audited.row_fields),
                    owner=plan.audited.owner,
                )
                self._remember((dialect.name, bound), statement)
        except (NotCompiled, Unsupported):
            return None
        except Exception:
            return None
        return Prepared(
            self._reader(repository.engine), statement, plan, binder.noted, self.versioned, read
        )

    def _reader(self, engine: AsyncEngine) -> AsyncEngine:
        """The engine with autocommit: one read needs no BEGIN and no ROLLBACK, two round trips
        of the four a pooled read otherwise costs on PostgreSQL (same pool, same connections)."""
        if engine.dialect.name != "postgresql":
            return engine  # SQLite's transactions are storage.engines' own (no round trips)
        found = self._readers.get(engine)
        if found is None:
            found = self._readers[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
        return found
