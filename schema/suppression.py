"""Cell suppression planned over a whole set of linked tables, as statistics offices publish them.

A statistics field publishes every grouping of a few dimensions (district or quartier, age band,
sex...): all of them are margins of one finest table, so each published cell is a linear equation
on the finest cells. docs/statistics.md says why suppression, and what it costs; this module plans
which cells to withhold, once for the whole linked set, so that:

1. Primary: every cell counting fewer people than the threshold is withheld (a zero included).
2. Protection: for every withheld cell there are two whole tables, both non-negative and both
   agreeing with every published cell, in which that cell differs by at least the threshold. So
   no linear combination of what is published (with the knowledge that counts are not negative)
   pins a withheld cell, or narrows it to an interval shorter than the threshold.

Protection is found as in τ-ARGUS's hypercube method: a move that adds `t` to some finest cells and
takes `t` from others, the corners of a hypercube (or of a "chain" through the hierarchy), leaves
every margin it does not touch unchanged. A move is allowed when every cell it changes is withheld;
its room is how far it can go before a finest cell would turn negative. For each withheld cell,
moves are applied one after the other to a copy of the table until the cell has gone up and down by
the threshold between them: the copies are the two witness tables of point 2. When the withheld
cells allow no such room, the cheapest move that would is chosen and the cells it changes are
withheld too (complementary suppression), which they must then be protected in turn. Withholding
more never undoes a witness, so the plan is complete when every withheld cell has its two.

Cells that another field publishes anyway (a district's population is the registry's count) are
`forced`: never withheld, and no move may change them. Nothing here needs a solver; the test that
attacks the published tables with linear programming is tests/schema/test_statistics_attack.py.
The tables are described by schema.linked_tables; the search for moves is
schema.suppression_planner.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence

from schema.linked_tables import ALL, Cell, Dimension, Leaf, LinkedSet, Pattern
from schema.suppression_planner import Planner


def plan(linked: LinkedSet, *, threshold: int) -> Pattern:
    """The cells to withhold from every table of `linked` (see the module's docstring)."""
    planner = Planner(linked, threshold)
    primary = {c for c in planner.values if planner.people(c) < threshold} - linked.forced
    planner.withheld = set(primary)
    queue = sorted(primary, key=_order)
    unprotected: set[Cell] = set()
    done: set[Cell] = set()
    while queue:
        target = queue.pop(0)
        if target in done:
            continue
        done.add(target)
        while (lacking := planner.shortfall(target)) > 0:
            new = planner.complement(target, lacking)
            region = planner.region(target)
            if not new or (region and planner.price(region) <= planner.price(new)):
                # no move searched finds room, or only at a greater cost than the whole breakdown
                # of the small area (a district whose total is published elsewhere) that holds
                # the cell: withhold that breakdown, within the published total
                unprotected.add(target)
                planner.withheld.update(region or planner.region(target, anywhere=True))
                done.update(region)
                break
            planner.withheld.update(new)
            queue.extend(sorted(new, key=_order))
    return Pattern(frozenset(planner.withheld), frozenset(primary), frozenset(unprotected))


def _order(cell: Cell) -> tuple[int, str]:
    grouping = cell[0]
    # coarse tables first: their complements are the costly choices, finer cells then reuse them
    return sum(level != ALL for level in grouping), repr(cell)


# one table whose every margin is published -----------------------------------------------------


def suppress(
    people: Mapping[Sequence[Hashable], int], *, dimensions: int, threshold: int
) -> set[Leaf]:
    """The cells of one table to withhold when every margin of it is published too."""
    leaves = [tuple(cell) for cell in people]
    dims = tuple(
        Dimension(
            f"d{i}",
            tuple(sorted({leaf[i] for leaf in leaves}, key=repr)),
            {"value": {leaf[i]: leaf[i] for leaf in leaves}},
        )
        for i in range(dimensions)
    )
    groupings = tuple(itertools.product(*(("value", ALL) for _ in range(dimensions))))
    finest = tuple("value" for _ in range(dimensions))
    units = {tuple(c): n for c, n in people.items()}
    margins = Planner(LinkedSet(dims, groupings, units), threshold).values
    forced = frozenset(c for c in margins if c[0] != finest)
    pattern = plan(LinkedSet(dims, groupings, units, forced=forced), threshold=threshold)
    return {key for (grouping, key) in pattern.withheld if grouping == finest}
