"""Differential: generated operations answered by the compiled path and by today's path agree.

Every case runs twice on the same city, once with `CityContext.compiled` and once without, and
must give the same `data` (once the spliced JSON is parsed), the same errors (message, path,
locations, code) and the same access facts (datasets, denials, restricted fields, subjects).
Operations are built from the schema itself: every dataset's list and lookup, filters (geographic
ones included), orderings, pages both ways with real and broken cursors, nested relations and
lists, aliases, named and inline fragments, `@skip`/`@include` on variables, `__typename`; for
every tier. CITYGRAPH_DIFFERENTIAL_EXAMPLES raises the number of cases for a long run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLScalarType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    parse,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from api.citing import canonical
from auth.principal import ANONYMOUS, Principal, Purpose, Tier
from auth.scopes import Scope
from schema.as_of import Snapshot
from schema.context import CityContext
from storage.engines import StatementCounter
from storage.paging import encode_cursor
from tests.schema.conftest import CATALOG, GATEWAY, Backend

GRAPH = GATEWAY._schema
QUERY = GRAPH.query_type
EXAMPLES = int(os.environ.get("CITYGRAPH_DIFFERENTIAL_EXAMPLES", "200"))
DEPTH = 2
"""Levels of relations and lists generated beneath a root field's rows."""

LISTS = {spec.name: spec for spec in CATALOG.datasets}
LOOKUPS = {spec.singular: spec for spec in CATALOG.datasets if len(spec.primary_key) == 1}

STRINGS = ["751", "75101", "S00", "S013", "Louvre", "é", "élysée", "a_b", "100%", "Q1-", "R1", "x"]
IDS = {
    "districts": ["75101", "75102", "75103", "75199"],
    "bikeStations": [f"S{i:03d}" for i in (0, 1, 7, 13, 29, 31)],
    "quartiers": ["7510101", "7510204", "7510303"],
    "residents": ["R0", "R1", "R4"],
    "buildingPermits": ["PC0", "PC2"],
    "airQualityStations": ["FR04014", "FR0"],
}
MEASURED = [
    "2019-06-01T05:00:00+00:00",
    "2019-06-02T23:00:00+00:00",
    "2019-06-05T01:02:03.450000+00:00",
    "2019-06-05T01:02:03.000001+00:00",
]
"""Times of the fixture's air-quality measurements: whole hours, and fractions of a second."""
CURSOR_VALUES: dict[str, list[list[Any]]] = {
    **{name: [[i] for i in ids] for name, ids in IDS.items()},
    # the key order (station, parameter, time), and an orderBy on the time (then the key)
    "airQualityMeasurements": [
        *(["FR04014", "no2", t] for t in MEASURED),
        *([t, "FR04014", "no2"] for t in MEASURED),
    ],
}
CURSOR_VALUES["measurements"] = CURSOR_VALUES["airQualityMeasurements"]  # of a station


def tiers() -> dict[str, Principal]:
    """One principal of each tier (DESIGN section 3)."""
    staff = frozenset(Scope(s) for s in ("registry:read", "urbanism:read", "social:read"))
    return {
        "anonymous": ANONYMOUS,
        "app": Principal(
            tier=Tier.APP, subject="app", client_id="app", scopes=frozenset({Scope("open-data")})
        ),
        "staff": Principal(tier=Tier.STAFF, subject="agent-7", client_id="f", scopes=staff),
        "staff_purpose": Principal(
            tier=Tier.STAFF,
            subject="agent-7",
            client_id="f",
            scopes=staff,
            purpose=Purpose("CRPA-L311", "CASE-2026-0042", staff),
        ),
        "citizen": Principal(
            tier=Tier.CITIZEN,
            subject="citizen-R1",
            scopes=frozenset({Scope.SELF}),
            resident_id="R1",
        ),
        "auditor": Principal(
            tier=Tier.AUDITOR, subject="auditor", scopes=frozenset({Scope("audit:read")})
        ),
    }


TIERS = tiers()


RESTRICTED_TYPES = {spec.type_name for spec in CATALOG.datasets if spec.restricted}
RESTRICTED_FIELDS = {
    (spec.type_name, col.field_name)
    for spec in CATALOG.datasets
    for col in spec.columns
    if col.restricted
}


@dataclass
class Document:
    """An operation being built: its text parts, fragments and variables."""

    fragments: list[str]
    variables: dict[str, Any]
    definitions: list[str]
    public_only: bool = False
    """Leave restricted fields out (they stay on today's path): more cases reach the compiler."""
    versions: bool = False
    """Give root fields `asOf` and cursors versions (tests/schema/test_compiled_as_of.py)."""

    def readable(self, type_name: str, field: str, target: str | None = None) -> bool:
        if not self.public_only:
            return True
        if (type_name, field) in RESTRICTED_FIELDS:
            return False
        return target is None or target.removesuffix("Connection") not in RESTRICTED_TYPES

    def var(self, kind: str, value: Any) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = value
        self.definitions.append(f"${name}: {kind}")
        return f"${name}"


def _named(kind: Any) -> Any:
    return get_named_type(kind)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return repr(value)


@st.composite
def scalar_value(draw: st.DrawFn, kind: GraphQLScalarType) -> Any:
    name = kind.name
    if name == "Int":
        return draw(st.integers(-2, 60))
    if name == "Float":
        return draw(st.sampled_from([0.0, 2.3, 2.305, 48.85, 48.856, 1e6, 4001.0]))
    if name == "Boolean":
        return draw(st.booleans())
    if name == "Date":
        return draw(st.sampled_from(["2023-01-01", "2024-01-02", "2024-06-30"]))
    if name == "DateTime":
        return draw(
            st.sampled_from(
                [
                    "2019-06-01T05:00:00+00:00",
                    "2019-06-02T00:00:00",
                    "2019-06-05T03:02:03.000001+02:00",
                    "2019-06-05T01:02:03.45Z",
                ]
            )
        )
    return draw(st.sampled_from(STRINGS))


@st.composite
def where_value(draw: st.DrawFn, filter_type: GraphQLInputObjectType, depth: int = 0) -> str:
    """A `where` literal over a few of the filter's fields."""
    parts: list[str] = []
    names = sorted(filter_type.fields)
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
        field_type = _named(filter_type.fields[name].type)
        if name in ("and", "or"):
            if depth >= 1:
                continue
            inner = draw(st.lists(where_value(filter_type, depth + 1), min_size=1, max_size=2))
            parts.append(f"{name}: [{', '.join(inner)}]")
        elif name == "not":
            if depth >= 1:
                continue
            parts.append(f"not: {draw(where_value(filter_type, depth + 1))}")
        elif name == "near":
            radius = draw(st.sampled_from([10.0, 300.0, 2000.0, 60000.0]))
            parts.append(f"near: {{latitude: 48.852, longitude: 2.302, radiusM: {radius}}}")
        elif name == "withinBox":
            north = draw(st.sampled_from([48.855, 48.87, 48.8]))
            parts.append(f"withinBox: {{south: 48.85, west: 2.3, north: {north}, east: 2.31}}")
        elif name == "withinDistrict":
            parts.append(f'withinDistrict: "{draw(st.sampled_from(IDS["districts"]))}"')
        elif isinstance(field_type, GraphQLInputObjectType):
            ops = sorted(field_type.fields)
            op = draw(st.sampled_from(ops))
            op_type = field_type.fields[op].type
            named = _named(op_type)
            if op == "isNull":
                literal = _literal(draw(st.booleans()))
            elif isinstance(op_type, GraphQLList) or isinstance(
                getattr(op_type, "of_type", None), GraphQLList
            ):
                values = draw(st.lists(scalar_value(named), max_size=3))
                literal = "[" + ", ".join(_literal(v) for v in values) + "]"
            else:
                literal = _literal(draw(scalar_value(named)))
            parts.append(f"{name}: {{{op}: {literal}}}")
    return "{" + ", ".join(parts) + "}"


AS_OF_TIMES = ["<before>", "<t1>", "<t2>", "<now>"]
"""Times of tests/schema/test_compiled_as_of.py's history, known once it is made: the test puts
them in the variables."""
AS_OF_READ = ["bikeStations@1", "bikeStations@2", "bikeStations@3", "districts@2", *AS_OF_TIMES[1:]]
"""`asOf` values that history answers for the bike stations and what they lead to."""
AS_OF_REFUSED = [
    "bikeStations@9",
    "districts@1",
    "quartiers@1",
    "nowhere@1",
    "residents@1",
    "yesterday",
    "2026-01-01T00:00:00",
    AS_OF_TIMES[0],
]
"""Values today's path refuses, for some fields or all (a version made before the bike stations'
first one is a time at which they had none)."""


@st.composite
def as_of_argument(draw: st.DrawFn, doc: Document) -> str:
    value = draw(st.sampled_from(AS_OF_READ if draw(st.integers(0, 2)) else AS_OF_REFUSED))
    if value in AS_OF_TIMES or draw(st.booleans()):
        return f"asOf: {doc.var('String', value)}"
    return f"asOf: {_literal(value)}"


@st.composite
def list_arguments(
    draw: st.DrawFn, doc: Document, field: Any, dataset: str, *, nested: bool
) -> str:
    args: list[str] = []
    if doc.versions and not nested and "asOf" in field.args and draw(st.integers(0, 2)):
        args.append(draw(as_of_argument(doc)))
    kinds = field.args
    # a nested list with a size today's path refuses hands its whole root field back: rarer
    # there, so that lists nested beneath lists reach the compiler too
    refused = [-1] if nested else [-1, 101]
    size = draw(st.sampled_from([None, 0, 1, 2, 3, 5, 12, 1, 2, 3, 5, *refused]))
    direction = draw(st.sampled_from(["first", "last"]))
    if size is not None:
        if draw(st.booleans()):
            args.append(f"{direction}: {doc.var('Int', size)}")
        else:
            args.append(f"{direction}: {size}")
    if draw(st.integers(0, 3)) == 0 and "where" in kinds:
        args.append(f"where: {draw(where_value(_named(kinds['where'].type)))}")
    order_type = _named(kinds["orderBy"].type)
    if draw(st.integers(0, 2)) == 0:
        enum_type = _named(order_type.fields["field"].type)
        assert isinstance(enum_type, GraphQLEnumType)
        keys = draw(st.lists(st.sampled_from(sorted(enum_type.values)), max_size=2, unique=nested))
        order = [
            f"{{field: {k}, direction: {draw(st.sampled_from(['ASC', 'DESC']))}}}" for k in keys
        ]
        args.append(f"orderBy: [{', '.join(order)}]")
    cursor_kind = draw(st.sampled_from([None, None, "after", "before"]))
    if cursor_kind is not None:
        # cursors of the key order (and the measurements' time order); with another orderBy
        # they do not fit, as a client's stale one
        cursors = [encode_cursor(values) for values in CURSOR_VALUES.get(dataset, [["A"]])]
        cursor = draw(st.sampled_from([*cursors, *cursors, "not-a-cursor", encode_cursor([1, 2])]))
        if doc.versions:  # a cursor read from a version (schema.as_of), or a live one
            cursor += draw(st.sampled_from(["", "", ".1", ".2", ".3", ".9", ".x"]))
        args.append(f"{cursor_kind}: {doc.var('String', cursor)}")
    return f"({', '.join(args)})" if args else ""


@st.composite
def directive(draw: st.DrawFn, doc: Document) -> str:
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return f" @skip(if: {doc.var('Boolean!', draw(st.booleans()))})"
    if choice == 1:
        return f" @include(if: {doc.var('Boolean!', draw(st.booleans()))})"
    return ""


@st.composite
def node_selection(draw: st.DrawFn, doc: Document, node: GraphQLObjectType, depth: int) -> str:
    """Fields of a node: columns, `__typename`, relations and lists (while depth lasts)."""
    scalars: list[str] = []
    objects: list[str] = []
    for name, field in node.fields.items():
        named = _named(field.type)
        if not doc.readable(node.name, name, named.name):
            continue
        if isinstance(named, GraphQLObjectType):
            objects.append(name)
        else:
            scalars.append(name)
    chosen = draw(st.lists(st.sampled_from(sorted(scalars)), min_size=1, max_size=4, unique=True))
    items = [f"{draw(alias(column))}{column}{draw(directive(doc))}" for column in chosen]
    if draw(st.integers(0, 4)) == 0:
        items.append("__typename")
    if depth > 0 and len(objects) > 0 and draw(st.integers(0, 3)):
        name = draw(st.sampled_from(sorted(objects)))
        field = node.fields[name]
        named = _named(field.type)
        if named.name.endswith("Connection"):
            dataset = name
            args = draw(list_arguments(doc, field, dataset, nested=True))
            inner = draw(connection_selection(doc, named, depth - 1))
            items.append(f"{draw(alias(name))}{name}{args} {{ {inner} }}")
        else:
            items.append(f"{name} {{ {draw(node_selection(doc, named, depth - 1))} }}")
    body = " ".join(items)
    wrap = draw(st.integers(0, 4))
    if wrap == 0:  # a named fragment
        fragment = f"F{len(doc.fragments)}"
        doc.fragments.append(f"fragment {fragment} on {node.name} {{ {body} }}")
        return f"...{fragment}"
    if wrap == 1:
        return f"... on {node.name} {{ {body} }}"
    return body


@st.composite
def alias(draw: st.DrawFn, name: str) -> str:
    """No alias, or one of the field's own (aliases of different fields would conflict)."""
    return draw(st.sampled_from(["", "", "", f"{name}A: ", f"other{name.title()}: "]))


@st.composite
def connection_selection(
    draw: st.DrawFn, doc: Document, conn: GraphQLObjectType, depth: int
) -> str:
    node = _named(conn.fields["nodes"].type)
    parts: list[str] = []
    for name in draw(
        st.lists(
            st.sampled_from(["totalCount", "pageInfo", "edges", "nodes", "__typename"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    ):
        if name == "pageInfo":
            fields = draw(
                st.lists(
                    st.sampled_from(
                        ["hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename"]
                    ),
                    min_size=1,
                    unique=True,
                )
            )
            parts.append(f"pageInfo {{ {' '.join(fields)} }}")
        elif name == "edges":
            edge = ["cursor"] if draw(st.booleans()) else []
            edge.append(f"node {{ {draw(node_selection(doc, node, depth))} }}")
            parts.append(f"{draw(alias('edges'))}edges {{ {' '.join(edge)} }}")
        elif name == "nodes":
            parts.append(f"nodes {{ {draw(node_selection(doc, node, depth))} }}")
        else:
            parts.append(f"{name}{draw(directive(doc))}")
    return " ".join(parts)


@st.composite
def operations(
    draw: st.DrawFn, datasets: list[str] | None = None, *, versions: bool = False
) -> tuple[str, dict[str, Any]]:
    """One operation over one or two root fields, and its variables (`datasets`: public ones,
    without their restricted fields; None: every dataset and field; `versions`: with `asOf`
    and cursors read from versions)."""
    assert QUERY is not None
    doc = Document([], {}, [], public_only=datasets is not None, versions=versions)
    roots: list[str] = []
    for index in range(draw(st.integers(1, 2))):
        lookups = sorted(n for n, spec in LOOKUPS.items() if not (datasets and spec.restricted))
        shape = draw(st.integers(0, 5))
        if shape == 0:
            name = draw(st.sampled_from(datasets or sorted(LISTS))) + "Aggregate"
            roots.append(f"r{index}: {draw(aggregate_selection(doc, QUERY.fields[name], name))}")
            continue
        if shape == 1:
            name = draw(st.sampled_from(lookups))
            field = QUERY.fields[name]
            (arg,) = (a for a in field.args if a != "asOf")  # its key
            kind = str(field.args[arg].type)
            ids = IDS.get(LOOKUPS[name].name, [1, 2] if kind.startswith("Int") else ["A"])
            value = doc.var(kind, draw(st.sampled_from(ids)))
            as_of = ""
            if doc.versions and "asOf" in field.args and draw(st.integers(0, 2)):
                as_of = f", {draw(as_of_argument(doc))}"
            node = _named(field.type)
            inner = draw(node_selection(doc, node, DEPTH))
            roots.append(f"r{index}: {name}({arg}: {value}{as_of}) {{ {inner} }}")
            continue
        name = draw(st.sampled_from(datasets or sorted(LISTS)))
        field = QUERY.fields[name]
        args = draw(list_arguments(doc, field, name, nested=False))
        inner = draw(connection_selection(doc, _named(field.type), DEPTH))
        roots.append(f"r{index}: {name}{args} {{ {inner} }}")
    variables = f"({', '.join(doc.definitions)})" if doc.definitions else ""
    text = f"query Generated{variables} {{ {' '.join(roots)} }}\n" + "\n".join(doc.fragments)
    return text, doc.variables


@st.composite
def aggregate_selection(draw: st.DrawFn, doc: Document, field: Any, name: str) -> str:
    """`<dataset>Aggregate(where:, groupBy:) { key {...} count sum {...} ... }`."""
    group_type = _named(field.type)
    args: list[str] = []
    if doc.versions and "asOf" in field.args and draw(st.integers(0, 2)):
        args.append(draw(as_of_argument(doc)))
    if draw(st.integers(0, 3)) == 0:
        args.append(f"where: {draw(where_value(_named(field.args['where'].type)))}")
    key_type = _named(group_type.fields["key"].type)
    grouped: list[str] = []
    if draw(st.booleans()):
        enum_type = _named(field.args["groupBy"].type)
        keys = draw(st.lists(st.sampled_from(sorted(enum_type.values)), max_size=2))
        args.append(f"groupBy: [{', '.join(keys)}]")
        grouped = [k.lower() for k in keys]  # the enum names the column in capitals
    # today's path fails on a key it did not group by (an AttributeError, masked): asked only
    # for grouped keys here; the compiled path leaves the other case to it (schema.compiled)
    readable = [
        c
        for c in sorted(key_type.fields)
        if doc.readable(key_type.name, c) and _snake(c) in grouped
    ]
    parts = ["count"]
    for part in draw(
        st.lists(st.sampled_from([n for n in group_type.fields if n != "count"]), unique=True)
    ):
        part_type = _named(group_type.fields[part].type)
        columns = [c for c in sorted(part_type.fields) if doc.readable(part_type.name, c)]
        if part == "key":
            columns = readable
        if columns:
            chosen = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=3, unique=True))
            parts.append(f"{part} {{ {' '.join(chosen)} }}")
    arguments = f"({', '.join(args)})" if args else ""
    return f"{name}{arguments} {{ {' '.join(parts)} }}"


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


async def answer(
    backend: Backend,
    query: str,
    variables: dict[str, Any],
    principal: Principal,
    compiled: bool,
    *,
    pins: dict[str, int] | None = None,
) -> dict[str, Any]:
    """What a path answers, as a client, the access log and a citation see it (`pins`: a
    citation's run pinned to these versions, api.citing)."""
    context = CityContext(loaders=backend.city.loaders(), principal=principal, compiled=compiled)
    if pins is not None:
        context.pins = Snapshot(pinned=dict(pins))
    result = await GATEWAY.execute(query, variable_values=variables, context_value=context)
    if (
        compiled and currently_in_test_context()
    ):  # pytest --hypothesis-show-statistics shows how many took the compiled path
        values = list((result.data or {}).values())
        spliced = sum(isinstance(v, orjson.Fragment) for v in values)
        event(f"root fields compiled: {spliced} of {len(values)}")
        names = root_fields(query)
        for key, value in (result.data or {}).items():
            taken = "compiled" if isinstance(value, orjson.Fragment) else "today's path"
            event(f"{taken}: {names.get(key, key)}")
        for key, levels in nesting(query).items():
            if levels and result.data is not None and key in result.data:
                value = result.data[key]
                path = (
                    "compiled path"
                    if isinstance(value, orjson.Fragment)
                    else "null"
                    if value is None
                    else "today's path"
                )
                event(f"a root field nesting {levels} level(s) beneath its rows: {path}")
    if compiled and not context.spaced_json:  # compact: what a citation hashes as it is
        for value in (result.data or {}).values():
            if isinstance(value, orjson.Fragment):
                text = orjson.dumps(value)
                assert orjson.dumps(orjson.loads(text)) == text, text
        if not context.dotted_json and result.data:
            # nor does it write an integral float as 2.0: a citation takes it as it is
            full = canonical(result.data, spaced=True, dotted=True)
            assert canonical(result.data, spaced=False, dotted=False) == full, full
    errors = sorted(
        (
            {
                "message": e.message,
                "path": e.path,
                "locations": [tuple(loc) for loc in e.locations or ()],
                "code": (e.extensions or {}).get("code"),
            }
            for e in result.errors or ()
        ),
        key=lambda e: orjson.dumps(e, option=orjson.OPT_SORT_KEYS),
    )
    return {
        "data": orjson.loads(orjson.dumps(result.data)),
        "errors": errors,
        "datasets": sorted(context.datasets_read),
        "denials": sorted(context.denials),
        "restricted": context.restricted,
        "fields": sorted(context.fields_read),
        "subjects": sorted(context.subjects),
        "versions": versions_noted(context),
    }


def root_fields(query: str) -> dict[str, str]:
    """The name of each root field of a document's operation, by its response key."""
    operation = next(d for d in parse(query).definitions if isinstance(d, OperationDefinitionNode))
    return {
        (f.alias or f.name).value: f.name.value
        for f in operation.selection_set.selections
        if isinstance(f, FieldNode)
    }


def nesting(query: str) -> dict[str, int]:
    """How many levels of relations and lists each root field nests beneath its rows."""
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def fields(selection_set: SelectionSetNode | None) -> list[FieldNode]:
        found: list[FieldNode] = []
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                found.append(sel)
            elif isinstance(sel, InlineFragmentNode):
                found += fields(sel.selection_set)
            else:
                found += fields(fragments[sel.name.value].selection_set)  # type: ignore[attr-defined]
        return found

    def levels(kind: GraphQLObjectType, field: FieldNode, *, node: bool) -> int:
        """Below `field` of type `kind`; `node`: its own fields are relations or lists."""
        deepest = 0
        for sub in fields(field.selection_set):
            if sub.name.value == "__typename":
                continue
            named = _named(kind.fields[sub.name.value].type)
            if isinstance(named, GraphQLObjectType):
                row = not named.name.endswith(("Connection", "Edge", "PageInfo"))
                below = levels(named, sub, node=row)
                deepest = max(deepest, below + 1 if node else below)
        return deepest

    assert QUERY is not None
    (operation,) = (d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return {
        (root.alias or root.name).value: levels(
            _named(QUERY.fields[root.name.value].type), root, node=root.name.value in LOOKUPS
        )
        for root in fields(operation.selection_set)
    }


def noted_reads(context: CityContext) -> dict[str, int | None]:
    """The versions read, a read of live rows as 0 (CURRENT) whichever path made it: a compiled
    statement also saw which version they were (`observed`), which today's path learns after."""
    return {d: 0 if d in context.observed else n for d, n in context.versions_read.items()}


def versions_noted(context: CityContext) -> dict[str, Any]:
    """What a request noted of the versions it read, for its citation (schema.as_of).

    Two fields that read one dataset at two versions make the answer uncitable
    (`mixed_versions`); which of them is noted last depends on when each path's reads finish,
    and no citation reads it: then only which datasets were read is compared.
    """
    read: Any = noted_reads(context)
    if context.mixed_versions:
        read = sorted(read)
    return {
        "read": read,
        "mixed": context.mixed_versions,
        "as_of": {
            key: (
                snapshot.moment,
                snapshot.pinned,
                snapshot.others_live,
                snapshot is context.pins,
            )
            for key, snapshot in context.as_of.items()
        },
    }


async def both_paths_agree(
    backend: Backend,
    query: str,
    variables: dict[str, Any],
    principal: Principal,
    *,
    pins: dict[str, int] | None = None,
) -> None:
    today = await answer(backend, query, variables, principal, compiled=False, pins=pins)
    compiled = await answer(backend, query, variables, principal, compiled=True, pins=pins)
    assert compiled == today, query


PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@PROFILE
@given(
    case=operations(
        ["bikeStations", "districts", "quartiers", "buildingPermits", "airQualityMeasurements"]
    ),
    tier=st.sampled_from(["anonymous", "app"]),
)
async def test_public_operations_agree(
    backend: Backend, case: tuple[str, dict[str, Any]], tier: str
) -> None:
    await both_paths_agree(backend, *case, TIERS[tier])


@PROFILE
@given(case=operations(), tier=st.sampled_from(sorted(TIERS)))
async def test_every_dataset_and_tier_agrees(
    backend: Backend, case: tuple[str, dict[str, Any]], tier: str
) -> None:
    await both_paths_agree(backend, *case, TIERS[tier])


AGGREGATE = """
{ bikeStationsAggregate(groupBy: [DISTRICT_CODE]) {
    __typename key { districtCode } count sum { capacity } avg { capacity } max { capacity } } }
"""


async def test_an_aggregate_compiles_and_agrees(backend: Backend) -> None:
    data, context = await compiled_answer(backend, AGGREGATE, ANONYMOUS)
    groups = data["bikeStationsAggregate"]
    assert [g["key"]["districtCode"] for g in groups] == ["75101", "75102", "75103", None]
    assert sum(g["count"] for g in groups) == 30
    assert context.datasets_read == {"bikeStations"}
    await both_paths_agree(backend, AGGREGATE, {}, ANONYMOUS)


async def test_an_aggregate_without_group_by_compiles(backend: Backend) -> None:
    """One group: no ORDER BY in its array (PostgreSQL's aggregate_order_by refuses an empty one)."""
    query = "{ bikeStationsAggregate { count sum { capacity } } }"
    data, _context = await compiled_answer(backend, query, ANONYMOUS)
    assert data["bikeStationsAggregate"][0]["count"] == 30
    await both_paths_agree(backend, query, {}, ANONYMOUS)


NESTED = """
query Nested($first: Int) {
  bikeStations(first: $first) { edges { cursor node { id district { name } } } }
  districts { totalCount nodes { code bikeStations(first: 2) { totalCount nodes { id } } } }
  district(code: "75101") { name quartiers { nodes { code } } }
}
"""


async def test_a_compiled_root_field_costs_one_statement(backend: Backend) -> None:
    """Three root fields, two of them nested: three statements, where today's path sends more."""
    engines = list(backend.city.databases.engines())
    with StatementCounter(iter(engines)) as today:
        await answer(backend, NESTED, {"first": 5}, ANONYMOUS, compiled=False)
    with StatementCounter(iter(engines)) as compiled:
        await answer(backend, NESTED, {"first": 5}, ANONYMOUS, compiled=True)
    assert len(compiled.statements) == 3
    assert len(today.statements) > 3
    await both_paths_agree(backend, NESTED, {"first": 5}, ANONYMOUS)


@pytest.mark.parametrize("direction", ["first", "last"])
async def test_a_page_without_page_info_reads_the_page_alone(
    backend: Backend, direction: str
) -> None:
    """No `pageInfo`: no row past the page (is there more?) and no ranking window, the rows of a
    hand-written statement, in the same order either way; with it, both are back."""
    engines = list(backend.city.databases.engines())
    lean = f"{{ bikeStations({direction}: 4) {{ totalCount nodes {{ id }} }} }}"
    ranked = f"{{ bikeStations({direction}: 4) {{ pageInfo {{ hasNextPage }} nodes {{ id }} }} }}"
    statements = []
    for query in (lean, ranked):
        with StatementCounter(iter(engines)) as counted:
            data, _context = await compiled_answer(backend, query, ANONYMOUS)
        (statement,) = counted.statements
        statements.append(statement.lower())
        ids = [n["id"] for n in data["bikeStations"]["nodes"]]
        numbers = range(4) if direction == "first" else range(26, 30)
        assert ids == [f"S{n:03d}" for n in numbers]
        await both_paths_agree(backend, query, {}, ANONYMOUS)
    assert "row_number" not in statements[0]
    assert "row_number" in statements[1]


async def test_a_field_the_planner_does_not_know_falls_back_alone(backend: Backend) -> None:
    """A restricted list next to a public one: the public one compiles, the other runs as today."""
    query = "{ bikeStations(first: 2) { nodes { id } } residents(first: 2) { nodes { id } } }"
    engines = list(backend.city.databases.engines())
    with StatementCounter(iter(engines)) as counted:
        result = await answer(backend, query, {}, ANONYMOUS, compiled=True)
    assert result["data"]["bikeStations"] == {"nodes": [{"id": "S000"}, {"id": "S001"}]}
    assert result["data"]["residents"] is None
    assert [e["code"] for e in result["errors"]] == ["UNAUTHENTICATED"]
    assert len(counted.statements) == 1  # the denied list never reached the database
    await both_paths_agree(backend, query, {}, ANONYMOUS)


async def test_an_as_of_the_city_cannot_answer_is_handed_back_and_its_sibling_compiles(
    backend: Backend,
) -> None:
    """This city has no versions yet: the compiled path finds it out (schema.compiled.versions)
    and hands the field to today's path, which answers with its error; the live field compiles.
    tests/schema/test_compiled_as_of.py reads a city that has a history."""
    query = (
        "{ live: bikeStations(first: 2) { nodes { id } } "
        'pinned: bikeStations(first: 2, asOf: "bikeStations@1") { nodes { id } } }'
    )
    context = CityContext(loaders=backend.city.loaders(), principal=ANONYMOUS, compiled=True)
    result = await GATEWAY.execute(query, context_value=context)
    assert result.data is not None
    assert isinstance(result.data["live"], orjson.Fragment)
    assert result.data["pinned"] is None
    assert [e.message for e in result.errors or ()] == [
        "bikeStations@1 is not a version of bikeStations"
    ]
    assert noted_reads(context) == {"bikeStations": 0}  # noted for the answer's citation
    await both_paths_agree(backend, query, {}, ANONYMOUS)


async def compiled_answer(
    backend: Backend, query: str, principal: Principal
) -> tuple[dict[str, Any], CityContext]:
    """The compiled path's answer, asserting that every root field took it."""
    context = CityContext(loaders=backend.city.loaders(), principal=principal, compiled=True)
    result = await GATEWAY.execute(query, context_value=context)
    assert result.data is not None
    assert all(isinstance(v, orjson.Fragment) for v in result.data.values()), result.data
    # the database's JSON is orjson's own form (but for stored GeoJSON, which is embedded as
    # written): a citation hashes it without parsing it again (api.citing.canonical)
    if not context.spaced_json:
        for fragment in result.data.values():
            text = orjson.dumps(fragment)
            assert orjson.dumps(orjson.loads(text)) == text, text
    return orjson.loads(orjson.dumps(result.data)), context


async def test_a_staff_read_with_a_purpose_compiles_and_names_whom_it_read(
    backend: Backend,
) -> None:
    query = "{ residents(first: 3) { totalCount nodes { id familyName } } }"
    data, context = await compiled_answer(backend, query, TIERS["staff_purpose"])
    assert [n["id"] for n in data["residents"]["nodes"]] == ["R0", "R1", "R2"]
    assert context.restricted
    assert context.restricted_read
    assert context.subjects == {"R0", "R1", "R2"}
    assert context.fields_read == {"Query.residents", "Resident.id", "Resident.familyName"}
    await both_paths_agree(backend, query, {}, TIERS["staff_purpose"])


async def test_a_citizen_reads_their_own_rows_compiled(backend: Backend) -> None:
    query = "{ benefitCases { nodes { id residentId monthlyAmountEur } } }"
    data, context = await compiled_answer(backend, query, TIERS["citizen"])
    assert {n["residentId"] for n in data["benefitCases"]["nodes"]} == {"R1"}
    assert context.subjects == {"R1"}
    await both_paths_agree(backend, query, {}, TIERS["citizen"])


CITIZEN_LOOKUP = "query Own($id: String!) { resident(id: $id) { __typename id familyName } }"


async def test_a_citizen_s_lookup_of_their_own_row_compiles_in_one_statement(
    backend: Backend,
) -> None:
    engines = list(backend.city.databases.engines())
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS["citizen"], compiled=True)
    with StatementCounter(iter(engines)) as counted:
        result = await GATEWAY.execute(
            CITIZEN_LOOKUP, variable_values={"id": "R1"}, context_value=context
        )
    assert result.errors is None
    assert result.data is not None
    assert isinstance(result.data["resident"], orjson.Fragment)
    assert len(counted.statements) == 1
    assert orjson.loads(orjson.dumps(result.data))["resident"]["id"] == "R1"
    assert context.subjects == {"R1"}
    assert context.fields_read == {"Query.resident", "Resident.id", "Resident.familyName"}
    await both_paths_agree(backend, CITIZEN_LOOKUP, {"id": "R1"}, TIERS["citizen"])


@pytest.mark.parametrize("resident", ["R4", "R404"])
async def test_a_citizen_s_lookup_of_another_row_or_none_agrees(
    backend: Backend, resident: str
) -> None:
    """Someone else's row is handed back to today's path, which refuses it and notes the
    denial; a row that is not there is a null, compiled, noting the citizen as its subject."""
    context = CityContext(loaders=backend.city.loaders(), principal=TIERS["citizen"], compiled=True)
    result = await GATEWAY.execute(
        CITIZEN_LOOKUP, variable_values={"id": resident}, context_value=context
    )
    assert result.data == {"resident": None}
    if resident == "R4":
        assert [(e.extensions or {})["code"] for e in result.errors or ()] == ["FORBIDDEN"]
        assert context.denials == ["FORBIDDEN"]
    else:
        assert result.errors is None
        assert context.subjects == {"R1"}
    await both_paths_agree(backend, CITIZEN_LOOKUP, {"id": resident}, TIERS["citizen"])


async def test_a_staff_member_without_a_purpose_gets_today_s_denial(backend: Backend) -> None:
    query = "{ residents(first: 3) { nodes { id } } bikeStations(first: 1) { nodes { id } } }"
    today = await answer(backend, query, {}, TIERS["staff"], compiled=False)
    assert [e["code"] for e in today["errors"]] == ["PURPOSE_REQUIRED"]
    await both_paths_agree(backend, query, {}, TIERS["staff"])
