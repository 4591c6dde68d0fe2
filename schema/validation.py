"""Document validation: standard rules plus our limits, without "did you mean" hints, cached.

strawberry's `disable_field_suggestions` removes hints from unknown-field errors only; graphql-core
still answers "Unknown type 'X'. Did you mean 'Y'?", which would name types (restricted ones
included) to anyone probing. graphql-core's `hide_suggestions` removes them all, but strawberry
does not pass it, so this extension validates the document itself.

Strings with control characters (storage.controls) are refused here too, whether written in the
document or sent as variables, with BAD_USER_INPUT: before any resolver or engine sees them, so
that SQLite and PostgreSQL never get the chance to answer differently.

The depth and alias limits are validation rules too. strawberry's limiter extensions build a new
rule class for every request, which defeats any cache; here the rule classes are built once with
the schema, so a document seen before costs a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    StringValueNode,
    ValidationContext,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from storage.controls import control_character, first_control, why_refused

BAD_USER_INPUT = "BAD_USER_INPUT"


def _coded(rule: type[ASTValidationRule], code: str) -> type[ASTValidationRule]:
    """The same rule, its errors carrying `extensions.code`.

    strawberry's limit rules do all their work, reporting included, in `__init__`.
    """

    class Coded(rule):  # type: ignore[valid-type, misc]
        def __init__(self, context: ValidationContext) -> None:
            report = context.on_error

            def tagged(error: GraphQLError) -> None:
                error.extensions = {**(error.extensions or {}), "code": code}
                report(error)

            context.on_error = tagged  # type: ignore[method-assign]
            try:
                super().__init__(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    Coded.__name__ = f"Coded{rule.__name__}"
    return Coded


def directives_rule(max_directives: int) -> type[ASTValidationRule]:
    """A validation rule refusing documents with more than `max_directives` directives."""

    class MaxDirectivesRule(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
            self.count += 1
            if self.count == max_directives + 1:  # one error, however many more follow
                self.report_error(
                    GraphQLError(
                        f"the document uses more than {max_directives} directives",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX"},
                    )
                )

    return MaxDirectivesRule


class ControlCharactersRule(ASTValidationRule):
    """Refuses a string literal holding a control character (storage.controls)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        char = control_character(node.value)
        if char is not None:
            self.report_error(
                GraphQLError(
                    f"a string of the document {why_refused(char)}",
                    node,
                    extensions={"code": BAD_USER_INPUT},
                )
            )


def variables_error(variables: dict[str, Any] | None) -> GraphQLError | None:
    """BAD_USER_INPUT when a variable holds a string with a control character, else None."""
    char = first_control(variables) if variables else None
    if char is None:
        return None
    return GraphQLError(f"a variable {why_refused(char)}", extensions={"code": BAD_USER_INPUT})


def limit_rules(
    *, max_depth: int, max_aliases: int, max_directives: int
) -> tuple[type[ASTValidationRule], ...]:
    """Validation rules bounding a document's depth, aliases and directives (built once)."""
    return (
        _coded(depth_rule(max_depth, None, None), "QUERY_TOO_COMPLEX"),
        _coded(alias_rule(max_aliases), "QUERY_TOO_COMPLEX"),
        directives_rule(max_directives),
    )


@lru_cache(maxsize=1024)
def _validate(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    errors = validate(
        schema,
        document,
        (*rules, ControlCharactersRule, MaybeNullValidationRule, OneOfInputValidationRule),
        hide_suggestions=True,
    )
    for error in errors:
        if "code" not in (error.extensions or {}):
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
    return errors


class DocumentValidation(SchemaExtension):
    """Validates every document with suggestions hidden and our limits; cached per parsed document."""

    def __init__(self, *, rules: tuple[type[ASTValidationRule], ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rules = rules

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None:  # nothing parsed: strawberry reports that itself
            yield
            return
        errors = _validate(
            ctx.schema._schema, ctx.graphql_document, (*ctx.validation_rules, *self.rules)
        )
        if not errors and (refused := variables_error(ctx.variables)) is not None:
            errors = [refused]
        ctx.pre_execution_errors = errors
        yield
