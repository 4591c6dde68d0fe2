"""The access log's fields are in the one-process schema and in exactly one subgraph, marked alike."""

from __future__ import annotations

import re

from strawberry.types.base import StrawberryObjectDefinition

from schema.access import AccessGuard
from schema.city import builtin_specs
from schema.datasets import Catalog, camel
from schema.federation import AUDIT_DEPARTMENT, SUPERGRAPH, build_subgraph_schema, root_fields
from schema.gateway import QueryLimits, build_gateway_schema

CATALOG = Catalog(builtin_specs())
NEEDS = {"accessLog": "audit:read", "accessLogCounts": "audit:read", "myAccessHistory": "self"}


def field_line(sdl: str, name: str) -> str:
    """The line of root field `name` that gives its type and directives (after any arguments)."""
    found = re.search(rf"\n  {name}(\(\n.*?\n  \)|\([^\n]*\))?: [^\n]*", sdl, re.S)
    assert found is not None, name
    return found.group(0).rsplit("\n", 1)[-1]


def test_the_gateway_guards_each_audit_field_with_its_scope() -> None:
    gateway = build_gateway_schema(CATALOG)
    query = gateway.get_type_by_name("Query")
    assert isinstance(query, StrawberryObjectDefinition)
    guards = {
        camel(f.python_name): [e.access for e in f.extensions if isinstance(e, AccessGuard)]
        for f in query.fields
    }
    sdl = gateway.as_str()
    for name, scope in NEEDS.items():
        assert guards[name] == [scope], name
        assert field_line(sdl, name).endswith(f'@requiresScopes(scopes: [["{scope}"]])'), name


def test_one_subgraph_serves_the_access_log() -> None:
    homes = {
        department: set(NEEDS) & {camel(k) for k in root_fields(CATALOG, department, QueryLimits())}
        for department in CATALOG.departments()
    }
    assert homes.pop(AUDIT_DEPARTMENT) == set(NEEDS)
    assert all(not found for found in homes.values()), homes


def test_the_subgraph_and_supergraph_carry_federation_scopes() -> None:
    subgraph = build_subgraph_schema(CATALOG, AUDIT_DEPARTMENT).as_str()
    supergraph = SUPERGRAPH.read_text()
    for name, scope in NEEDS.items():
        marks = f'@authenticated @requiresScopes(scopes: [["{scope}"]])'
        assert field_line(subgraph, name).endswith(marks), name
        routed = field_line(supergraph, name)
        assert f"@join__field(graph: {AUDIT_DEPARTMENT.upper()})" in routed, name
        assert routed.endswith(marks), name
