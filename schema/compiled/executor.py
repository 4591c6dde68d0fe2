"""graphql-core's executor with compiled root fields: their JSON spliced in, unparsed.

A compiled root field's value is an `orjson.Fragment`: the bytes the database wrote, which
orjson copies into the response as they are (api.graphql_view encodes with orjson). Only the
view asks for it (`CityContext.compiled`); every other caller of the schema gets plain data.
"""

from __future__ import annotations

from typing import Any

import structlog
from graphql import GraphQLObjectType
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from schema.compiled.compiler import Prepared
from schema.compiled.plans import HandBack
from schema.context import CityContext

log = structlog.get_logger("citygraph.compiled")


class CompiledExecutor(StrawberryGraphQLCoreExecutionContext):
    """Answers root fields from one SQL statement each when the compiler can, else as usual."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        if path.prev is None:
            compiler = getattr(getattr(self.schema, "_strawberry_schema", None), "compiler", None)
            prepared = (
                None
                if compiler is None
                else compiler.prepare(self, parent_type, field_details_list, str(path.key))
            )
            if prepared is not None:
                return self._compiled(
                    prepared, parent_type, source, field_details_list, path, position_context
                )
            self._not_compiled()
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )

    async def _compiled(
        self,
        prepared: Prepared,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        try:
            answer = await prepared.run(self.context_value)
        except HandBack:
            pass  # today's path answers, with its own error
        except Exception:
            log.warning(
                "compiled root field failed; answered field by field",
                field=path.key,
                dataset=prepared.plan.dataset,
                exc_info=True,
            )
        else:
            roots = getattr(self.context_value, "compiled_roots", None)
            if roots is not None:
                roots.append((str(path.key), prepared.plan, prepared.engine))
            return answer
        self._not_compiled()
        result = super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
        return await result if self.is_awaitable(result) else result

    def _not_compiled(self) -> None:
        """A root field answered field by field: the operation is not one the lane may learn."""
        if isinstance(self.context_value, CityContext):
            self.context_value.compiled_roots = None
