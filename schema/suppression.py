"""Small-cell suppression of tables of counts, as statistics offices publish them.

Primary: a cell computed from fewer than `threshold` people is withheld (zero included: a zero is
computed from fewer people than the threshold too).
Complementary: every margin of the table can be obtained by another query (a coarser group-by),
so a line (the cells that differ in one dimension only) with exactly one withheld cell would give
it away by subtraction; the smallest visible cell of that line is withheld too, and so on until
no line has exactly one withheld cell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping

Cell = tuple[Hashable, ...]


def suppress(people: Mapping[Cell, int], *, dimensions: int, threshold: int) -> set[Cell]:
    """The cells to withhold: primary (too few people) and complementary (recoverable)."""
    withheld = {cell for cell, n in people.items() if n < threshold}
    changed = True
    while changed:
        changed = False
        for axis in range(dimensions):
            for line in _lines(people.keys(), axis):
                hidden = [c for c in line if c in withheld]
                if len(hidden) != 1:
                    continue
                visible = [c for c in line if c not in withheld]
                if not visible:
                    continue  # the line is one cell: its margin is withheld in its own table
                withheld.add(min(visible, key=lambda c: (people[c], repr(c))))
                changed = True
    return withheld


def _lines(cells: Iterable[Cell], axis: int) -> list[list[Cell]]:
    lines: dict[Cell, list[Cell]] = defaultdict(list)
    for cell in cells:
        lines[cell[:axis] + cell[axis + 1 :]].append(cell)
    return list(lines.values())
