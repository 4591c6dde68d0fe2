"""What the pipeline knows of a document before it runs it: parse, operation, cost, caps.

An analysis is memoised per process by the document's text, the operation name and the variables
(`ANALYSES_KEPT` of them), so a document seen before costs a dict lookup. Its `key` (the normalised
document, the operation and the variables) is the response cache's key without the tier. The tier
caps (depth, aliases, tokens, directives, cost) are checked in that order; a document over the
schema's own limits is left to its validation, which answers alike for every tier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
)
from graphql.language import Lexer, Source, TokenKind
from strawberry.http import GraphQLRequestData

from api.settings import Settings
from auth.principal import Principal, Tier
from schema.cost import DocumentCost, document_cost

ANALYSES_KEPT = 4096
"""Analyses memoised per process (document text, operation, variables)."""

Cap = tuple[str, Callable[["Analysis"], int], int, str]
"""(what, its measure, the limit, the error code)"""


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the pipeline knows about a document before it runs."""

    document: DocumentNode
    operation: OperationType | None
    normalised: str
    cost: DocumentCost
    tokens: int
    key: str
    """SHA-256 of the normalised document, the operation name and the variables (sorted keys)."""


@lru_cache(maxsize=2048)
def _parse(query: str) -> tuple[DocumentNode, str, int] | None:
    """The document, its normalised text and its token count; None when it does not parse."""
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None  # the view answers with the syntax error
    lexer = Lexer(Source(query))
    tokens = 0
    while lexer.advance().kind is not TokenKind.EOF:
        tokens += 1
    return document, print_ast(document), tokens


def _operation(document: DocumentNode, name: str | None) -> OperationType | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for op in ops:
        if name is None or (op.name is not None and op.name.value == name):
            return op.operation if name is not None or len(ops) == 1 else None
    return None


class Analyses:
    """The analyses of one app's documents, and its tiers' caps on them."""

    def __init__(self, settings: Settings, schema: GraphQLSchema) -> None:
        self.settings = settings
        self.schema = schema
        caps: tuple[tuple[str, Callable[[Analysis], int], dict[Tier, int], str], ...] = (
            ("depth", lambda a: a.cost.depth, settings.tier_max_depth, "QUERY_TOO_COMPLEX"),
            ("aliases", lambda a: a.cost.aliases, settings.tier_max_aliases, "QUERY_TOO_COMPLEX"),
            ("tokens", lambda a: a.tokens, settings.tier_max_tokens, "QUERY_TOO_COMPLEX"),
            (
                "directives",
                lambda a: a.cost.directives,
                settings.tier_max_directives,
                "QUERY_TOO_COMPLEX",
            ),
            ("cost", lambda a: a.cost.cost, settings.cost_limits, "QUERY_TOO_COSTLY"),
        )
        self.tier_caps: dict[Tier, tuple[Cap, ...]] = {
            tier: tuple(
                (what, measure, limits[tier], code)
                for what, measure, limits, code in caps
                if tier in limits
            )
            for tier in Tier
        }
        """Per tier, the caps it has, checked in order."""
        self._kept: dict[tuple[str, str | None, bytes], Analysis] = {}

    def known(self, query: str, params: GraphQLRequestData) -> Analysis | None:
        """The analysis of `query` with these parameters, if this process made it already."""
        return self._kept.get(_memo_key(query, params))

    def analyse(self, params: GraphQLRequestData) -> Analysis | None:
        """The document's analysis, memoised by its text, operation and variables."""
        if params.query is None:
            return None
        memo_key = _memo_key(params.query, params)
        found = self._kept.get(memo_key)
        if found is not None:
            return found
        variables = memo_key[2]
        parsed = _parse(params.query)
        if parsed is None:
            return None
        document, normalised, tokens = parsed
        cost = document_cost(
            self.schema,
            document,
            operation_name=params.operation_name,
            variables=params.variables,
            page_default=self.settings.page_default,
            page_max=self.settings.page_max,
        )
        # the response cache's key without the tier: normalised document, operation, variables
        material = orjson.dumps([normalised, params.operation_name]) + variables
        analysis = Analysis(
            document,
            _operation(document, params.operation_name),
            normalised,
            cost,
            tokens,
            hashlib.sha256(material).hexdigest(),
        )
        if len(self._kept) >= ANALYSES_KEPT:
            self._kept.pop(next(iter(self._kept)))
        self._kept[memo_key] = analysis
        return analysis

    def over_cap(
        self, principal: Principal, analysis: Analysis
    ) -> tuple[str, int, int, str] | None:
        """The first of its tier's caps the document is over: (what, value, limit, code)."""
        s, cost = self.settings, analysis.cost
        if (
            cost.depth > s.max_depth
            or cost.aliases > s.max_aliases
            or analysis.tokens > s.max_tokens
            or cost.directives > s.max_directives
        ):
            return None  # over the schema's own limits: its validation answers, as for every tier
        for what, measure, limit, code in self.tier_caps.get(principal.tier, ()):
            value = measure(analysis)
            if value > limit:
                return what, value, limit, code
        return None


def _memo_key(query: str, params: GraphQLRequestData) -> tuple[str, str | None, bytes]:
    """An analysis's key: the document's text, the operation, the variables (sorted keys)."""
    variables = orjson.dumps(params.variables or {}, option=orjson.OPT_SORT_KEYS)
    return query, params.operation_name, variables
