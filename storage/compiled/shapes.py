"""What one compiled statement builds: a tree of JSON objects over tables, bound and ready.

The tree is plain data (printable, comparable), made per request by schema.compiled.binder from a
cached plan and the request's arguments; storage.compiled.emit turns it into one SELECT, whose
objects, relations and connections storage.compiled.objects writes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal

from sqlalchemy import Table
from sqlalchemy.types import TypeEngine

from storage.repository import AggregateQuery, PageQuery

ValueKind = Literal[
    "int", "str", "float", "bool", "date", "datetime", "geojson", "measure", "average"
]
"""How a column's value is written as JSON; the types whose text both engines agree on.
`datetime`: Python's `isoformat()` of the value as today's path reads it (storage.compiled.dialect
knows, per engine and column type, whether that value has a zone); `measure`: an aggregate's
number, as a float; `average`: the same rounded to 9 decimals (schema.aggregates rounds averages
so that the engines agree)."""

PageInfoField = Literal["hasNextPage", "hasPreviousPage", "startCursor", "endCursor"]


@dataclass(frozen=True, slots=True)
class Constant:
    """A fixed string (`__typename`)."""

    value: str


@dataclass(frozen=True, slots=True)
class Scalar:
    """A column of the current row."""

    column: str
    kind: ValueKind


@dataclass(frozen=True, slots=True)
class Obj:
    """A JSON object of the current row: each key and how its value is made."""

    fields: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class RowOf:
    """The row of `table` whose `key` equals the current row's `column` (a forward relation)."""

    table: Table
    key: str
    column: str
    node: Obj
    at_version: bool = False
    """Read at the dataset version the statement's parameter names (objects.visible_rows)."""


@dataclass(frozen=True, slots=True)
class KeyOf:
    """Another subgraph's entity that the current row's `column` refers to: its key and
    `__typename` only, from the row itself (null when the column is null). The router asks the
    entity's own subgraph for the rest."""

    column: str
    node: Obj


@dataclass(frozen=True, slots=True)
class Edges:
    """`edges`: per row its cursor, its node, its `__typename`."""

    fields: tuple[tuple[str, Literal["cursor"] | Obj | Constant], ...]


@dataclass(frozen=True, slots=True)
class Nodes:
    node: Obj


@dataclass(frozen=True, slots=True)
class PageInfo:
    fields: tuple[tuple[str, PageInfoField | Constant], ...]


@dataclass(frozen=True, slots=True)
class TotalCount:
    pass


ConnectionPart = Edges | Nodes | PageInfo | TotalCount | Constant


@dataclass(frozen=True, slots=True)
class Connection:
    """A keyset page of `table` as a Relay connection.

    `link` = (column of `table`, column of the current row): the rows pointing to the current
    row (a reverse relation); None at the root.
    """

    table: Table
    query: PageQuery
    parts: tuple[tuple[str, ConnectionPart], ...]
    link: tuple[str, str] | None = None
    sort_kinds: tuple[ValueKind, ...] = ()
    """The kinds of `query.order`'s columns, for the cursors."""
    at_version: bool = False
    """Read at the dataset version the statement's parameter names (objects.visible_rows)."""
    shows_version: bool = False
    """Cursors carry that version, `<cursor>.<version>` (schema.as_of.cursor_shows)."""


Value = Scalar | Constant | Obj | RowOf | KeyOf | Connection


@dataclass(frozen=True, slots=True)
class Lookup:
    """One row of `table` by its key, as a JSON object (null when there is none)."""

    table: Table
    key: str
    value: object
    node: Obj
    at_version: bool = False
    """Read at the dataset version the statement's parameter names (objects.visible_rows)."""


@dataclass(frozen=True, slots=True)
class Entities:
    """`_entities`: per key given when the statement runs (`dialect.KEYS`), in their order, a
    JSON object of `node` over the row of `table` whose `key` it is (null when there is none);
    for a stub (`table` None), over the key alone, a row whose one column is named `key`."""

    table: Table | None
    key: str
    key_type: TypeEngine[Any]
    """The key column's type: the keys' (Dialect.keys)."""
    node: Obj
    at_version: bool = False
    """Read at the dataset version the statement's parameter names (objects.visible_rows)."""


@dataclass(frozen=True, slots=True)
class ReadWhen:
    """A dataset the answer reads when a nested field runs at least once.

    Today's resolvers note a dataset when a nested field resolves for some row (a relation only
    for a row whose reference is not null): the statement reports the same, so access records
    and cache entries name the same datasets on both paths. A field nested deeper runs only for
    the rows its parent levels gave: a row that a relation found, a row kept on a list's page.
    """

    dataset: str
    column: str | None
    """The current row's reference column that must not be null; None: any row will do."""
    path: tuple[str, ...] = ()
    """Where the field is: the response keys from the root field's value to the object that
    holds it (`("nodes", "district")`; `()` in a lookup's own row). emit follows them through
    the bound tree, from the root rows through each level's rows."""


@dataclass(frozen=True, slots=True)
class Guarded:
    """Restricted fields of the rows at `path`, which their guards note for each such row.

    Today's guards (schema.access) run once per row a field is resolved on: a restricted
    column, a relation whose column is restricted, a list of restricted rows. They note the
    field, and a subject: the row's owner (`owner`, a column of the rows at `path`), or, for a
    list of personal rows, the principal's own resident id (`own`). The statement says whether
    any row is at `path` and, when `owner` is set, the owners of those rows.
    """

    path: tuple[str, ...]
    """The response keys from the root field's value to the rows' object (ReadWhen.path):
    `("nodes",)` a root page's rows, `("nodes", "household")` the households they point to."""
    fields: tuple[str, ...]
    """`Household.address`, `Resident.benefitCases`: what the guards note."""
    owner: str | None = None
    own: bool = False
    column: str | None = None
    """Only the rows whose `column` is not null (ReadWhen.column): a reference's key is guarded
    beneath the reference, which is null where the column is."""


@dataclass(frozen=True, slots=True)
class Groups:
    """An aggregate root field: its groups in group order, each a JSON object of `fields`, where
    a value is a Scalar over the grouped row (`m_<measure>_<column>`, a key column), a
    Constant, None (null), "count", or a nested Obj (`key`, `sum`...)."""

    table: Table
    query: AggregateQuery
    fields: tuple[tuple[str, object], ...]
    at_version: bool = False
    """Read at the dataset version the statement's parameter names (objects.visible_rows)."""


Root = Connection | Lookup | Groups | Entities


def value_kinds(node: object) -> set[ValueKind]:
    """The kinds of every column a bound tree writes (a walk of its dataclasses and tuples)."""
    if isinstance(node, Scalar):
        return {node.kind}
    if isinstance(node, tuple | list):
        return set().union(*(value_kinds(item) for item in node))
    if is_dataclass(node) and not isinstance(node, type):
        return set().union(*(value_kinds(getattr(node, f.name)) for f in fields(node)))
    return set()
