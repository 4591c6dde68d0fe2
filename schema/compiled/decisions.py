"""The principal's access decisions a plan depends on, made as today's guards (schema.access)
make them, once per plan rather than per row."""

from __future__ import annotations

from auth.policy import NOT_PERSONAL, OWN_ROWS, can_read, is_citizen
from auth.principal import Principal
from auth.scopes import PUBLIC
from schema.datasets import ColumnSpec
from schema.objects import DatasetTypes


class Access:
    """The principal's decisions on the root rows' restricted columns, and what they read."""

    def __init__(self, principal: Principal, own_rows: bool) -> None:
        self.principal = principal
        self.own_rows = own_rows
        self.row_fields: set[str] = set()

    def allows(self, column: ColumnSpec) -> bool:
        return allowed(self.principal, column.access, own_rows=self.own_rows)


def allowed(principal: Principal, access: str, *, own_rows: bool) -> bool:
    """Whether `principal` may read data marked `access` whatever the row (auth.policy).

    A citizen's decision depends on whose row it is: only their own rows (filtered by
    schema.access.row_filter) are decided here; anyone else's decision never depends on the row.
    """
    if access == PUBLIC:
        return True
    if is_citizen(principal):
        return own_rows and can_read(principal, access, owner=OWN_ROWS) is None
    return can_read(principal, access, owner=NOT_PERSONAL) is None


def public(types: DatasetTypes) -> bool:
    """Whether a dataset's rows are open to anyone (and served here, not another subgraph's)."""
    return types.spec.meta.access == PUBLIC and not types.stub
