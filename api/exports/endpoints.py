"""The export endpoints: `GET /export/{dataset}.{format}` and `POST /export?format=`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from strawberry import Schema
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type

from api.citing import Citer, RowsHash
from api.exchange import JSON, RequestError, decode_json, error_response, request_params
from api.exports.formats import (
    CSV_MEDIA,
    FORMATS,
    GEOJSON_MEDIA,
    GeoJSONWriter,
    csv_body,
    metadata,
)
from api.exports.plan import dataset_query, plan_export
from api.exports.recording import ExportRecord
from api.exports.refusals import Refused
from api.exports.walk import Walk
from api.graphql_errors import INTERNAL
from api.graphql_view import CityGraphQL
from api.limits import BodyTooLarge
from api.settings import Settings
from schema.context import CityContext
from schema.datasets import Catalog
from schema.dcat import credit
from storage.versions import version_id

log = structlog.get_logger("citygraph.exports")


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
        self.citer: Citer | None = None
        """Cites public exports (docs/citations.md), set by create_app when citations are on."""

    def routes(self) -> list[Route]:
        return [
            Route("/export/{dataset}.{format}", self.dataset_export, methods=["GET"]),
            Route("/export", self.query_export, methods=["POST"]),
        ]

    async def dataset_export(self, request: Request) -> Response:
        """`GET /export/{dataset}.csv|.geojson?where=&orderBy=`: every matching row."""
        record = ExportRecord(self.graphql_app.audit, request)
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
            params = request_params({"query": query, "variables": variables})
            return await self._export(params, fmt, context, record)
        except Exception as exc:  # every failure becomes an error body
            return self._refusal(exc, record)

    async def query_export(self, request: Request) -> Response:
        """`POST /export?format=csv|geojson` with a GraphQL request holding one connection."""
        record = ExportRecord(self.graphql_app.audit, request)
        try:
            fmt = request.query_params.get("format")
            if fmt not in FORMATS:
                raise RequestError(400, f"pass ?format={' or ?format='.join(FORMATS)}")
            content_type, _ = parse_content_type(request.headers.get("content-type", ""))
            if content_type != JSON:
                raise RequestError(415, "send the GraphQL request as application/json")
            params = request_params(decode_json(await request.body()))
            context = await self.graphql_app.get_context(request, Response())
            return await self._export(params, fmt, context, record)
        except Exception as exc:  # every failure becomes an error body
            return self._refusal(exc, record)

    def _refusal(self, exc: Exception, record: ExportRecord) -> Response:
        if isinstance(exc, Refused):
            record.refused(exc.status, exc.codes)
            return exc.response()
        if isinstance(exc, RequestError):
            record.refused(exc.status, [exc.code])
            return error_response(exc)
        if isinstance(exc, BodyTooLarge):
            record.refused(413, ["PAYLOAD_TOO_LARGE"])
            raise exc  # api.limits.BodySizeLimit answers 413
        log.error("unhandled error in an export", exc_info=exc)
        record.refused(500, [INTERNAL])
        return error_response(RequestError(500, "Unexpected error.", code=INTERNAL))

    async def _export(
        self, request: GraphQLRequestData, fmt: str, context: CityContext, record: ExportRecord
    ) -> Response:
        max_tokens = self.settings.max_tokens
        plan = plan_export(self.schema._schema, self.catalog, request, max_tokens=max_tokens)
        record.follow(context, document=request.query, operation=plan.operation_name)
        page_size, max_rows = self.settings.page_max, self.settings.export_max_rows
        walk = Walk(self.schema, plan, context, page_size=page_size, max_rows=max_rows)
        if self.citer is not None and plan.spec.versioned:
            # every page from the same versions, so that the file is one citable answer
            context.pins = await self.citer.pins()
        # the first page before any other refusal: access errors must not be hidden by ours
        rows, page_info = await walk.first()
        citation = None
        if self.citer is not None and context.pins is not None:
            citation = await self.citer.cite_export(context, request, export_format=fmt)
        hashed = RowsHash()
        geojson = GeoJSONWriter(plan) if fmt == "geojson" else None
        spec = plan.spec
        # credit whoever made the rows being served: generated demo rows credit nobody else
        rights = credit(spec, (await context.loaders.loads()).get(spec.name))
        restricted = record.restricted

        async def pages() -> AsyncIterator[list[Any]]:
            hashed.update(rows)
            yield rows
            async for page in walk.rest(len(rows), page_info):
                if record.restricted and not restricted:
                    # streaming began under a public export's record: restricted rows never follow
                    raise RuntimeError("a later page of an export read restricted data; cut short")
                hashed.update(page)
                yield page
            if citation is not None and self.citer is not None:
                # the whole file was read: its hash completes the citation
                await self.citer.store.complete(citation.id, hashed.hexdigest())

        if geojson is None:
            body = csv_body(plan, pages())
        else:
            properties = metadata(spec, self.settings, rights)
            if citation is not None and self.citer is not None:
                properties["citation"] = self.citer.url(citation.id)
                properties["versions"] = sorted(
                    version_id(n, v) for n, v in citation.versions.items()
                )
            body = geojson.body(properties, pages())
        media_type = CSV_MEDIA if geojson is None else GEOJSON_MEDIA
        headers = {
            "Content-Disposition": f'attachment; filename="{spec.name}.{fmt}"',
            "Link": f'<{rights.license_url}>; rel="license"',
            "X-License": rights.license,
            # header values are ASCII; attributions are not (« », accents): percent-encoded UTF-8
            "X-Attribution": quote(rights.attribution, safe=" ,;:/()'.-"),
        }
        if citation is not None and self.citer is not None:
            # RFC 8574: the file's permanent citation, also its metadata (a CSV's sidecar)
            url = self.citer.url(citation.id)
            headers["Link"] += f', <{url}>; rel="cite-as", <{url}>; rel="describedby"'
            headers["X-Citation"] = url
        if restricted:
            # every page is read before the record is committed, so that it lists every subject
            # read, and before anything is sent (fail closed); exports are capped at max_rows
            content = b"".join([chunk async for chunk in body])
            await record.secure()
            return Response(content, media_type=media_type, headers=headers)
        record.spool(200)
        return StreamingResponse(body, media_type=media_type, headers=headers)
