"""The compiler of one gateway schema: a root field in, a ready statement out (or None)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from graphql import GraphQLObjectType, OperationType
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import VariableValues
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from auth.principal import Principal
from schema.aggregates import MAX_GROUPS
from schema.as_of import observe
from schema.compiled.binder import Binder
from schema.compiled.entities import ENTITIES, entity_keys, entity_type
from schema.compiled.fields import FieldMap
from schema.compiled.planner import Planner
from schema.compiled.plans import (
    AggregatePlan,
    Audited,
    EntitiesPlan,
    HandBack,
    LookupPlan,
    NotCompiled,
    RootPlan,
)
from schema.compiled.versions import Reading, reading
from schema.context import CityContext
from storage.compiled.dialect import KEYS, Unsupported, dialect_named
from storage.compiled.emit import root_statement
from storage.compiled.shapes import Entities, ReadWhen, Root, value_kinds
from storage.direct_reads import Sent, fetch_row, sent

log = structlog.get_logger("citygraph.compiled")


def principal_key(principal: Principal) -> tuple[Any, ...]:
    """What of a principal a plan may depend on: its access decisions, not its identity."""
    return (
        principal.tier,
        frozenset(principal.scopes),
        None if principal.purpose is None else frozenset(principal.purpose.covers),
        principal.resident_id is not None,
    )


def switches_of(coerced: Mapping[str, Any]) -> tuple[tuple[str, bool], ...]:
    """The Boolean variables of a request, which decide `@skip`/`@include`: plans are per value."""
    return tuple(sorted((k, v) for k, v in coerced.items() if isinstance(v, bool)))


StatementKey = tuple[str, Root, tuple[ReadWhen, ...], Audited, tuple[str, ...]]
"""What a statement is built from: the dialect, the bound tree, the reads it flags (each with
its path beneath the root rows), what it returns for the access record, the versions it reads."""


class TooManyGroups(HandBack):
    """An aggregate over the group limit: today's path answers, with its error."""


class NotOwnRow(HandBack):
    """A citizen's lookup found someone else's row: today's path refuses it, with its error."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled root field of one request: its statement, ready to send."""

    engine: AsyncEngine
    statement: Select[Any]
    sent: Sent | None
    """The statement compiled for asyncpg (PostgreSQL: storage.direct_reads), else None."""
    spaced: bool
    """Whether its JSON may not be in orjson's form (storage.compiled.dialect: stored GeoJSON)."""
    plan: RootPlan
    noted: CityContext
    """What binding the arguments noted (schema.compiled.binder), applied once answered."""
    versions: tuple[str, ...]
    """Datasets with a history that the statement may read live: the last columns are their
    latest version numbers, read in the same snapshot as the rows (schema.as_of.observe)."""
    reading: Reading
    """The version each dataset is read at, and what a read of it notes (schema.as_of)."""
    given: Mapping[str, Any]
    """Values of the statement's parameters that no plan holds: `_entities`' keys."""

    async def run(self, context: CityContext) -> orjson.Fragment | None:
        """The field's JSON as the database wrote it, noting what it read on `context` as
        today's resolvers and guards would (datasets, restricted fields, subjects)."""
        row: Sequence[Any] | None
        if self.spaced:  # stored GeoJSON, embedded as it is
            context.spaced_json = True
        if self.sent is None:  # SQLite's JSON (or PostgreSQL's asOf: not worth telling apart)
            context.dotted_json = True
        if self.sent is not None and not self.reading.resolving:
            parameters = {**self.reading.parameters(context), **self.given}
            row = await fetch_row(self.engine, self.sent, parameters)
        else:  # SQLite; or an asOf, resolved on the versions table first
            async with self.engine.connect() as conn:
                parameters = {**await self.reading.settle(conn, context), **self.given}
                row = (await conn.execute(self.statement, parameters)).first()
        seen: dict[str, int | None] = {}
        if row is not None and self.versions:
            seen = dict(zip(self.versions, row[-len(self.versions) :], strict=True))
            row = row[: -len(self.versions)]
        audited = self.plan.audited
        if audited.owner_checked:
            # the row's owner follows the answer, the read flags and whether a row was read
            owner_at = 1 + len(self.plan.reads) + bool(audited.row_fields)
            if not _nothing_or_own(row, owner_at, context.principal.resident_id):
                raise NotOwnRow  # noted nothing: today's path refuses it, and notes why
        if self.plan.reads_root:
            self._read(context, self.plan.dataset, seen)
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
                self._read(context, read.dataset, seen)
        rows_read = extra.pop(0) if audited.row_fields else None
        subjects = extra.pop(0) if audited.owner is not None else None
        if rows_read:
            _restricted(context, audited.row_fields)
            if audited.owner is not None:
                if isinstance(self.plan.root, LookupPlan):
                    subjects = orjson.dumps([subjects])
                context.subjects.update(
                    s for s in orjson.loads(subjects or b"[]") if isinstance(s, str)
                )
        for level in audited.levels:
            reached = extra.pop(0)
            owners = extra.pop(0) if level.owner is not None else None
            if not reached:
                continue
            _restricted(context, level.fields)
            if level.own and context.principal.resident_id is not None:
                context.subjects.add(context.principal.resident_id)
            if owners is not None:
                context.subjects.update(_strings(orjson.loads(owners)))
        return None if row[0] is None else orjson.Fragment(row[0])

    def _read(self, context: CityContext, dataset: str, seen: dict[str, int | None]) -> None:
        """Note a read of `dataset` as today's resolvers do (schema.as_of.version_for); a read of
        live rows with the version the statement saw them at: the citation names it."""
        if dataset in seen:
            observe(context, dataset, seen[dataset])
        else:  # read at a version, without history, or a lookup that found nothing
            self.reading.note(context, dataset)


def _nothing_or_own(row: Sequence[Any] | None, owner_at: int, resident: str | None) -> bool:
    """Whether a citizen's lookup found no row, or their own (its owner is at `owner_at`)."""
    return row is None or row[0] is None or row[owner_at] == resident


def _strings(value: Any) -> Iterator[str]:
    """The strings of a JSON value's nested arrays: the owners of a level's rows (emit._owners)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


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
        self._statements: OrderedDict[StatementKey, tuple[Select[Any], Sent | None, bool]] = (
            OrderedDict()
        )
        """Statements by all they are built from (StatementKey): building one costs more than
        running it, and the same page (a first page, a popular filter) is asked again and again."""

    def _remember(
        self, key: StatementKey, statement: tuple[Select[Any], Sent | None, bool]
    ) -> None:
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
        switches = switches_of(executor.variable_values.coerced)
        node = details[0].node
        # `_entities` is planned per type, which its representations name
        entity = (
            entity_type(root_type.fields[ENTITIES], node, executor.variable_values)
            if node.name.value == ENTITIES
            else None
        )
        key = (id(operation), response_key, switches, principal_key(context.principal), entity)
        plan = self.planner.plan(
            key,
            operation,
            lambda: self.planner.root(
                root_type, details, executor.collect_subfields, context.principal, entity
            ),
        )
        if isinstance(plan, str) or context.audit_unavailable:
            return None  # without a log, today's path refuses every restricted read
        repository = context.loaders.repositories.get(plan.home)
        if repository is None:
            return None
        return self.bind(
            plan,
            repository.engine,
            context=context,
            response_key=response_key,
            variables=executor.variable_values,
            strawberry=executor.schema._strawberry_schema,
        )

    def bind(
        self,
        plan: RootPlan,
        engine: AsyncEngine,
        *,
        context: CityContext,
        response_key: str,
        variables: VariableValues,
        strawberry: Any,
    ) -> Prepared | None:
        """A plan bound to one request's variables: its statement, ready to send; None when an
        argument is one today's path must answer (its own error) or the dialect cannot write."""
        dialect = dialect_named(engine.dialect.name)
        if dialect is None:
            return None
        try:
            read = reading(context, plan, variables, response_key, self.versioned)
            binder = Binder(
                variables=variables,
                principal=context.principal,
                strawberry=strawberry,
                reading=read,
            )
            live = self.live_versions(plan, read)
            bound = binder.root(plan.root)
            given: dict[str, Any] = {}
            if isinstance(plan.root, EntitiesPlan) and isinstance(bound, Entities):
                keys = entity_keys(plan.root, variables, context.principal.resident_id)
                given[KEYS] = dialect.keys_value(keys, bound.key_type)
            key: StatementKey = (dialect.name, bound, plan.reads, plan.audited, live)
            built = self._statements.get(key)
            if built is None:
                statement = root_statement(
                    bound,
                    dialect,
                    plan.reads,
                    audit_rows=bool(plan.audited.row_fields),
                    owner=plan.audited.owner,
                    levels=plan.audited.levels,
                    versions=live,
                )
                direct = sent(statement, engine) if dialect.name == "postgresql" else None
                built = (statement, direct, dialect.spaced(tuple(value_kinds(bound))))
                self._remember(key, built)
        except (NotCompiled, Unsupported):
            return None
        except Exception:
            return None
        return Prepared(engine, *built, plan, binder.noted, live, read, given)

    def live_versions(self, plan: RootPlan, read: Reading) -> tuple[str, ...]:
        """The datasets with a history that a plan's statement may read live, each once: the
        statement reads their latest versions too."""
        root = [plan.dataset] if plan.reads_root else []
        names = dict.fromkeys([*root, *(r.dataset for r in plan.reads)])
        return tuple(name for name in names if name in self.versioned and not read.at(name))
