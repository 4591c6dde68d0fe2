"""The attack on published statistics: every published cell is an equation on the finest cells.

An attacker who knows how the tables are built (which finest cells each published cell adds up)
and that counts are never negative asks a linear program, for each withheld cell, for its smallest
and largest possible value. SciPy's HiGHS solves them (a test dependency only: citygraph itself
plans without a solver, schema.suppression).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_array


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    @property
    def width(self) -> float:
        return self.high - self.low


class Attack:
    """The linear system an attacker builds from what was published."""

    def __init__(
        self,
        leaves: Sequence[Hashable],
        published: Iterable[tuple[Iterable[Hashable], float]],
        *,
        at_most: Iterable[tuple[Iterable[Hashable], float]] = (),
    ) -> None:
        """`published`: (the finest cells a published cell adds up, its value); `at_most`: sound
        upper bounds the attacker also knows (a sub-population of a published count)."""
        self.index = {leaf: i for i, leaf in enumerate(leaves)}
        self.size = len(self.index)
        self.a_eq, self.b_eq = self._matrix(published)
        self.a_ub, self.b_ub = self._matrix(at_most)

    def _matrix(
        self, rows: Iterable[tuple[Iterable[Hashable], float]]
    ) -> tuple[csr_array | None, np.ndarray | None]:
        data, cols, ptr, values = [], [], [0], []
        for members, value in rows:
            found = sorted({self.index[m] for m in members})
            cols.extend(found)
            data.extend([1.0] * len(found))
            ptr.append(len(cols))
            values.append(float(value))
        if not values:
            return None, None
        matrix = csr_array((data, cols, ptr), shape=(len(values), self.size))
        return matrix, np.array(values)

    def bounds(self, members: Iterable[Hashable]) -> Interval:
        """The smallest and largest value the cell adding up `members` can take."""
        objective = np.zeros(self.size)
        for m in members:
            objective[self.index[m]] = 1.0
        found = []
        for sign in (1.0, -1.0):
            result = linprog(
                sign * objective,
                A_eq=self.a_eq,
                b_eq=self.b_eq,
                A_ub=self.a_ub,
                b_ub=self.b_ub,
                bounds=(0, None),
                method="highs",
            )
            if result.status == 3:  # unbounded: nothing published bounds it from above
                found.append(float("inf"))
                continue
            assert result.status == 0, result.message
            found.append(sign * result.fun)
        return Interval(found[0], found[1])


def finest_members(
    leaves: Sequence[tuple[Hashable, ...]],
    key: Mapping[int, Hashable],
    level_of: Sequence[Mapping[Hashable, Hashable] | None],
) -> list[tuple[Hashable, ...]]:
    """The leaves a cell adds up: those whose key at each split dimension is the cell's."""
    out = []
    for leaf in leaves:
        if all((level_of[i] or {}).get(leaf[i], leaf[i]) == k for i, k in key.items()):
            out.append(leaf)
    return out
