"""The search behind schema.suppression: moves between finest cells, their room, and complements.

A move adds `t` to some finest cells and takes `t` from others; every cell of every table it changes
must be withheld for it to be allowed, and it can go as far as the smallest finest cell it takes
from. The planner finds, for a withheld cell, moves that shift it by the threshold (its witnesses),
and when there are too few, the cheapest cells to withhold so that there are.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from schema.linked_tables import ALL, Cell, Grouping, Leaf, LinkedSet

UNBOUNDED = 1 << 62
SEARCH = 64
"""Moves a complement search weighs before it takes the cheapest."""
PARTNERS = 12
"""Values a block of dimensions pairs each of the target's values with: the nearest and biggest."""


@dataclass(frozen=True, slots=True)
class _Component:
    """One block of dimensions' part of a move: +1 on the `plus` values of those dimensions, and
    -1 on the `minus` ones unless it is a single (which then changes the block's totals)."""

    dims: tuple[int, ...]
    plus: tuple[Hashable, ...]
    minus: tuple[Hashable, ...] | None = None

    def signs(self) -> tuple[tuple[tuple[Hashable, ...], int], ...]:
        if self.minus is None:
            return ((self.plus, 1),)
        return ((self.plus, 1), (self.minus, -1))


Move = tuple[_Component, ...]
"""A product of components whose blocks partition the dimensions: the corners of a hypercube
whose sides may run through two dimensions at once (a "diagonal": one person both older and in
another quartier), which is what sparse tables need."""


def _partitions(items: tuple[int, ...]) -> Iterator[list[tuple[int, ...]]]:
    """Every partition of `items` into blocks, finest first (one dimension per block)."""
    found: list[list[tuple[int, ...]]] = []

    def grow(rest: tuple[int, ...], blocks: list[tuple[int, ...]]) -> None:
        if not rest:
            found.append(list(blocks))
            return
        head, tail = rest[0], rest[1:]
        for size in range(len(tail) + 1):
            for others in itertools.combinations(tail, size):
                left = tuple(x for x in tail if x not in others)
                grow(left, [*blocks, (head, *others)])

    grow(items, [])
    return iter(sorted(found, key=lambda blocks: -len(blocks)))


@dataclass
class Planner:
    linked: LinkedSet
    threshold: int
    values: dict[Cell, int] = field(default_factory=dict)
    withheld: set[Cell] = field(default_factory=set)
    # caches, by the ids of components (every component lives in `_options` as long as they do)
    _changed: dict[tuple[int, ...], list[Cell]] = field(default_factory=dict)
    _options: dict[tuple[Any, ...], list[_Component]] = field(default_factory=dict)
    _corners: dict[tuple[int, ...], tuple[tuple[Leaf, ...], tuple[Leaf, ...]]] = field(
        default_factory=dict
    )
    _component_keys: dict[int, list[Any]] = field(default_factory=dict)
    _shared: dict[tuple[int, Hashable, Hashable], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        dims = self.linked.dimensions
        for grouping in self.linked.groupings:
            for cell in self.cells(grouping):
                self.values[cell] = 0
        for leaf, units in self.linked.units.items():
            for grouping in self.linked.groupings:
                key = tuple(
                    d.key(level, v) for d, level, v in zip(dims, grouping, leaf, strict=True)
                )
                self.values[(grouping, key)] += units
        # each dimension's values by how many units they hold: big partners first
        weight: list[dict[Hashable, int]] = [defaultdict(int) for _ in dims]
        for leaf, units in self.linked.units.items():
            for i, v in enumerate(leaf):
                weight[i][v] += units
        self.weight = weight

    def cells(self, grouping: Grouping) -> Iterator[Cell]:
        keys = [d.keys(level) for d, level in zip(self.linked.dimensions, grouping, strict=True)]
        for key in itertools.product(*keys):
            yield grouping, key

    def people(self, cell: Cell) -> int:
        if self.linked.people is None:
            return self.values[cell]
        return self.linked.people.get(cell, 0)

    def units(self, leaf: Leaf, delta: Mapping[Leaf, int]) -> int:
        return self.linked.units.get(leaf, 0) + delta.get(leaf, 0)

    def cost(self, cell: Cell) -> int:
        """What withholding a cell costs readers: the square of its count (plus one, so an empty
        cell costs something). Squared, a city's total of 3,000 weighs as much as 90,000 cells of
        ten: many small complements are always preferred to one large one, which readers quote
        most and whose own protection would cascade through the other large cells."""
        return (1 + self.values[cell]) ** 2

    # moves -----------------------------------------------------------------------------------

    def changed(self, move: Move) -> list[Cell]:
        """The cells a move changes (by +t or -t), in every table."""
        ids = tuple(map(id, move))
        found = self._changed.get(ids)
        if found is not None:
            return found
        cells = self._changed[ids] = list(self._changes(move))
        return cells

    def _changes(self, move: Move) -> Iterator[Cell]:
        size = len(self.linked.dimensions)
        per_component = [self._keys(comp) for comp in move]
        for g, grouping in enumerate(self.linked.groupings):
            per_block = [keys[g] for keys in per_component]
            if any(options is None for options in per_block):
                continue  # a pair cancels at these levels: the whole table is unchanged
            for combo in itertools.product(*per_block):  # type: ignore[arg-type]
                key: list[Hashable] = [ALL] * size
                for positions, keys in combo:
                    for i, k in zip(positions, keys, strict=True):
                        key[i] = k
                yield grouping, tuple(key)

    def _keys(
        self, comp: _Component
    ) -> list[list[tuple[tuple[int, ...], tuple[Hashable, ...]]] | None]:
        """Per grouping, the keys a component's values have (None where its pair cancels)."""
        found = self._component_keys.get(id(comp))
        if found is not None:
            return found
        dims = self.linked.dimensions
        found = []
        for grouping in self.linked.groupings:
            up = tuple(
                dims[i].key(grouping[i], v) for i, v in zip(comp.dims, comp.plus, strict=True)
            )
            if comp.minus is None:
                found.append([(comp.dims, up)])
                continue
            down = tuple(
                dims[i].key(grouping[i], v) for i, v in zip(comp.dims, comp.minus, strict=True)
            )
            found.append(None if up == down else [(comp.dims, up), (comp.dims, down)])
        self._component_keys[id(comp)] = found
        return found

    def corners(self, move: Move) -> tuple[tuple[Leaf, ...], tuple[Leaf, ...]]:
        """The finest cells a move adds to, and those it takes from."""
        ids = tuple(map(id, move))
        found = self._corners.get(ids)
        if found is not None:
            return found
        size = len(self.linked.dimensions)
        plus: list[Leaf] = []
        minus: list[Leaf] = []
        for combo in itertools.product(*(c.signs() for c in move)):
            leaf: list[Hashable] = [None] * size
            sign = 1
            for comp, (values, s) in zip(move, combo, strict=True):
                for i, v in zip(comp.dims, values, strict=True):
                    leaf[i] = v
                sign *= s
            (plus if sign > 0 else minus).append(tuple(leaf))
        found = self._corners[ids] = (tuple(plus), tuple(minus))
        return found

    def room(self, move: Move, direction: int, delta: Mapping[Leaf, int]) -> int:
        """How far a move can go in `direction` (+1: the target's way) before a cell turns negative."""
        plus, minus = self.corners(move)
        units = self.linked.units
        return min(
            (
                units.get(leaf, 0) + delta.get(leaf, 0)
                for leaf in (minus if direction > 0 else plus)
            ),
            default=UNBOUNDED,  # nothing decreases: only a withheld total bounds it, from above
        )

    def candidates(self, target: Cell) -> Iterator[Move]:
        """Moves that change `target` by +1: hypercubes first, then diagonals, nearest first."""
        grouping, key = target
        for blocks in _partitions(tuple(range(len(grouping)))):
            options = [self._components(block, grouping, key) for block in blocks]
            yield from itertools.product(*options)

    def _components(
        self, block: tuple[int, ...], grouping: Grouping, key: tuple[Hashable, ...]
    ) -> list[_Component]:
        found = self._options.get((block, grouping, key))
        if found is None:
            found = self._options[(block, grouping, key)] = self._find_components(
                block, grouping, key
            )
        return found

    def _find_components(
        self, block: tuple[int, ...], grouping: Grouping, key: tuple[Hashable, ...]
    ) -> list[_Component]:
        dims = self.linked.dimensions
        joint = list(itertools.product(*(dims[i].leaves for i in block)))

        def inside(values: tuple[Hashable, ...]) -> bool:
            return all(
                dims[i].key(grouping[i], v) == key[i] for i, v in zip(block, values, strict=True)
            )

        weights = [self.weight[i] for i in block]

        def weight(values: tuple[Hashable, ...]) -> int:
            return min(w[v] for w, v in zip(weights, values, strict=True))

        plus = sorted((v for v in joint if inside(v)), key=weight, reverse=True)[:PARTNERS]
        singles = [_Component(block, v) for v in plus]
        if all(grouping[i] == ALL for i in block):
            return singles
        minus = [v for v in joint if not inside(v)]

        def shared(i: int, x: Hashable, y: Hashable) -> int:
            found = self._shared.get((i, x, y))
            if found is None:
                levels = dims[i].levels.values()
                found = self._shared[(i, x, y)] = sum(m[x] == m[y] for m in levels)
            return found

        def rank(a: tuple[Hashable, ...], b: tuple[Hashable, ...]) -> tuple[int, int]:
            # a pair that stays together at more levels changes fewer cells; bigger ones go further
            together = sum(shared(i, x, y) for i, x, y in zip(block, a, b, strict=True))
            return -together, -weight(b)

        pairs: list[tuple[tuple[int, int], tuple[Hashable, ...], tuple[Hashable, ...]]] = []
        for a in plus:
            ranked = [(rank(a, b), b) for b in minus]
            for order, b in heapq.nsmallest(PARTNERS, ranked, key=lambda item: item[0]):
                pairs.append((order, a, b))
        pairs.sort(key=lambda item: item[0])
        return [_Component(block, a, b) for _, a, b in pairs] + singles

    def within(self, cell: Cell, outer: Cell) -> bool:
        """True when every finest cell of `cell` is one of `outer`'s."""
        for d, level, key, outer_level, outer_key in zip(
            self.linked.dimensions, cell[0], cell[1], outer[0], outer[1], strict=True
        ):
            if outer_level == ALL:
                continue
            if level == ALL or any(
                d.key(outer_level, v) != outer_key for v in d.leaves if d.key(level, v) == key
            ):
                return False
        return True

    def region(self, target: Cell, *, anywhere: bool = False) -> set[Cell]:
        """Every cell that may be withheld inside the forced totals holding `target` (none when
        no forced total holds it, unless `anywhere`: then every cell that may be withheld)."""
        holders = [f for f in self.linked.forced if self.within(target, f)]
        if not holders and not anywhere:
            return set()
        return {
            cell
            for cell in self.values
            if cell not in self.linked.forced
            and (not holders or any(self.within(cell, f) for f in holders))
        }

    def price(self, cells: Iterable[Cell]) -> int:
        """What withholding these cells costs, less what is withheld already."""
        return sum(self.cost(c) for c in cells if c not in self.withheld)

    # protection ------------------------------------------------------------------------------

    def allowed(self, move: Move) -> bool:
        cells = self._changed.get(tuple(map(id, move)))
        # most moves change a published cell early on: stop there rather than list them all
        return all(cell in self.withheld for cell in (cells or self._changes(move)))

    def stretch(self, target: Cell, direction: int, wanted: int) -> int:
        """How far `target` moves in `direction` by allowed moves, up to `wanted`."""
        delta: dict[Leaf, int] = defaultdict(int)
        gained = 0
        for move in self.candidates(target):
            if gained >= wanted:
                break
            step = min(self.room(move, direction, delta), wanted - gained)
            if step <= 0 or not self.allowed(move):
                continue
            plus, minus = self.corners(move)
            for leaf in plus:
                delta[leaf] += direction * step
            for leaf in minus:
                delta[leaf] -= direction * step
            gained += step
        return gained

    def shortfall(self, target: Cell) -> int:
        """How much room `target` still lacks: 0 once it can move by the threshold."""
        up = self.stretch(target, +1, self.threshold)
        if up < self.threshold:
            up += self.stretch(target, -1, self.threshold - up)
        return max(0, self.threshold - up)

    def complement(self, target: Cell, wanted: int) -> list[Cell] | None:
        """The cells to withhold for the move that gives `target` room most cheaply, if any.

        Cheapest per unit of room (up to `wanted`): a move that costs twice as much but goes
        three times as far is the better buy, as in a greedy set cover. The search stops after
        `SEARCH` moves that would help: the best of the nearest is good enough.
        """
        best: tuple[float, list[Cell]] | None = None
        seen = 0
        for move in self.candidates(target):
            room = min(max(self.room(move, +1, {}), self.room(move, -1, {})), wanted)
            if room <= 0:
                continue
            new = [cell for cell in self.changed(move) if cell not in self.withheld]
            if not new or any(cell in self.linked.forced for cell in new):
                continue  # already allowed (`stretch` used it), or never allowed
            price = sum(self.cost(cell) for cell in new) / room
            if best is None or price < best[0]:
                best = (price, new)
            seen += 1
            if seen >= SEARCH:
                break
        return None if best is None else best[1]
