"""Walking a plan: its pages executed one after the other by the schema, with one request's context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from strawberry import Schema
from strawberry.types.graphql import OperationType

from api.exports.plan import Plan
from api.exports.refusals import Refused
from api.graphql_errors import format_errors
from schema.context import CityContext
from schema.loaders import Loaders


class Walk:
    """The pages of one plan, executed through the schema with one request's context."""

    def __init__(
        self, schema: Schema, plan: Plan, context: CityContext, *, page_size: int, max_rows: int
    ) -> None:
        self.schema, self.plan, self.context = schema, plan, context
        # an export reads the rows as Python values, never as the compiled path's JSON fragments
        self.context.compiled = False
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
            allowed_operation_types=(OperationType.QUERY,),
        )
        if result.errors:
            errors, _ = format_errors(result)
            raise Refused.of(errors)
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
