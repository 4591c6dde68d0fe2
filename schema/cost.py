"""Static cost of a GraphQL document, before it runs: what the rate-limit budget and tier caps use.

Every field costs 1 for each time it resolves. A field with a `first`/`last` argument (a connection)
multiplies everything under it by its page size (the argument's value, else the schema's default
page, capped at the maximum page), and the lists inside it (`edges`, `nodes`) are already paid for;
any other list of objects multiplies its children by the default page. Nesting multiplies. Inline
fragments and fragment spreads add their fields (the sum over type conditions: an upper bound).

The same walk measures depth, aliases and directives, so that each tier can have its own caps
below the schema's absolute ones (schema.validation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)

PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class DocumentCost:
    """What one operation of a document asks for."""

    cost: int
    depth: int
    aliases: int
    directives: int


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        page_default: int,
        page_max: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.page_default = page_default
        self.page_max = page_max
        self.depth = 0
        self.aliases = 0
        self.directives = 0

    def page(self, node: FieldNode) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value not in PAGE_ARGUMENTS:
                continue
            value: Any = None
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, self.page_max))
            return self.page_default
        return None

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        depth: int,
        paid: bool,
        seen: frozenset[str],
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for sel in selection_set.selections:
            self.directives += len(sel.directives or ())
            if isinstance(sel, FieldNode):
                total += self.field(sel, parent, depth, paid, seen)
            elif isinstance(sel, InlineFragmentNode):
                cond = parent
                if sel.type_condition is not None:
                    cond = self.schema.get_type(sel.type_condition.name.value) or parent
                total += self.selections(sel.selection_set, cond, depth, paid, seen)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:  # validation reports both
                    continue
                cond = self.schema.get_type(frag.type_condition.name.value) or parent
                total += self.selections(frag.selection_set, cond, depth, paid, seen | {name})
        return total

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        depth: int,
        paid: bool,
        seen: frozenset[str],
    ) -> int:
        depth += 1
        self.depth = max(self.depth, depth)
        if node.alias is not None:
            self.aliases += 1
        definition: GraphQLField | None = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(node.name.value)
        if definition is None or node.selection_set is None:
            return 1
        child = get_named_type(definition.type)
        multiplier = 1
        page = self.page(node)
        if page is not None:
            multiplier, paid = page, True
        elif isinstance(get_nullable_type(definition.type), GraphQLList):
            if paid:
                paid = False  # the connection's page paid for this list; its own lists are not
            else:
                multiplier = self.page_default
        return 1 + multiplier * self.selections(node.selection_set, child, depth, paid, seen)


def document_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
    page_default: int = 50,
    page_max: int = 1_000,
) -> DocumentCost:
    """The cost, depth, aliases and directives of the operation that would run."""
    fragments: dict[str, FragmentDefinitionNode] = {}
    operations: list[OperationDefinitionNode] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(definition)
    chosen = [
        op
        for op in operations
        if operation_name is None or (op.name is not None and op.name.value == operation_name)
    ]
    walk = _Walk(schema, fragments, variables or {}, page_default, page_max)
    cost = 0
    for op in chosen[:1]:
        root = schema.get_root_type(op.operation)
        walk.directives += len(op.directives or ())
        cost = walk.selections(op.selection_set, root, 0, False, frozenset())
    return DocumentCost(
        cost=cost, depth=walk.depth, aliases=walk.aliases, directives=walk.directives
    )
