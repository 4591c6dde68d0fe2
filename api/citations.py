"""`GET /cite/{id}` and `POST /cite/verify`: anyone can check a cited answer (docs/citations.md).

`/cite/{id}` shows what was asked (document, operation, variables), the version of each dataset
read with its licence and attribution, and runs the document again pinned to those versions:
the answer and its SHA-256 are shown beside the stored one. JSON by default, the HTML page for
a browser (Accept prefers text/html). `/cite/verify` takes a saved answer and says whether its
`data` is the one cited, without running anything.

Reading a citation is an access like any other: one access record per request (api.exports'
recording, the same hook as `/graphql`). The re-run is anonymous: only public answers are cited.
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from strawberry.http import GraphQLRequestData
from strawberry.types.graphql import OperationType

from api.accept import accepted
from api.citing import Citer, RowsHash, answer_sha256, canonical
from api.exchange import exchange_of
from api.exports.plan import plan_export
from api.exports.recording import ExportRecord
from api.exports.refusals import Refused
from api.exports.walk import Walk
from api.limits import error_body
from api.settings import Settings
from audit.hook import RequestAudit
from auth.principal import ANONYMOUS
from schema.as_of import Snapshot
from schema.context import CityContext
from schema.dcat import credit
from storage.citations import Citation
from storage.loads import Load
from storage.versions import UnknownVersion, Version, find_version

if TYPE_CHECKING:
    import strawberry

    from api.pages.render import Renderer

CITATION_ID = re.compile(r"[a-z2-7]{26}")
JSON = "application/json"


def _error(status: int, message: str, code: str) -> Response:
    return Response(error_body(message, code), status_code=status, media_type=JSON)


def _prefers_html(request: Request) -> bool:
    quality = accepted(request.headers.get("accept"))
    return quality.get("text/html", 0.0) > max(quality.get(JSON, 0.0), quality.get("*/*", 0.0))


class CitationEndpoints:
    """The citation routes of one app."""

    def __init__(
        self,
        gateway_schema: strawberry.Schema,
        citer: Citer,
        *,
        audit: RequestAudit | None,
        settings: Settings,
        renderer: Renderer | None = None,
    ) -> None:
        self.schema = gateway_schema
        self.citer = citer
        self.settings = settings
        self.audit = audit
        self.renderer = renderer

    def routes(self) -> list[Route]:
        return [
            Route("/cite/verify", self.verify, methods=["POST"]),
            Route("/cite/{citation_id}", self.show, methods=["GET"]),
        ]

    async def rerun(self, citation: Citation, context: CityContext) -> Any:
        """The cited document, run again with every dataset pinned to its cited version."""
        context.pins = Snapshot(pinned=dict(citation.versions))
        return await self.schema.execute(
            citation.document,
            variable_values=copy.deepcopy(citation.variables),
            context_value=context,
            operation_name=citation.operation_name,
            allowed_operation_types={OperationType.QUERY},
        )

    async def rerun_export(self, citation: Citation, context: CityContext) -> tuple[str, int]:
        """A cited export walked again on its versions: the hash of its rows, and how many."""
        request = GraphQLRequestData(
            query=citation.document,
            variables=copy.deepcopy(citation.variables),
            operation_name=citation.operation_name,
            extensions=None,
        )
        catalog = self.citer.city.catalog
        plan = plan_export(
            self.schema._schema, catalog, request, max_tokens=self.settings.max_tokens
        )
        context.pins = Snapshot(pinned=dict(citation.versions))
        walk = Walk(
            self.schema,
            plan,
            context,
            page_size=self.settings.page_max,
            max_rows=self.settings.export_max_rows,
        )
        hashed = RowsHash()
        rows, page_info = await walk.first()
        hashed.update(rows)
        count = len(rows)
        async for page in walk.rest(count, page_info):
            hashed.update(page)
            count += len(page)
        return hashed.hexdigest(), count

    async def _versions(self, citation: Citation) -> list[dict[str, Any]]:
        city = self.citer.city
        described = []
        for dataset, number in sorted(citation.versions.items()):
            spec = city.catalog.by_name(dataset)
            version: Version = await find_version(city.repository(dataset).engine, dataset, number)
            load = Load(dataset, version.origin, version.source, version.created_at, None)  # type: ignore[arg-type]
            who = credit(spec, load)
            described.append(
                {
                    "id": version.id,
                    "dataset": dataset,
                    "title": spec.meta.title,
                    "number": number,
                    "createdAt": version.created_at.isoformat(),
                    "origin": version.origin,
                    "rowCount": version.row_count,
                    "contentSha256": version.content_sha256,
                    "publisher": who.publisher,
                    "license": who.license,
                    "licenseUrl": who.license_url,
                    "attribution": who.attribution,
                    "source": who.source,
                }
            )
        return described

    async def show(self, request: Request) -> Response:
        """A citation, its datasets' versions and credits, and its answer recomputed."""
        citation_id = request.path_params["citation_id"]
        record = ExportRecord(self.audit, request)
        exchange_of(request).principal = ANONYMOUS
        found = (
            await self.citer.store.find(citation_id) if CITATION_ID.fullmatch(citation_id) else None
        )
        if found is None:
            record.refused(404, ["NOT_FOUND"])
            return _error(404, f"there is no citation {citation_id}", "NOT_FOUND")
        context = CityContext(
            loaders=self.citer.city.loaders(),
            principal=ANONYMOUS,
            request_id=exchange_of(request).request_id,
            # pinned runs compile (schema.compiled.versions): the re-run takes the path the
            # answer took, and hashes the same bytes
            compiled=self.settings.compiled,
        )
        record.follow(context, document=found.document, operation=found.operation_name)
        try:
            versions = await self._versions(found)
        except UnknownVersion as exc:  # a republished dataset's versions are gone
            record.refused(410, ["GONE"])
            return _error(410, f"{exc}: this citation can no longer be re-run", "GONE")
        rerun: dict[str, Any]
        if found.export_format is None:
            result = await self.rerun(found, context)
            data = (
                None
                if result.errors or result.data is None
                else canonical(result.data, spaced=context.spaced_json, dotted=context.dotted_json)
            )
            sha = None if data is None else hashlib.sha256(data).hexdigest()
            rerun = {
                "sha256": sha,
                "matches": sha == found.answer_sha256,
                "errors": [e.message for e in result.errors or ()],
                # the canonical form, as a cited answer is sent
                "data": result.data if data is None else orjson.Fragment(data),
            }
        else:
            try:
                sha, rows = await self.rerun_export(found, context)
                rerun = {"sha256": sha, "matches": sha == found.answer_sha256, "rows": rows}
            except Refused as refused:
                errors = [e.get("message", "") for e in refused.errors]
                rerun = {"sha256": None, "matches": False, "errors": errors}
        body = {
            "id": found.id,
            "url": self.citer.url(found.id),
            "createdAt": found.created_at.isoformat() if found.created_at else None,
            "query": found.document,
            "operationName": found.operation_name,
            "variables": found.variables,
            "versions": versions,
            "export": found.export_format,
            "answerSha256": found.answer_sha256,
            "rerun": rerun,
        }
        record.spool(200)
        if self.renderer is not None and _prefers_html(request):
            shown = rerun.get("data")
            if isinstance(shown, orjson.Fragment):  # its canonical bytes, indented for people
                shown = orjson.loads(orjson.dumps(shown))
            answer = orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode()
            variables = orjson.dumps(found.variables, option=orjson.OPT_INDENT_2).decode()
            response: Response = self.renderer.page(
                request, "cite.html", cite=body, answer=answer, variables_json=variables
            )
        else:
            response = Response(orjson.dumps(body), media_type=JSON)
        response.headers["Vary"] = "Accept"
        response.headers["Link"] = f'<{body["url"]}>; rel="cite-as"'
        return response

    async def verify(self, request: Request) -> Response:
        """Whether a saved answer's `data` is the cited one: `{"matches": true|false, ...}`."""
        record = ExportRecord(self.audit, request)
        exchange_of(request).principal = ANONYMOUS
        try:
            saved = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            record.refused(400, ["BAD_REQUEST"])
            return _error(
                400, "the body is not JSON: send the saved answer as it was", "BAD_REQUEST"
            )
        citation_id = _cited_id(saved)
        if citation_id is None or not isinstance(saved, dict) or "data" not in saved:
            record.refused(400, ["BAD_REQUEST"])
            return _error(
                400,
                "send the answer as saved: an object with `data` and `extensions.citation` "
                "(or `citation`: the citation's id or URL)",
                "BAD_REQUEST",
            )
        found = (
            await self.citer.store.find(citation_id) if CITATION_ID.fullmatch(citation_id) else None
        )
        if found is None:
            record.refused(404, ["NOT_FOUND"])
            return _error(404, f"there is no citation {citation_id}", "NOT_FOUND")
        sha = answer_sha256(saved["data"])
        record.spool(200)
        return Response(
            orjson.dumps(
                {
                    "citation": found.id,
                    "url": self.citer.url(found.id),
                    "matches": sha == found.answer_sha256,
                    "sha256": sha,
                    "citedSha256": found.answer_sha256,
                }
            ),
            media_type=JSON,
        )


def _cited_id(saved: Any) -> str | None:
    """The citation id a saved answer names: `extensions.citation.id`, or `citation` (id or URL)."""
    if not isinstance(saved, dict):
        return None
    named = saved.get("citation")
    extensions = saved.get("extensions")
    if named is None and isinstance(extensions, dict):
        cited = extensions.get("citation")
        named = cited.get("id") if isinstance(cited, dict) else None
    if not isinstance(named, str):
        return None
    return named.rstrip("/").rsplit("/", 1)[-1]
