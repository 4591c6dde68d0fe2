"""The one-process gateway schema: every department's datasets composed into one Query type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.aggregates import DatasetAggregate
from schema.audit_fields import audit_fields
from schema.compiled.compiler import Compiler
from schema.compiled.executor import CompiledExecutor
from schema.compiled.fields import FieldMap
from schema.context import CityContext
from schema.datasets import Catalog
from schema.dcat import DatasetInfo, dataset_info
from schema.errors import EXPOSED_CODES
from schema.objects import DatasetTypes, PageLimits, build_dataset_types
from schema.scalars import SCALARS
from schema.statistics import statistics_fields
from schema.validation import DocumentValidation, limit_rules

Info = strawberry.Info[CityContext, Any]


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Bounds on what one document may ask (DESIGN section 10)."""

    page_default: int = 50
    page_max: int = 1_000
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5_000
    max_directives: int = 50
    statistics_threshold: int = 10


log = structlog.get_logger("citygraph.graphql")


class CitySchema(strawberry.Schema):
    """strawberry's Schema, logging only the errors that are ours to fix.

    `compiler`: the gateway's compiled path (schema.compiled), which its executor asks first.

    Denials, bad arguments and invalid documents are the client's business and are answered in
    the response; only unexpected exceptions are logged, by type and path, never by message
    (a message may quote a value, and values may be personal data).
    """

    compiler: Compiler | None = None

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        for error in errors:
            if (
                (error.extensions or {}).get("code") in EXPOSED_CODES
                or error.original_error is None
                or isinstance(error.original_error, GraphQLError)
            ):
                continue
            original = error.original_error
            log.error(
                "unexpected error while resolving",
                error_type=f"{type(original).__module__}.{type(original).__qualname__}",
                path=error.path,
                operation=getattr(execution_context, "operation_name", None),
                exc_info=(type(original), original, original.__traceback__),
            )


def _should_mask(error: Any) -> bool:
    code = (error.extensions or {}).get("code")
    if code in EXPOSED_CODES:
        return False
    if isinstance(error.original_error, GraphQLError):
        return False  # graphql-core's own (variable coercion): it describes the request
    # errors raised by graphql-core itself while validating or coercing variables have no
    # original error and describe the document, not the server: show them
    return error.original_error is not None


def catalog_fields(catalog: Catalog) -> dict[str, Any]:
    """The catalog's root fields: `datasets` (every entry) and `dataset(name:)` (one)."""
    specs = {s.name: s for s in catalog.datasets}

    async def resolve_all(info: Info) -> list[DatasetInfo]:
        info.context.uncitable = True  # load times and versions change: no citation pins them
        loads = await info.context.loaders.loads()
        return [dataset_info(s, loads.get(s.name)) for s in catalog.datasets]

    async def resolve_one(info: Info, name: str) -> DatasetInfo | None:
        info.context.uncitable = True
        spec = specs.get(name)
        if spec is None:
            return None
        return dataset_info(spec, (await info.context.loaders.loads()).get(name))

    return {
        "datasets": strawberry.field(
            resolver=resolve_all,
            description="The catalog: every dataset with its licence and attribution.",
        ),
        "dataset": strawberry.field(
            resolver=resolve_one, description="One catalog entry by its root field name."
        ),
    }


def build_query_type(catalog: Catalog, limits: QueryLimits) -> tuple[type, dict[str, DatasetTypes]]:
    """The root Query type: one list, one lookup and one aggregate field per dataset, the catalog,
    the public statistics and the access log (auditors' and citizens' fields)."""
    types = build_dataset_types(catalog, PageLimits(limits.page_default, limits.page_max))
    ns: dict[str, Any] = {
        **catalog_fields(catalog),
        **statistics_fields(limits.statistics_threshold),
    }
    for spec in catalog.datasets:
        t = types[spec.name]
        ns[spec.name] = t.root_list()
        one = t.root_one()
        if one is not None:
            ns[spec.singular] = one
        t.aggregate = DatasetAggregate(spec, t.inputs)
        ns[f"{spec.name}Aggregate"] = t.aggregate.root_field()
    ns.update(audit_fields())
    return strawberry.type(
        type("Query", (), ns), description="Everything the city publishes or keeps."
    ), types


def schema_options(limits: QueryLimits) -> tuple[list[Any], StrawberryConfig]:
    """The extensions (document limits, validation, error masking) and config of a city schema.

    The gateway and every federation subgraph use these, so a query meets the same rules
    through either path.
    """
    rules = limit_rules(
        max_depth=limits.max_depth,
        max_aliases=limits.max_aliases,
        max_directives=limits.max_directives,
    )
    extensions: list[Any] = [
        ParserCache,
        lambda: DocumentValidation(rules=rules),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: MaskErrors(should_mask_error=_should_mask),
    ]
    config = StrawberryConfig(
        auto_camel_case=True, disable_field_suggestions=True, scalar_map=SCALARS
    )
    return extensions, config


def build_gateway_schema(catalog: Catalog, limits: QueryLimits | None = None) -> CitySchema:
    """The composed schema of every department, with the document limits and error masking."""
    limits = limits or QueryLimits()
    query, types = build_query_type(catalog, limits)
    extensions, config = schema_options(limits)
    gateway = CitySchema(
        query=query,
        config=config,
        extensions=extensions,
        execution_context_class=CompiledExecutor,
    )
    gateway.compiler = Compiler(FieldMap.of(types))
    return gateway
