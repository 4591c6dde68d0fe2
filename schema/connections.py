"""Relay connections over keyset pages: the runtime objects and their generated GraphQL types."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import strawberry

from schema.datasets import ListOf
from storage.paging import SortKey, encode_cursor, pin_cursor
from storage.repository import Page


@strawberry.type(description="Where a page stands in its connection (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when rows follow this page.")
    has_previous_page: bool = strawberry.field(description="True when rows precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


class Edge:
    """One row and its cursor, computed only when asked for."""

    __slots__ = ("_order", "_version", "node")

    def __init__(self, node: Any, order: Sequence[SortKey], version: int | None = None) -> None:
        self.node = node
        self._order = order
        self._version = version

    @property
    def cursor(self) -> str:
        values = encode_cursor([getattr(self.node, k.column) for k in self._order])
        return pin_cursor(values, self._version)


class Connection:
    """A page as a Relay connection."""

    def __init__(self, page: Page, order: Sequence[SortKey], version: int | None = None) -> None:
        self._page = page
        self._order = order
        self._version = version
        """The dataset version the page was read from: its cursors carry it (schema.as_of)."""
        self.nodes = page.rows

    @property
    def total_count(self) -> int | None:
        return self._page.total

    @cached_property
    def edges(self) -> list[Edge]:
        return [Edge(row, self._order, self._version) for row in self._page.rows]

    @property
    def page_info(self) -> PageInfo:
        rows = self._page.rows
        first = Edge(rows[0], self._order, self._version).cursor if rows else None
        last = Edge(rows[-1], self._order, self._version).cursor if rows else None
        return PageInfo(
            has_next_page=self._page.has_next,
            has_previous_page=self._page.has_previous,
            start_cursor=first,
            end_cursor=last,
        )


def connection_types(node: type, name: str, description: str) -> tuple[type, type]:
    """The `<Name>Edge` and `<Name>Connection` types of a node type."""
    edge_cls = type(
        f"{name}Edge",
        (),
        {
            "__annotations__": {"cursor": str, "node": node},
            "cursor": strawberry.field(
                description="Opaque cursor of this row, for `after`/`before`."
            ),
            "node": strawberry.field(description=f"The {description}."),
        },
    )
    edge = strawberry.type(edge_cls, description=f"A {description} and its cursor.")
    conn_cls = type(
        f"{name}Connection",
        (),
        {
            "__annotations__": {
                "total_count": int,
                "page_info": PageInfo,
                "edges": ListOf[edge],
                "nodes": ListOf[node],
            },
            "total_count": strawberry.field(
                description="Rows matching the filter, over all pages."
            ),
            "page_info": strawberry.field(description="Where this page stands."),
            "edges": strawberry.field(description="The rows of this page with their cursors."),
            "nodes": strawberry.field(description="The rows of this page, without cursors."),
        },
    )
    conn = strawberry.type(
        conn_cls, description=f"A page of {description} rows (Relay connection)."
    )
    return edge, conn
