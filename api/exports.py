"""CSV and GeoJSON exports of any list result, through the GraphQL schema itself (docs/exports.md).

`GET /export/{dataset}.csv|.geojson?where=&orderBy=` builds the query of a dataset's readable
columns; `POST /export?format=` takes a GraphQL request whose result holds one connection. Both
then run the same plan: the connection field is rewritten to walk its keyset pages
(`first: $_cgFirst, after: $_cgAfter`, plus `pageInfo` and, on the first page, `totalCount`), and
every page is executed by the gateway schema with the caller's context. Validation, limits and
access rules are therefore GraphQL's own; an export never has a rule of its own to get wrong.

The first page runs before the response starts, so that any error (a restricted dataset or field,
a bad filter, too many rows) is an error response without data. A failure on a later page can no
longer change the status: the stream is cut short, which HTTP clients report as an incomplete body.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    Visitor,
    get_nullable_type,
    get_operation_ast,
    parse,
    print_ast,
    validate,
    value_from_ast,
    visit,
)
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from strawberry import Schema
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.types.graphql import OperationType as StrawberryOperation

from api.graphql_view import (
    JSON,
    CityGraphQL,
    RequestError,
    decode_json,
    error_response,
    format_errors,
    request_params,
)
from api.limits import BodyTooLarge
from api.settings import Settings
from auth.policy import can_read
from schema.context import CityContext
from schema.datasets import Catalog, DatasetSpec
from schema.dcat import Credit, credit
from schema.loaders import Loaders

log = structlog.get_logger("citygraph.exports")

CSV_MEDIA = "text/csv; charset=utf-8; header=present"
GEOJSON_MEDIA = "application/geo+json"
FORMATS = ("csv", "geojson")
# Names the rewrite adds to the client's document; a leading underscore keeps them apart from
# anything generated from the models (camelCase column names).
_PAGING = parse(
    "query($_cgFirst: Int!, $_cgAfter: String, $_cgWithTotal: Boolean!) {"
    " c(first: $_cgFirst, after: $_cgAfter) {"
    " _cgPage: pageInfo { hasNextPage endCursor } _cgTotal: totalCount @include(if: $_cgWithTotal) } }"
)
PAGING_VARIABLES = frozenset({"_cgFirst", "_cgAfter", "_cgWithTotal"})
_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "PURPOSE_REQUIRED": 403,
    "INTERNAL_SERVER_ERROR": 500,
}


class Refused(Exception):
    """An export answered with GraphQL errors and no data."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.status = status
        self.errors = errors

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        body = orjson.dumps({"errors": self.errors})
        return Response(body, status_code=self.status, media_type=JSON, headers=headers)


@dataclass(frozen=True, slots=True)
class Column:
    """One output column: a leaf of the node selection, by response keys and by schema fields."""

    keys: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.keys)

    def value(self, node: Any) -> Any:
        for key in self.keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node


@dataclass(frozen=True, slots=True)
class Plan:
    """How to walk one connection of a document page by page."""

    spec: DatasetSpec
    document: str
    operation_name: str | None
    variables: dict[str, Any]
    path: tuple[str, ...]
    rows: tuple[str, ...]
    """Keys from the connection to its list of nodes: ("nodes",) or ("edges", "node")."""
    columns: tuple[Column, ...]
    limit: int | None
    after: str | None


# planning ------------------------------------------------------------------------------------

Fragments = dict[str, FragmentDefinitionNode]


def _bad(message: str) -> Refused:
    return Refused(400, [{"message": message, "extensions": {"code": "BAD_REQUEST"}}])


def _fields(selection_set: SelectionSetNode | None, fragments: Fragments) -> Iterator[FieldNode]:
    """The fields of a selection set with fragments expanded (the schema has no abstract types)."""
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _fields(fragments[selection.name.value].selection_set, fragments)


def _key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


def _object_type(schema: GraphQLSchema, name: str) -> GraphQLObjectType:
    kind = schema.get_type(name)
    if not isinstance(kind, GraphQLObjectType):
        raise TypeError(f"{name} is not an object type of the schema")
    return kind


def _connections(
    selection_set: SelectionSetNode | None,
    parent: GraphQLObjectType,
    fragments: Fragments,
    specs: dict[str, DatasetSpec],
    path: tuple[str, ...] = (),
) -> Iterator[tuple[FieldNode, tuple[str, ...], DatasetSpec]]:
    """Connection fields reachable from `parent` through objects (not lists), with their paths."""
    for field in _fields(selection_set, fragments):
        definition = parent.fields.get(field.name.value)
        kind = get_nullable_type(definition.type) if definition else None
        if not isinstance(kind, GraphQLObjectType):  # leaves, and lists: one connection per item
            continue
        here = (*path, _key(field))
        if kind.name in specs:
            yield field, here, specs[kind.name]
        else:
            yield from _connections(field.selection_set, kind, fragments, specs, here)


def _columns(
    selection_set: SelectionSetNode | None,
    parent: GraphQLObjectType,
    fragments: Fragments,
    keys: tuple[str, ...] = (),
    fields: tuple[str, ...] = (),
) -> Iterator[Column]:
    """The leaves of a node selection; nested objects give dotted columns (`district.name`)."""
    for field in _fields(selection_set, fragments):
        here = (*keys, _key(field)), (*fields, field.name.value)
        definition = parent.fields.get(field.name.value)
        kind = get_nullable_type(definition.type) if definition else None
        if isinstance(kind, GraphQLObjectType):
            yield from _columns(field.selection_set, kind, fragments, *here)
        else:  # scalars, enums, __typename, and lists (a list is one cell, as JSON)
            yield Column(*here)


def _argument(field: FieldNode, name: str, kind: Any, variables: dict[str, Any]) -> Any:
    for argument in field.arguments or ():
        if argument.name.value == name:
            value = value_from_ast(argument.value, kind, variables)
            return None if value is Undefined else value
    return None


def _rows(connection: FieldNode, fragments: Fragments) -> tuple[tuple[str, ...], FieldNode]:
    """Keys from the connection to its nodes, and the field that selects a node."""
    inside = {f.name.value: f for f in _fields(connection.selection_set, fragments)}
    if "nodes" in inside:
        return (_key(inside["nodes"]),), inside["nodes"]
    if "edges" in inside:
        for field in _fields(inside["edges"].selection_set, fragments):
            if field.name.value == "node":
                return (_key(inside["edges"]), _key(field)), field
    raise _bad("select the connection's `nodes` (or `edges { node }`) to export")


def _parse(schema: GraphQLSchema, query: str, max_tokens: int) -> DocumentNode:
    try:
        document = parse(query, max_tokens=max_tokens)
    except GraphQLSyntaxError as exc:
        error = {"message": exc.message, "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}
        raise Refused(400, [error]) from exc
    errors = validate(schema, document, hide_suggestions=True)
    if errors:
        code = {"code": "GRAPHQL_VALIDATION_FAILED"}
        raise Refused(400, [{**e.formatted, "extensions": code} for e in errors])
    return document


def plan_export(
    schema: GraphQLSchema,
    catalog: Catalog,
    request: GraphQLRequestData,
    *,
    max_tokens: int,
) -> Plan:
    """The paging plan of a client's GraphQL request, or Refused when it cannot be exported."""
    document = _parse(schema, request.query or "", max_tokens)
    operation = get_operation_ast(document, request.operation_name)
    if operation is None:
        raise _bad("name the operation to export with `operationName`")
    if operation.operation is not OperationType.QUERY:
        raise _bad("only queries can be exported")
    reserved = {
        v.variable.name.value for v in operation.variable_definitions or ()
    } & PAGING_VARIABLES
    if reserved:
        raise _bad(f"variables named {sorted(reserved)} are reserved by exports")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    specs = {f"{s.type_name}Connection": s for s in catalog.datasets}
    root = _object_type(schema, "Query")
    found = list(_connections(operation.selection_set, root, fragments, specs))
    if len(found) != 1:
        raise _bad(
            f"select exactly one connection, outside any list; the query selects {len(found)}"
        )
    target, path, spec = found[0]
    if any(a.name.value in ("last", "before") for a in target.arguments or ()):
        raise _bad("exports walk forwards: sort with orderBy (DESC) instead of last/before")
    variables = dict(request.variables or {})
    rows, node = _rows(target, fragments)
    node_type = _object_type(schema, spec.type_name)
    return Plan(
        spec=spec,
        document=print_ast(_rewrite(document, operation, target)),
        operation_name=operation.name.value if operation.name else None,
        variables=variables,
        path=path,
        rows=rows,
        columns=tuple(dict.fromkeys(_columns(node.selection_set, node_type, fragments))),
        limit=_argument(target, "first", GraphQLInt, variables),
        after=_argument(target, "after", GraphQLString, variables),
    )


def _paging_nodes() -> tuple[OperationDefinitionNode, FieldNode, SelectionSetNode]:
    operation = _PAGING.definitions[0]
    if not isinstance(operation, OperationDefinitionNode):
        raise TypeError("the paging template is one operation")
    field = operation.selection_set.selections[0]
    if not isinstance(field, FieldNode) or field.selection_set is None:
        raise TypeError("the paging template selects one connection")
    return operation, field, field.selection_set


def _rewrite(
    document: DocumentNode, operation: OperationDefinitionNode, target: FieldNode
) -> DocumentNode:
    """The document with the target connection paged by the export's own variables."""
    paging_operation, paging_field, paging_selection = _paging_nodes()

    class Rewrite(Visitor):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            if node is not operation:
                return None
            variables = (
                *(node.variable_definitions or ()),
                *(paging_operation.variable_definitions or ()),
            )
            return dataclasses.replace(node, variable_definitions=variables)

        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            if node is not target or node.selection_set is None:
                return None
            kept = tuple(a for a in node.arguments or () if a.name.value not in ("first", "after"))
            selections = (*node.selection_set.selections, *paging_selection.selections)
            return dataclasses.replace(
                node,
                arguments=(*kept, *(paging_field.arguments or ())),
                selection_set=dataclasses.replace(node.selection_set, selections=selections),
            )

    edited: DocumentNode = visit(document, Rewrite())
    return edited


def dataset_query(spec: DatasetSpec, context: CityContext) -> str:
    """The export query of a whole dataset: every column the caller may read."""
    readable = [c for c in spec.columns if can_read(context.principal, c.access) is None]
    # nothing readable: ask for the key anyway, so that the access rule answers for itself
    selected = readable or list(spec.primary_key)
    inputs = f"$where: {spec.type_name}Filter, $orderBy: [{spec.type_name}OrderBy!]"
    fields = " ".join(c.field_name for c in selected)
    return f"query Export({inputs}) {{ {spec.name}(where: $where, orderBy: $orderBy) {{ nodes {{ {fields} }} }} }}"


# walking -------------------------------------------------------------------------------------


class Walk:
    """The pages of one plan, executed through the schema with one request's context."""

    def __init__(
        self, schema: Schema, plan: Plan, context: CityContext, *, page_size: int, max_rows: int
    ) -> None:
        self.schema, self.plan, self.context = schema, plan, context
        self.page_size, self.max_rows = page_size, max_rows

    async def page(self, after: str | None, first: int, *, with_total: bool) -> dict[str, Any]:
        # fresh loaders per page: a long export must not keep every row it loaded in memory
        self.context.loaders = Loaders(self.context.loaders.repositories)
        variables = {
            **self.plan.variables,
            "_cgFirst": first,
            "_cgAfter": after,
            "_cgWithTotal": with_total,
        }
        result = await self.schema.execute(
            self.plan.document,
            variable_values=variables,
            context_value=self.context,
            operation_name=self.plan.operation_name,
            allowed_operation_types=(StrawberryOperation.QUERY,),
        )
        if result.errors:
            errors, _ = format_errors(result)
            codes = [e["extensions"]["code"] for e in errors]
            raise Refused(next((_STATUS[c] for c in _STATUS if c in codes), 400), errors)
        connection: Any = result.data
        for key in self.plan.path:
            connection = connection.get(key) if isinstance(connection, dict) else None
        return connection or {"_cgPage": {"hasNextPage": False, "endCursor": None}, "_cgTotal": 0}

    def rows(self, connection: dict[str, Any]) -> list[Any]:
        nodes = connection.get(self.plan.rows[0]) or []
        if len(self.plan.rows) == 2:
            nodes = [edge.get(self.plan.rows[1]) for edge in nodes]
        return list(nodes)

    async def first(self) -> tuple[list[Any], dict[str, Any]]:
        """The first page, after checking the export's size; raises Refused before any data."""
        wanted = self.plan.limit
        first = self.page_size if wanted is None else max(0, min(self.page_size, wanted))
        connection = await self.page(self.plan.after, first, with_total=True)
        total = connection.get("_cgTotal") or 0
        size = total if wanted is None else min(total, wanted)
        if size > self.max_rows:
            message = f"this export holds {size} rows, more than the limit of {self.max_rows}"
            extensions = {"code": "EXPORT_TOO_LARGE", "rows": size, "limit": self.max_rows}
            raise Refused(
                400, [{"message": f"{message}: narrow it with `where`", "extensions": extensions}]
            )
        return self.rows(connection), connection["_cgPage"]

    async def rest(self, sent: int, page_info: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """The following pages; raises (cutting the stream) if the data grew past the limit."""
        cap = self.max_rows if self.plan.limit is None else min(self.plan.limit, self.max_rows)
        while page_info["hasNextPage"] and sent < cap:
            connection = await self.page(
                page_info["endCursor"], min(self.page_size, cap - sent), with_total=False
            )
            rows = self.rows(connection)
            sent += len(rows)
            page_info = connection["_cgPage"]
            yield rows
        if self.plan.limit is None and page_info["hasNextPage"]:
            raise RuntimeError(f"export passed {self.max_rows} rows while it ran; cut short")


# formats -------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A CSV cell of a GraphQL value: empty for null, JSON for objects and lists."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def csv_lines(rows: list[list[str]]) -> bytes:
    """RFC 4180 records: CRLF line ends, quotes only where needed, doubled inside."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


class GeoJSONWriter:
    """Features of one plan: the geometry column when selected, else a Point of latitude/longitude."""

    def __init__(self, plan: Plan) -> None:
        spec, by_field = plan.spec, {c.fields: c for c in plan.columns}

        def selected(role: str) -> Column | None:
            column = spec.role(role)
            return by_field.get((column.field_name,)) if column else None

        self.geometry = selected("geometry")
        lat, lon = selected("latitude"), selected("longitude")
        self.point = (lat, lon) if lat and lon else None
        if self.geometry is None and self.point is None:
            names = {
                r: c.field_name
                for r in ("geometry", "latitude", "longitude")
                if (c := spec.role(r))
            }
            options = [f"`{names['geometry']}`"] if "geometry" in names else []
            if "latitude" in names and "longitude" in names:
                options.append(f"`{names['latitude']}` and `{names['longitude']}`")
            if not options:
                raise _bad(f"{spec.name} has no location: export it as CSV")
            raise _bad(f"select {' or '.join(options)} to export GeoJSON")
        key = spec.primary_key[0].field_name if len(spec.primary_key) == 1 else None
        self.id = by_field.get((key,)) if key else None
        self.properties = [c for c in plan.columns if c is not self.geometry]

    def feature(self, node: Any) -> dict[str, Any]:
        geometry = self.geometry.value(node) if self.geometry else None
        if self.geometry is None and self.point is not None:
            lat, lon = (c.value(node) for c in self.point)
            # RFC 7946 puts longitude first
            if lat is not None and lon is not None:
                geometry = {"type": "Point", "coordinates": [lon, lat]}
        feature: dict[str, Any] = {"type": "Feature"}
        if self.id is not None and self.id.value(node) is not None:
            feature["id"] = self.id.value(node)
        feature["geometry"] = geometry
        feature["properties"] = {c.name: c.value(node) for c in self.properties}
        return feature


def metadata(spec: DatasetSpec, settings: Settings, credit: Credit) -> dict[str, Any]:
    """Licence and attribution of a dataset, as the GeoJSON's top-level properties."""
    m = spec.meta
    return {
        "dataset": m.name,
        "title": m.title,
        "publisher": credit.publisher,
        "license": credit.license,
        "licenseUrl": credit.license_url,
        "attribution": credit.attribution,
        "source": credit.source,
        "synthetic": credit.synthetic,
        "catalog": f"{settings.base_url}/catalog.jsonld",
        "exportedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# endpoints -----------------------------------------------------------------------------------


class Exports:
    """The export endpoints of one app."""

    def __init__(
        self, schema: Schema, catalog: Catalog, graphql_app: CityGraphQL, settings: Settings
    ) -> None:
        self.schema = schema
        self.catalog = catalog
        self.graphql_app = graphql_app
        self.settings = settings
        self.datasets = {s.name: s for s in catalog.datasets}

    def routes(self) -> list[Route]:
        return [
            Route("/export/{dataset}.{format}", self.dataset_export, methods=["GET"]),
            Route("/export", self.query_export, methods=["POST"]),
        ]

    async def dataset_export(self, request: Request) -> Response:
        """`GET /export/{dataset}.csv|.geojson?where=&orderBy=`: every matching row."""
        try:
            name, fmt = request.path_params["dataset"], request.path_params["format"]
            spec = self.datasets.get(name)
            if spec is None:
                message = f"no dataset named {name!r}; /catalog.jsonld lists them"
                raise RequestError(404, message, code="NOT_FOUND")
            if fmt not in FORMATS:
                raise RequestError(404, f"exports come as {' or '.join(FORMATS)}", code="NOT_FOUND")
            unknown = sorted(set(request.query_params) - {"where", "orderBy"})
            if unknown:
                raise RequestError(
                    400, f"unknown parameter(s) {unknown}: exports take `where` and `orderBy`"
                )
            variables = {
                name: decode_json(value, f"`{name}` parameter")
                for name, value in request.query_params.items()
            }
            context = await self.graphql_app.get_context(request, Response())
            query = dataset_query(spec, context)
            return await self._export(
                request_params({"query": query, "variables": variables}), fmt, context
            )
        except Exception as exc:  # every failure becomes an error body
            return self._refusal(exc)

    async def query_export(self, request: Request) -> Response:
        """`POST /export?format=csv|geojson` with a GraphQL request holding one connection."""
        try:
            fmt = request.query_params.get("format")
            if fmt not in FORMATS:
                raise RequestError(400, f"pass ?format={' or ?format='.join(FORMATS)}")
            content_type, _ = parse_content_type(request.headers.get("content-type", ""))
            if content_type != JSON:
                raise RequestError(415, "send the GraphQL request as application/json")
            params = request_params(decode_json(await request.body()))
            context = await self.graphql_app.get_context(request, Response())
            return await self._export(params, fmt, context)
        except Exception as exc:  # every failure becomes an error body
            return self._refusal(exc)

    def _refusal(self, exc: Exception) -> Response:
        if isinstance(exc, Refused):
            return exc.response()
        if isinstance(exc, RequestError):
            return error_response(exc)
        if isinstance(exc, BodyTooLarge):
            raise exc  # api.limits.BodySizeLimit answers 413
        log.error("unhandled error in an export", exc_info=exc)
        return error_response(RequestError(500, "Unexpected error.", code="INTERNAL_SERVER_ERROR"))

    async def _export(
        self, request: GraphQLRequestData, fmt: str, context: CityContext
    ) -> Response:
        max_tokens = self.settings.max_tokens
        plan = plan_export(self.schema._schema, self.catalog, request, max_tokens=max_tokens)
        page_size, max_rows = self.settings.page_max, self.settings.export_max_rows
        walk = Walk(self.schema, plan, context, page_size=page_size, max_rows=max_rows)
        # the first page before any other refusal: access errors must not be hidden by ours
        rows, page_info = await walk.first()
        geojson = GeoJSONWriter(plan) if fmt == "geojson" else None
        spec = plan.spec
        # credit whoever made the rows being served: generated demo rows credit nobody else
        rights = credit(spec, (await context.loaders.loads()).get(spec.name))

        async def pages() -> AsyncIterator[list[Any]]:
            yield rows
            async for page in walk.rest(len(rows), page_info):
                yield page

        async def csv_body() -> AsyncIterator[bytes]:
            yield csv_lines([[c.name for c in plan.columns]])
            async for page in pages():
                yield csv_lines([[cell(c.value(r)) for c in plan.columns] for r in page])

        async def geojson_body(writer: GeoJSONWriter) -> AsyncIterator[bytes]:
            head = {
                "type": "FeatureCollection",
                "properties": metadata(spec, self.settings, rights),
            }
            yield orjson.dumps(head)[:-1] + b',"features":['
            separator = b""
            async for page in pages():
                if page:
                    yield separator + b",".join(orjson.dumps(writer.feature(r)) for r in page)
                    separator = b","
            yield b"]}"

        return StreamingResponse(
            csv_body() if geojson is None else geojson_body(geojson),
            media_type=CSV_MEDIA if geojson is None else GEOJSON_MEDIA,
            headers={
                "Content-Disposition": f'attachment; filename="{spec.name}.{fmt}"',
                "Link": f'<{rights.license_url}>; rel="license"',
                "X-License": rights.license,
                # header values are ASCII; attributions are not (« », accents): percent-encoded UTF-8
                "X-Attribution": quote(rights.attribution, safe=" ,;:/()'.-"),
            },
        )
