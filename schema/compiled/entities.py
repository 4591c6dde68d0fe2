"""`_entities` in the compiled path: the representations of one request, read for a plan.

A plan of `_entities` is made per entity type (schema.compiled.planner), and the type is named
by the representations, which are the request's: the compiler reads it before it plans
(`entity_type`), and binding checks the representations against the plan (`entity_keys`), so
that a learnt document asked again with other representations (api.compiled_lane) goes the
usual way. Only the plainest representations compile: all of one type, each its `__typename`
and a key of the key column's own JSON type, nothing else. Anything else (several types, a
missing or null key, a key of another type, an extra field, none at all) is answered by
strawberry's entities resolver, with its own nulls and errors.

Today's resolver hands the key to the loader as sent, and what it answers for a key of another
type depends on the engine and on the other keys of the batch: for a budget line (an integer
`id`), `"1"` is null on SQLite (the row is found, but not under the text `"1"`) and an error on
PostgreSQL; `true` is row 1 on SQLite, an error on PostgreSQL, and row 1 there too beside a `1`
(the loader asks each key once, and `true == 1`); `1.0` is row 1 on both. None of that is worth
copying: a text key compiles as text (without NUL, which no PostgreSQL text holds) and an
integer key as a JSON integer (not a Boolean); the range a parameter holds is the dialect's
(`Dialect.keys_value`).
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


KEY_TYPES = (str, int)
"""The key columns' Python types whose keys compile."""


def plain_key(python_type: type, value: object) -> bool:
    """Whether a key sent for a column of `python_type` is one the compiled path answers as
    today's does: text for text, an integer (not a Boolean, a subclass) for an integer."""
    if python_type is str:
        # no PostgreSQL text holds NUL: today's path answers it
        return isinstance(value, str) and "\x00" not in value
    return python_type is int and type(value) is int


def entity_keys(
    plan: EntitiesPlan, variables: VariableValues, resident: str | None
) -> list[str | int]:
    """The representations' keys, in their order; NotCompiled unless each representation is
    exactly `{"__typename": <the plan's type>, <the key>: <a plain key>}` (`plain_key`), and,
    for a citizen's own record (`EntitiesPlan.own_keys`), that key is `resident`, theirs:
    today's resolver gives anyone else's as a bare reference, with every field's error."""
    type_name, key = plan.types.spec.type_name, plan.key.field_name
    keys: list[str | int] = []
    for given in representations(plan.field, plan.field_node, variables):
        if (
            not isinstance(given, dict)
            or given.keys() != {TYPENAME, key}
            or given[TYPENAME] != type_name
            or not plain_key(plan.key.python_type, given[key])
            or (plan.own_keys and given[key] != resident)
        ):
            raise NotCompiled(f"{ENTITIES}: a representation other than a {type_name}'s key")
        keys.append(given[key])
    if not keys:
        raise NotCompiled(f"{ENTITIES}: no representations (today's path reads nothing)")
    return keys
