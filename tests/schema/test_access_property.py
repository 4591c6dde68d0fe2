"""Property: no principal without the scope (and purpose, and ownership) gets a restricted value
through any path of the schema, and every denial is counted; the entitled principal gets it.

Paths are derived from the schema: from each root list field, through connections (`nodes`) and
relations, to every restricted column; each path is tried plain, aliased and through fragments.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth.principal import Principal, Purpose, Tier
from auth.scopes import Scope
from schema.context import CityContext
from tests.schema.conftest import CATALOG, GATEWAY, PERMITS, RESIDENTS, Backend

GRAPH = GATEWAY._schema
RESTRICTED = {
    (spec.type_name, col.field_name): col.access
    for spec in CATALOG.datasets
    for col in spec.columns
    if col.restricted
}
SECRETS = (
    {f"{r['given_name']}" for r in RESIDENTS}
    | {f"{r['family_name']}" for r in RESIDENTS}
    | {p["applicant_name"] for p in PERMITS}
)


@dataclass(frozen=True)
class Path:
    steps: tuple[str, ...]  # field names from the root; connections are followed through `nodes`
    leaf: str
    access: str


def _unwrap(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def paths(max_depth: int = 3) -> list[Path]:
    """Shortest paths (up to `max_depth` hops) from the root to every restricted column."""
    found: dict[tuple[str, str], list[Path]] = {}
    query = GRAPH.query_type
    assert query is not None
    start = [
        (name, f)
        for name, f in query.fields.items()
        if name.endswith("s") and "Statistics" not in name and not name.endswith("Aggregate")
    ]
    queue: deque[tuple[tuple[str, ...], GraphQLObjectType]] = deque()
    for name, field in start:
        target = get_named_type(field.type)
        if isinstance(target, GraphQLObjectType) and "nodes" in target.fields:
            queue.append(((name,), _unwrap(target.fields["nodes"].type)))
    while queue:
        steps, node = queue.popleft()
        for fname, field in node.fields.items():
            key = (node.name, fname)
            if key in RESTRICTED and len(found.setdefault(key, [])) < 3:
                found[key].append(Path(steps, fname, RESTRICTED[key]))
            if len(steps) >= max_depth:
                continue
            target = get_named_type(field.type)
            if not isinstance(target, GraphQLObjectType):
                continue
            if "nodes" in target.fields:
                queue.append(((*steps, fname), _unwrap(target.fields["nodes"].type)))
            elif target.name in {s.type_name for s in CATALOG.datasets}:
                queue.append(((*steps, f"{fname}!"), target))
    return [p for group in found.values() for p in group]


PATHS = paths()


def document(path: Path, style: str) -> str:
    """The query reaching `path.leaf`, plain, aliased or through a fragment."""
    leaf = {"plain": path.leaf, "alias": f"secret: {path.leaf}", "fragment": "...F"}[style]
    inner = leaf
    for step in reversed(path.steps[1:]):
        if step.endswith("!"):
            inner = f"{step[:-1]} {{ {inner} }}"
        else:
            inner = f"{step}(first: 5) {{ nodes {{ {inner} }} }}"
    text = f"{{ {path.steps[0]}(first: 5) {{ nodes {{ {inner} }} }} }}"
    if style == "fragment":
        owner = _leaf_owner(path)
        text += f" fragment F on {owner} {{ {path.leaf} }}"
    return text


def _leaf_owner(path: Path) -> str:
    return next(
        t
        for (t, f) in RESTRICTED
        if f == path.leaf and RESTRICTED[(t, f)] == path.access and _reaches(path, t)
    )


def _reaches(path: Path, type_name: str) -> bool:
    node = _unwrap(get_named_type(GRAPH.query_type.fields[path.steps[0]].type).fields["nodes"].type)  # type: ignore[union-attr, attr-defined]
    for step in path.steps[1:]:
        field = node.fields[step.rstrip("!")]
        target = get_named_type(field.type)
        node = (
            _unwrap(target.fields["nodes"].type)
            if "nodes" in getattr(target, "fields", {})
            else target
        )
    return node.name == type_name


def leaves(data: Any, name: str) -> list[Any]:
    """Every value found under the key `name` anywhere in a response."""
    out: list[Any] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == name:
                out.append(v)
            out.extend(leaves(v, name))
    elif isinstance(data, list):
        for item in data:
            out.extend(leaves(item, name))
    return out


def denied_principals(access: str) -> list[Principal]:
    scope = Scope(access)
    others = frozenset(Scope) - {scope, Scope.SELF, Scope.AUDIT_READ}
    covering = Purpose("CRPA-L311", "CASE-1", frozenset(Scope))
    return [
        Principal(),
        Principal(tier=Tier.APP, client_id="app", scopes=others, purpose=covering),
        Principal(tier=Tier.STAFF, subject="s", scopes=others, purpose=covering),
        Principal(tier=Tier.STAFF, subject="s", scopes=frozenset({scope})),
        Principal(
            tier=Tier.STAFF,
            subject="s",
            scopes=frozenset({scope}),
            purpose=Purpose("X", "CASE-1", frozenset(others)),
        ),
        Principal(tier=Tier.AUDITOR, subject="a", scopes=frozenset({Scope.AUDIT_READ})),
        # a citizen with no record anywhere in the fixture
        Principal(
            tier=Tier.CITIZEN, subject="c", scopes=frozenset({Scope.SELF}), resident_id="R-nobody"
        ),
    ]


def test_every_restricted_column_is_reachable_by_some_path() -> None:
    reached = {(_leaf_owner(p), p.leaf) for p in PATHS}
    assert reached == set(RESTRICTED)


async def run(
    backend: Backend, text: str, principal: Principal
) -> tuple[Any, list[Any], CityContext]:
    context = CityContext(loaders=backend.city.loaders(), principal=principal)
    result = await GATEWAY.execute(text, context_value=context)
    return result.data, [(e.extensions or {}).get("code") for e in result.errors or []], context


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(PATHS),
    style=st.sampled_from(["plain", "alias", "fragment"]),
    which=st.integers(min_value=0, max_value=6),
)
async def test_no_restricted_value_reaches_a_principal_without_the_right(
    backend: Backend, path: Path, style: str, which: int
) -> None:
    principal = denied_principals(path.access)[which]
    data, codes, context = await run(backend, document(path, style), principal)
    name = "secret" if style == "alias" else path.leaf
    assert all(v is None for v in leaves(data, name)), (document(path, style), principal)
    assert not any(s in repr(data) for s in SECRETS)
    assert set(codes) <= {"UNAUTHENTICATED", "FORBIDDEN", "PURPOSE_REQUIRED"}
    if leaves(data, name) or data is None or any(v is None for v in _top(data)):
        assert codes, "a denial must be reported"
        assert context.denials, "a denial must be recorded for the audit"


def _top(data: Any) -> list[Any]:
    return list(data.values()) if isinstance(data, dict) else []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), style=st.sampled_from(["plain", "alias", "fragment"]))
async def test_the_entitled_principal_gets_the_values(
    backend: Backend, path: Path, style: str
) -> None:
    staff = Principal(
        tier=Tier.STAFF,
        subject="s",
        scopes=frozenset(Scope) - {Scope.SELF},
        purpose=Purpose("CRPA-L311", "CASE-1", frozenset(Scope)),
    )
    data, codes, context = await run(backend, document(path, style), staff)
    assert codes == []
    assert context.denials == []
    name = "secret" if style == "alias" else path.leaf
    assert any(v is not None for v in leaves(data, name)), document(path, style)
