"""The principal's access decisions a plan depends on, made as today's guards (schema.access)
make them, once per plan rather than per row."""

from __future__ import annotations

from dataclasses import dataclass, field

from auth.policy import NOT_PERSONAL, OWN_ROWS, can_read, is_citizen
from auth.principal import Principal
from auth.scopes import PUBLIC
from schema.datasets import ColumnSpec
from storage.compiled.shapes import Guarded


class Access:
    """The principal's decisions on restricted data beneath a root field, and what they note.

    The root rows' restricted columns are decided with the root's rows in mind (a citizen's own
    rows) and noted as `row_fields`. Beneath them (`beneath`), and for a list beneath any row,
    only what the principal may read whatever the row compiles, noted per level of rows
    (`levels`, shapes.Guarded): each guard of a nested field runs once per row it resolves on.
    """

    def __init__(
        self,
        principal: Principal,
        own_rows: bool,
        *,
        root: bool = True,
        levels: dict[tuple[tuple[str, ...], str | None], Level] | None = None,
    ) -> None:
        self.principal = principal
        self.own_rows = own_rows
        self.root = root
        self.row_fields: set[str] = set()
        self.levels: dict[tuple[tuple[str, ...], str | None], Level] = (
            {} if levels is None else levels
        )

    def allows(self, column: ColumnSpec) -> bool:
        return allowed(self.principal, column.access, own_rows=self.own_rows)

    def beneath(self, *, own_rows: bool = False) -> Access:
        """The decisions on the rows a relation or a list of these rows leads to (`own_rows`:
        a list filtered to a citizen's own rows, schema.access.row_filter)."""
        return Access(self.principal, own_rows=own_rows, root=False, levels=self.levels)

    def note(
        self,
        path: tuple[str, ...],
        field: str,
        *,
        owner: str | None = None,
        own: bool = False,
        column: str | None = None,
    ) -> None:
        """A guarded field of the rows at `path` (those whose `column` is not null, when
        given), noted with their `owner` column's values (or the principal's own resident id,
        `own`) as subjects."""
        level = self.levels.setdefault((path, column), Level())
        level.fields.add(field)
        level.owner = level.owner or owner
        level.own = level.own or own

    def guarded(self) -> tuple[Guarded, ...]:
        return tuple(
            Guarded(path, tuple(sorted(level.fields)), level.owner, level.own, column)
            for (path, column), level in sorted(
                self.levels.items(), key=lambda item: (item[0][0], item[0][1] or "")
            )
        )


@dataclass
class Level:
    """What the guards of one level of rows note (Access.note)."""

    fields: set[str] = field(default_factory=set)
    owner: str | None = None
    own: bool = False


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
