"""Document validation without "did you mean" hints, cached.

strawberry's `disable_field_suggestions` removes hints from unknown-field errors only; graphql-core
still answers "Unknown type 'X'. Did you mean 'Y'?", which would name types (restricted ones
included) to anyone probing. graphql-core's `hide_suggestions` removes them all, but strawberry
does not pass it, so this extension validates the document itself (and caches the result, which
replaces strawberry's ValidationCache).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule


@lru_cache(maxsize=512)
def _validate(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    errors = validate(
        schema,
        document,
        (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
        hide_suggestions=True,
    )
    for error in errors:
        error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
    return errors


class HiddenSuggestions(SchemaExtension):
    """Validates every document with suggestions hidden; results cached per parsed document."""

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None:  # nothing parsed: strawberry reports that itself
            yield
            return
        ctx.pre_execution_errors = _validate(
            ctx.schema._schema, ctx.graphql_document, tuple(ctx.validation_rules)
        )
        yield
