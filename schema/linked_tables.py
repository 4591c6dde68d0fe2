"""The tables a statistics field publishes, as groupings of the same finest cells.

A `LinkedSet` names the dimensions (each with its finest values and coarser levels), the groupings
published, the additive count of each finest cell, and the cells other fields publish anyway;
schema.suppression plans which cells to withhold from all of them at once, as a `Pattern`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

ALL = "*"
"""The level (and key) of a dimension a grouping does not split by."""
Leaf = tuple[Hashable, ...]
"""One finest cell: a leaf value of each dimension."""
Grouping = tuple[str, ...]
"""A table: one level of each dimension (ALL for the ones it does not split by)."""
Cell = tuple[Grouping, tuple[Hashable, ...]]
"""One cell of one table: the grouping and a key per dimension (ALL where not split)."""


@dataclass(frozen=True, slots=True)
class Dimension:
    """A way to split: its finest values, and each coarser level as a map from them to keys."""

    name: str
    leaves: tuple[Hashable, ...]
    levels: Mapping[str, Mapping[Hashable, Hashable]]
    """Level name -> (leaf -> key at that level); the finest level maps each leaf to itself."""

    def key(self, level: str, leaf: Hashable) -> Hashable:
        return ALL if level == ALL else self.levels[level][leaf]

    def keys(self, level: str) -> list[Hashable]:
        """The keys of a level, in a stable order (nulls last)."""
        if level == ALL:
            return [ALL]
        found = set(self.levels[level].values())
        return sorted(found, key=lambda k: (k is None, str(k)))


@dataclass(frozen=True, slots=True)
class LinkedSet:
    """Every table a statistics field publishes, as groupings of the same finest cells."""

    dimensions: tuple[Dimension, ...]
    groupings: tuple[Grouping, ...]
    units: Mapping[Leaf, int]
    """Additive count of each finest cell (people, cases, assessments); absent means zero."""
    people: Mapping[Cell, int] | None = None
    """Distinct people of each cell, where they do not add up (someone with two cases); None: the
    units are people."""
    forced: frozenset[Cell] = frozenset()
    """Cells published elsewhere, exactly: never withheld."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """The plan: which cells are withheld, and how much it cost to protect them."""

    withheld: frozenset[Cell]
    primary: frozenset[Cell]
    unprotected: frozenset[Cell] = frozenset()
    """Withheld cells the moves found no room for, protected by withholding the whole breakdown of
    the forced total holding them (a small district whose population is published)."""

    def __contains__(self, cell: object) -> bool:
        return cell in self.withheld
