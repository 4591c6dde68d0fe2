"""Plans: what a compiled root field builds, as data (print one to see what a field will read).

schema.compiled.planner makes them from an operation; schema.compiled.binder binds them to one
request's arguments. They hold no values of a request: a plan is shared by every request of the
same operation, Boolean variables and principal decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLField

from schema.datasets import ColumnSpec
from schema.objects import DatasetTypes
from storage.compiled.shapes import Constant, Guarded, PageInfo, ReadWhen


class NotCompiled(Exception):
    """This root field stays on today's path; the message says why (for logs and tests)."""


class HandBack(Exception):
    """Found while running a compiled root field, before it noted anything: today's path
    answers it, with its own error (an aggregate over too many groups, an unknown version)."""


@dataclass(frozen=True, slots=True)
class NodePlan:
    """A node's JSON: each response key and what makes its value."""

    fields: tuple[tuple[str, Any], ...]
    """Values: Scalar, Constant, KeyOf (bound already), RelationPlan, ConnectionPlan."""


@dataclass(frozen=True, slots=True)
class RelationPlan:
    column: str
    """The reference column of the row."""
    key: str
    """The target's column it refers to."""
    target: DatasetTypes
    node: NodePlan


@dataclass(frozen=True, slots=True)
class EdgesPlan:
    fields: tuple[tuple[str, Any], ...]
    """Values: "cursor", Constant, NodePlan."""


@dataclass(frozen=True, slots=True)
class NodesPlan:
    node: NodePlan


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """A connection field; its arguments are read per request from `field_node`."""

    types: DatasetTypes
    field: GraphQLField
    field_node: FieldNode
    parent_type: str
    parts: tuple[tuple[str, Any], ...]
    """Values: "totalCount", Constant, PageInfo, EdgesPlan, NodesPlan."""
    link: tuple[str, str] | None = None
    """(column of this dataset, column of the parent row) for a reverse relation."""
    guard: str | None = None
    """A nested list guarded for the record (walk.guard_list): its field (`Household.members`),
    which an argument naming a restricted column notes again, with the same subjects."""

    @property
    def with_total(self) -> bool:
        return any(part == "totalCount" for _key, part in self.parts)

    @property
    def with_cursors(self) -> bool:
        for _key, part in self.parts:
            if isinstance(part, PageInfo) and any(
                f in ("startCursor", "endCursor") for _k, f in part.fields
            ):
                return True
            if isinstance(part, EdgesPlan) and any(f == "cursor" for _k, f in part.fields):
                return True
        return False


@dataclass(frozen=True, slots=True)
class LookupPlan:
    """A root field fetching one row by its key, `bikeStation(id:)`."""

    types: DatasetTypes
    field: GraphQLField
    field_node: FieldNode
    key: str
    node: NodePlan


@dataclass(frozen=True, slots=True)
class GroupPartPlan:
    """`key { ... }` or a measure (`sum { ... }`) of an aggregate's group: its columns."""

    source: str
    """"key", or a measure: sum, avg, min, max."""
    fields: tuple[tuple[str, Constant | ColumnSpec], ...]


@dataclass(frozen=True, slots=True)
class AggregatePlan:
    """A `<dataset>Aggregate` root field; its arguments are read per request."""

    types: DatasetTypes
    field: GraphQLField
    field_node: FieldNode
    parent_type: str
    fields: tuple[tuple[str, Any], ...]
    """Values: Constant, "count", GroupPartPlan."""


@dataclass(frozen=True, slots=True)
class EntitiesPlan:
    """`_entities` of one type (a subgraph's): each representation's entity, in their order.

    An owner's entity is its row found by the key (null when there is none); a stub's (another
    department's entity) is the key alone, as its resolver echoes it, with this subgraph's lists
    beneath it. The keys are the request's, given to the statement when it runs.
    """

    types: DatasetTypes
    field: GraphQLField
    field_node: FieldNode
    key: ColumnSpec
    """The entity's key column (`@key`): text or an integer (schema.compiled.entities)."""
    node: NodePlan
    own_keys: bool = False
    """A citizen's plan of their own record (a resident's key is its owner): every key must be
    their resident id (schema.compiled.entities), else today's path decides per key."""


@dataclass(frozen=True, slots=True)
class Audited:
    """The restricted reads of a root field that the access record must name, as today's guards
    note them (schema.access): decided when the plan is made, so only allowed reads compile."""

    root_field: str | None = None
    """`Query.residents`: the root field is restricted (noted whether rows come or not)."""
    own_rows: bool = False
    """The root list holds the citizen's own rows: their resident id is a subject."""
    row_fields: tuple[str, ...] = ()
    """Restricted columns of the root rows (`Resident.familyName`), noted when a row is read."""
    owner: str | None = None
    """The column whose values are the subjects of the rows read (the dataset's owner)."""
    owner_checked: bool = False
    """A citizen's lookup: its row must be the citizen's own (`owner` says whose it is), else
    the field is handed back, before anything is noted, to today's path, which refuses it."""
    levels: tuple[Guarded, ...] = ()
    """Guarded fields of the rows beneath the root rows, and the root rows' lists: noted when
    a row is at their level, with its subjects (shapes.Guarded)."""


@dataclass(frozen=True, slots=True)
class RootPlan:
    """A compiled root field: what it builds and which datasets it reads."""

    root: ConnectionPlan | LookupPlan | AggregatePlan | EntitiesPlan
    reads: tuple[ReadWhen, ...]
    """Nested datasets, read when a row leads to them (shapes.ReadWhen)."""
    audited: Audited = Audited()

    @property
    def dataset(self) -> str:
        return self.root.types.spec.name

    @property
    def reads_root(self) -> bool:
        """Whether the root dataset is read: all but a stub's entities, which are their keys."""
        return not (isinstance(self.root, EntitiesPlan) and self.root.types.stub)

    @property
    def home(self) -> str:
        """The dataset whose database runs the statement: a stub's is its first list's (the
        planner compiles a stub's entities only when it has one)."""
        return self.dataset if self.reads_root else self.reads[0].dataset
