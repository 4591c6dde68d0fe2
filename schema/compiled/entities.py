"""`_entities` in the compiled path: the representations of one request, read for a plan.

A plan of `_entities` is made per entity type (schema.compiled.planner), and the type is named
by the representations, which are the request's: the compiler reads it before it plans
(`entity_type`), and binding checks the representations against the plan (`entity_keys`), so
that a learnt document asked again with other representations (api.compiled_lane) goes the
usual way. Only the plainest representations compile: all of one type, each its `__typename`
and a text key, nothing else. Anything else (several types, a missing, null or non-text key, an
extra field, none at all) is answered by strawberry's entities resolver, with its own nulls and
errors.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLField
from graphql.execution.values import VariableValues, get_argument_values

from schema.compiled.plans import EntitiesPlan, NotCompiled

ENTITIES = "_entities"
"""Apollo Federation's root field of a subgraph (strawberry.federation.Schema)."""
TYPENAME = "__typename"


def representations(field: GraphQLField, node: FieldNode, variables: VariableValues) -> list[Any]:
    """The `representations` argument as the resolver gets it (`_Any` values, as sent)."""
    given = get_argument_values(field, node, variables).get("representations")
    return given if isinstance(given, list) else []


def entity_type(field: GraphQLField, node: FieldNode, variables: VariableValues) -> str | None:
    """The one `__typename` every representation names; None for none, several, or no name."""
    given = representations(field, node, variables)
    found = {r.get(TYPENAME) if isinstance(r, dict) else None for r in given}
    (name,) = found if len(found) == 1 else (None,)
    return name if isinstance(name, str) else None


def entity_keys(plan: EntitiesPlan, variables: VariableValues) -> list[str]:
    """The representations' keys, in their order; NotCompiled unless each representation is
    exactly `{"__typename": <the plan's type>, <the key>: <text>}`."""
    type_name, key = plan.types.spec.type_name, plan.key.field_name
    keys: list[str] = []
    for given in representations(plan.field, plan.field_node, variables):
        if (
            not isinstance(given, dict)
            or given.keys() != {TYPENAME, key}
            or given[TYPENAME] != type_name
            or not isinstance(given[key], str)
            or "\x00" in given[key]  # no PostgreSQL text holds one: today's path answers it
        ):
            raise NotCompiled(f"{ENTITIES}: a representation other than a {type_name}'s text key")
        keys.append(given[key])
    if not keys:
        raise NotCompiled(f"{ENTITIES}: no representations (today's path reads nothing)")
    return keys
