"""Plans: which root fields compile, and the shape of the JSON each one builds.

A plan depends on the operation, the values of the Boolean variables (they decide `@skip` and
`@include`) and who asks; not on the other arguments, which the binder reads per request. Plans
are cached in a bounded LRU. A plan is data: print it to see what a root field will read.

The planner decides each kind of root field (a connection, a lookup, an aggregate, `_entities`)
and who may read it; the walk beneath it is schema.compiled.walk's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, get_named_type
from graphql.execution.collect_fields import FieldDetailsList

from auth.policy import OWN_ROWS, is_citizen
from auth.principal import Principal
from auth.scopes import PUBLIC
from schema.access import list_owner
from schema.aggregates import MEASURES
from schema.compiled.decisions import Access, allowed
from schema.compiled.entities import ENTITIES, KEY_TYPES
from schema.compiled.fields import AGGREGATE_ARGUMENTS, AS_OF, FieldMap, value_kind
from schema.compiled.plans import (
    AggregatePlan,
    Audited,
    ConnectionPlan,
    EntitiesPlan,
    GroupPartPlan,
    LookupPlan,
    NotCompiled,
    RootPlan,
)
from schema.compiled.selections import (
    CollectSubfields,
    fields_of,
    known_arguments,
    object_type_of,
    only_node,
)
from schema.compiled.walk import Walk
from schema.datasets import ColumnSpec
from schema.objects import DatasetTypes
from storage.compiled.shapes import Constant, ReadWhen


class Planner:
    """Makes root-field plans for one gateway schema and keeps the recent ones."""

    def __init__(self, fields: FieldMap, *, capacity: int = 1_024) -> None:
        self.fields = fields
        self.walk = Walk(fields)
        self.capacity = capacity
        self._plans: OrderedDict[tuple[Any, ...], tuple[object, RootPlan | str]] = OrderedDict()

    def plan(
        self,
        key: tuple[Any, ...],
        operation: object,
        make: Callable[[], RootPlan],
    ) -> RootPlan | str:
        """The cached plan under `key` (made by `make` on a miss); a string says why none.

        `operation` is the parsed operation the key was made for: keys hold its id, and an id
        can be reused once the parser's cache lets the document go.
        """
        found = self._plans.get(key)
        if found is not None and found[0] is operation:
            self._plans.move_to_end(key)
            return found[1]
        try:
            made: RootPlan | str = make()
        except NotCompiled as exc:
            made = str(exc)
        self._plans[key] = (operation, made)
        if len(self._plans) > self.capacity:
            self._plans.popitem(last=False)
        return made

    # the walk ------------------------------------------------------------------------------

    def root(
        self,
        root_type: GraphQLObjectType,
        details: FieldDetailsList,
        collect: CollectSubfields,
        principal: Principal,
        entity: str | None = None,
    ) -> RootPlan:
        """The plan of one root field for this principal, or NotCompiled; `entity`: the type
        that `_entities`' representations name (schema.compiled.entities)."""
        node = only_node(details)
        name = node.name.value
        if name == ENTITIES:
            return self._entities(root_type.fields[name], details, collect, principal, entity)
        root = self.fields.roots.get(name)
        if root is None or root.types.stub:
            raise NotCompiled(f"{name}: not a dataset field")
        spec = root.types.spec
        own_rows = list_owner(spec) is OWN_ROWS and is_citizen(principal)
        # a citizen's lookup reads the row as theirs: the statement gives its owner, and a row of
        # anyone else's is handed back to today's path, which refuses it (schema.compiled.compiler)
        owner_checked = root.kind == "one" and own_rows
        if not allowed(principal, spec.meta.access, own_rows=own_rows):
            raise NotCompiled(f"{name}: denied (today's path says why)")
        access = Access(principal, own_rows)
        field = root_type.fields[name]
        reads: list[ReadWhen] = []
        if root.kind == "aggregate":
            return RootPlan(self._aggregate(root.types, field, details, collect, root_type), ())
        if root.kind == "one":
            pk = spec.primary_key[0]
            if not known_arguments(field, frozenset({pk.name, AS_OF})):
                raise NotCompiled(f"{name}: arguments the planner does not know")
            node_plan = self.walk.node(
                root.types, field.type, details, collect, path=(), reads=reads, access=access
            )
            plan: ConnectionPlan | LookupPlan | AggregatePlan = LookupPlan(
                root.types, field, node, pk.name, node_plan
            )
        else:
            plan = self.walk.connection(
                root.types, field, details, collect, root_type.name, None, (), reads, access
            )
        audited = Audited(
            root_field=f"{root_type.name}.{name}" if spec.restricted else None,
            own_rows=own_rows,
            row_fields=tuple(sorted(access.row_fields)),
            owner=spec.meta.owner if access.row_fields or owner_checked else None,
            owner_checked=owner_checked,
            levels=access.guarded(),
        )
        return RootPlan(plan, tuple(reads), audited)

    def _entities(
        self,
        field: GraphQLField,
        details: FieldDetailsList,
        collect: CollectSubfields,
        principal: Principal,
        entity: str | None,
    ) -> RootPlan:
        """`_entities` of one type, an owner's or a stub's: its node beneath each key.

        Beneath the node, what compiles under a lookup's row compiles (its columns, relations
        and lists, restricted ones for a principal who may read them, noted for the record as
        their guards note them): for a stub, its key and this subgraph's lists of rows pointing
        to it. A stub's entities without a list are its keys echoed, which today's path answers
        without a read (and the statement would need a database to run on). An owner's
        restricted type compiles for a principal its resolver lets through whatever the key
        (staff with the scope and a purpose), and for a citizen asking for their own record by
        its key (a resident's: `own_keys`, which binding checks); anyone else's answer depends
        on whose key it is, a denied caller's is the bare reference with every field's error.
        A restricted stub (a resident in social services' subgraph) is echoed whoever asks: its
        key and its lists are guarded each on its own, as beneath any row.
        """
        types = None if entity is None else self.fields.entities.get(entity)
        if types is None:
            raise NotCompiled(f"{ENTITIES}: not one entity type")
        spec = types.spec
        (key,) = types.key_columns()
        if key.python_type not in KEY_TYPES:
            raise NotCompiled(f"{ENTITIES}: {types.spec.type_name}'s key is no text or integer")
        own_keys = is_citizen(principal) and spec.meta.owner == key.name
        # a stub is echoed whoever asks, its key and lists guarded apart (walk.guard, guard_list)
        if (
            spec.meta.access != PUBLIC
            and not types.stub
            and not allowed(principal, spec.meta.access, own_rows=own_keys)
        ):
            raise NotCompiled(f"{ENTITIES}: {spec.type_name}, decided per key (today's path)")
        union = get_named_type(field.type)
        found = [t for t in getattr(union, "types", ()) if t.name == entity]
        if len(found) != 1:
            raise NotCompiled(f"{ENTITIES}: {entity} is no member of {union}")
        (object_type,) = found
        reads: list[ReadWhen] = []
        access = Access(principal, own_rows=own_keys)
        node = self.walk.node(
            types, object_type, details, collect, path=(), reads=reads, access=access
        )
        if types.stub and not reads:
            raise NotCompiled(f"{ENTITIES}: a stub's keys alone, echoed without a read")
        # the row's restricted columns are noted for each key whose row is found, as their
        # guards note them: the fields, and the row's owner as the subject
        row_fields = tuple(sorted(access.row_fields))
        if types.stub and row_fields and spec.meta.owner != key.name:
            # a stub's row is its key: an owner other than the key is not there to name
            raise NotCompiled(f"{ENTITIES}: {spec.type_name}'s owner is not its key")
        audited = Audited(
            row_fields=row_fields,
            owner=spec.meta.owner if row_fields else None,
            levels=access.guarded(),
        )
        plan = EntitiesPlan(types, field, only_node(details), key, node, own_keys)
        return RootPlan(plan, tuple(reads), audited)

    def _aggregate(
        self,
        types: DatasetTypes,
        field: GraphQLField,
        details: FieldDetailsList,
        collect: CollectSubfields,
        root_type: GraphQLObjectType,
    ) -> AggregatePlan:
        """Public aggregates: their groups, keys and measures over public columns."""
        node = only_node(details)
        if types.spec.restricted or not known_arguments(field, AGGREGATE_ARGUMENTS):
            raise NotCompiled(f"{node.name.value}: restricted, or unknown arguments")
        group_type = object_type_of(field.type)
        fields: list[tuple[str, Any]] = []
        for key, sub in fields_of(collect, group_type, details):
            name = only_node(sub).name.value
            if name == "__typename":
                fields.append((key, Constant(group_type.name)))
            elif name == "count":
                fields.append((key, "count"))
            elif name == "key" or name in MEASURES:
                part_type = object_type_of(group_type.fields[name].type)
                columns: list[tuple[str, Constant | ColumnSpec]] = []
                for column_key, column_sub in fields_of(collect, part_type, sub):
                    column_name = only_node(column_sub).name.value
                    if column_name == "__typename":
                        columns.append((column_key, Constant(part_type.name)))
                        continue
                    column = self.fields.columns.get((types.spec.type_name, column_name))
                    if column is None or column.access != PUBLIC or value_kind(column) is None:
                        raise NotCompiled(f"{part_type.name}.{column_name}: not compiled")
                    columns.append((column_key, column))
                fields.append((key, GroupPartPlan(name, tuple(columns))))
            else:
                raise NotCompiled(f"{group_type.name}.{name}: unknown")
        return AggregatePlan(types, field, node, root_type.name, tuple(fields))
