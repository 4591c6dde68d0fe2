"""The compiled lane: an operation already answered whole by the compiled path, answered again
without GraphQL execution.

Strawberry's execution of a compiled operation still parses, validates, runs its extensions,
builds an executor, collects the root fields and converts every argument, each time: more than
the statement costs. An operation whose every root field the compiled path answered, without an
error, is learnt here (`learn`), by its document and operation name, then by what the plan of each
root field depends on: the principal's access decisions, the Boolean variables and, for
`_entities`, the type its representations name (a router sends one document for every type of
a subgraph's entities, so one document holds a plan per type). The next
request for it coerces its variables with graphql-core (`get_variable_values`, as execution
would), binds each root field's plan (`Compiler.bind`: the resolvers' own argument checks; bound
statements are kept by their variables), sends the statements and hands back the data: the view
audits, cites and encodes it as it does any answer (api.graphql_view).

Anything else is `None`, and the view runs the request the usual way, which gives its own
errors: a document not learnt, variables that do not coerce or hold a control character, an
argument binding refuses, a statement that fails, a read whose version the statement could not
see. Nothing is sent or recorded before that decision, so the usual way starts from nothing.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import GraphQLField, OperationType, get_operation_ast, parse
from graphql.execution.values import get_variable_values
from graphql.language import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.http import GraphQLRequestData

from schema.compiled.compiler import Compiler, Prepared, principal_key, switches_of
from schema.compiled.entities import ENTITIES, entity_type
from schema.compiled.plans import RootPlan
from schema.context import CityContext
from schema.validation import variables_error

CAPACITY = 512
"""Operations kept (by document and operation name), and bound statements kept."""


@dataclass(frozen=True, slots=True)
class LaneRoot:
    """One root field of a learnt operation: its response key, plan and database."""

    key: str
    plan: RootPlan
    engine: AsyncEngine


@dataclass(slots=True)
class LaneOperation:
    """A learnt operation: its variable definitions, its `_entities` fields, and its root
    fields by access, switches and the entity types named."""

    operation: OperationDefinitionNode
    entities: tuple[tuple[GraphQLField, FieldNode], ...] = ()
    roots: dict[tuple[Any, ...], tuple[LaneRoot, ...]] = field(default_factory=dict)


def entities_of(
    document: DocumentNode, operation: OperationDefinitionNode, schema: Any
) -> tuple[tuple[GraphQLField, FieldNode], ...]:
    """The operation's `_entities` root fields, in fragments too, with their definition."""
    query = schema.query_type
    definition = query.fields.get(ENTITIES) if query is not None else None
    if definition is None:
        return ()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found: list[tuple[GraphQLField, FieldNode]] = []

    def walk(selections: SelectionSetNode, seen: frozenset[str]) -> None:
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == ENTITIES:
                    found.append((definition, selection))
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    walk(fragments[name].selection_set, seen | {name})

    walk(operation.selection_set, frozenset())
    return tuple(found)


class CompiledLane:
    """Learns operations the compiled path answered whole, and answers them again directly."""

    def __init__(self, compiler: Compiler, strawberry: Any, *, capacity: int = CAPACITY) -> None:
        self.compiler = compiler
        self.strawberry = strawberry
        """The gateway's strawberry schema: its graphql-core schema coerces variables, its
        scalar registry converts input objects (schema.compiled.binder)."""
        self.capacity = capacity
        self._operations: OrderedDict[tuple[str, str | None], LaneOperation] = OrderedDict()
        self._bound: OrderedDict[tuple[Any, ...], Prepared] = OrderedDict()
        self.answered = 0
        """Responses the lane gave (the view counts them; metrics and tests read them)."""

    def learn(
        self, params: GraphQLRequestData, context: CityContext, data: Mapping[str, Any] | None
    ) -> None:
        """Remember an operation that the compiled path answered whole, without an error."""
        roots = context.compiled_roots
        if not roots or data is None or params.query is None or context.pins is not None:
            return
        by_key = {key: LaneRoot(key, plan, engine) for key, plan, engine in roots}
        if len(by_key) != len(roots) or by_key.keys() != data.keys():
            return  # two runs of one field (a re-run), or a field answered another way
        key = (params.query, params.operation_name)
        found = self._operations.get(key)
        if found is None:
            document = parse(params.query)
            operation = get_operation_ast(document, params.operation_name)
            if operation is None or operation.operation is not OperationType.QUERY:
                return
            entities = entities_of(document, operation, self.strawberry._schema)
            found = self._operations[key] = LaneOperation(operation, entities)
            if len(self._operations) > self.capacity:
                self._operations.popitem(last=False)
        variables = self._coerced(found, params.variables)
        if variables is None:
            return
        found.roots[self._access(found, context, variables)] = tuple(by_key[k] for k in data)

    @staticmethod
    def _access(operation: LaneOperation, context: CityContext, variables: Any) -> tuple[Any, ...]:
        """What the operation's plans depend on: the principal's access decisions, the Boolean
        variables and the type each `_entities` field's representations name."""
        types = tuple(entity_type(f, node, variables) for f, node in operation.entities)
        return (principal_key(context.principal), switches_of(variables.coerced), types)

    def _coerced(self, operation: LaneOperation, variables: object) -> Any:
        inputs = variables if variables is not None else {}
        if not isinstance(inputs, dict) or variables_error(inputs) is not None:
            return None  # the usual way refuses a control character (schema.validation)
        coerced = get_variable_values(
            self.strawberry._schema,
            operation.operation.variable_definitions or (),
            inputs,
            hide_suggestions=True,
        )
        return None if isinstance(coerced, list) else coerced

    async def answer(
        self, params: GraphQLRequestData, context: CityContext
    ) -> dict[str, Any] | None:
        """The data of a learnt operation, noted on `context` as execution would; else None."""
        if params.query is None:
            return None
        operation = self._operations.get((params.query, params.operation_name))
        if operation is None:
            return None
        variables = self._coerced(operation, params.variables)
        if variables is None:
            return None
        access = self._access(operation, context, variables)
        roots = operation.roots.get(access)
        if roots is None:
            return None
        try:
            given = orjson.dumps(params.variables, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            given = None  # bound for this request alone
        # a citizen's own rows are a predicate on their resident id: part of the statement
        where = (params.query, params.operation_name, access, given, context.principal.resident_id)
        prepared = [self._bind(root, where, variables, context) for root in roots]
        if any(p is None for p in prepared):
            return None
        ready = [p for p in prepared if p is not None]
        try:
            if len(ready) == 1:
                answers = [await ready[0].run(context)]
            else:
                answers = await asyncio.gather(*(p.run(context) for p in ready))
        except Exception:
            return None  # the usual way answers, and says what went wrong
        return {root.key: answer for root, answer in zip(roots, answers, strict=True)}

    def _bind(
        self, root: LaneRoot, where: tuple[Any, ...], variables: Any, context: CityContext
    ) -> Prepared | None:
        """The root field's bound statement: kept by `where` (document, access, variables as
        sent, resident id) when its reads are the same for every request."""
        given = where[3]
        key = (*where, root.key)
        found = self._bound.get(key) if given is not None else None
        if found is not None:
            self._bound.move_to_end(key)
            return found
        prepared = self.compiler.bind(
            root.plan,
            root.engine,
            context=context,
            response_key=root.key,
            variables=variables,
            strawberry=self.strawberry,
        )
        # what reads live rows is the same for every request; a version read is resolved anew
        if prepared is not None and given is not None and prepared.reading.fixed:
            self._bound[key] = prepared
            if len(self._bound) > self.capacity:
                self._bound.popitem(last=False)
        return prepared
