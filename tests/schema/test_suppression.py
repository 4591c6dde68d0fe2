"""Small-cell suppression: nothing from fewer than the threshold, nothing recoverable by subtraction."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schema.suppression import suppress


def test_small_cells_are_withheld_with_a_complement() -> None:
    people: dict[Any, int] = {("75101",): 40, ("75102",): 3, ("75103",): 25, ("75104",): 12}
    withheld = suppress(people, dimensions=1, threshold=10)
    # 3 alone would be the grand total minus the others: the next smallest goes too
    assert withheld == {("75102",), ("75104",)}


def test_nothing_withheld_when_every_cell_is_large() -> None:
    people: dict[Any, int] = {
        (d, s): 10 + i for i, (d, s) in enumerate(itertools.product("ab", "FM"))
    }
    assert suppress(people, dimensions=2, threshold=10) == set()


def test_two_dimensional_table_rows_and_columns() -> None:
    people: dict[Any, int] = {
        ("a", "F"): 50,
        ("a", "M"): 4,
        ("a", "X"): 30,
        ("b", "F"): 60,
        ("b", "M"): 45,
        ("b", "X"): 35,
    }
    withheld = suppress(people, dimensions=2, threshold=10)
    assert ("a", "M") in withheld
    assert_safe(people, withheld, dims=2)


def assert_safe(people: Mapping[Any, int], withheld: set[Any], dims: int) -> None:
    for cell, n in people.items():
        if n < 10:
            assert cell in withheld
    for axis in range(dims):
        lines: dict[Any, list[Any]] = {}
        for cell in people:
            lines.setdefault(cell[:axis] + cell[axis + 1 :], []).append(cell)
        for line in lines.values():
            hidden = [c for c in line if c in withheld]
            assert len(hidden) != 1 or len(line) == 1, (axis, line, hidden)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(1, 3), st.integers(1, 5))
def test_no_line_ever_has_exactly_one_withheld_cell(seed: int, dims: int, size: int) -> None:
    rng = random.Random(seed)
    domains = [[f"v{i}" for i in range(rng.randint(1, size))] for _ in range(dims)]
    people: dict[Any, int] = {
        cell: rng.choice([0, 1, 3, 9, 10, 11, 25, 80]) for cell in itertools.product(*domains)
    }
    assert_safe(people, suppress(people, dimensions=dims, threshold=10), dims)
