"""Keyset paging is exact on both engines: every row once, in the total order, nulls last, ties
broken by the key, forwards and backwards and between two cursors, whatever the SQL's shape
(row values for NOT NULL runs, an expansion with a leading bound otherwise)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Date, Integer, MetaData, String, Table

from storage.engines import make_engine
from storage.paging import SortKey, decode_cursor, encode_cursor, total_order
from storage.repository import PageQuery, Repository
from tests.services import engine_url

TEXT = String().with_variant(String(collation="C"), "postgresql")  # byte order, like SQLite
METADATA = MetaData()
PAGED = Table(
    "paged",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("grade", Integer, nullable=False),  # few values: ties
    Column("word", TEXT, nullable=False),
    Column("day", Date, nullable=False),
    Column("maybe", Integer, nullable=True),  # nulls
    Column("note", TEXT, nullable=True),
)
COLUMNS = ("grade", "word", "day", "maybe", "note")
TYPES = {"id": int, "grade": int, "word": str, "day": date, "maybe": int, "note": str}

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "grade": st.integers(0, 3),
            "word": st.sampled_from(["", "a", "ab", "b", "B", "é"]),
            "day": st.dates(date(2020, 1, 1), date(2020, 1, 5)),
            "maybe": st.none() | st.integers(-2, 2),
            "note": st.none() | st.sampled_from(["x", "y", "Z"]),
        }
    ),
    max_size=24,
)
order_strategy = st.lists(
    st.tuples(st.sampled_from(COLUMNS), st.booleans()),
    max_size=3,
    unique_by=lambda key: key[0],
).map(lambda keys: tuple(SortKey(column, descending) for column, descending in keys))


@pytest.fixture(params=["sqlite", "postgres"])
async def repository(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Repository]:
    """The `paged` table on each engine."""
    url = engine_url(request, tmp_path / "paged.db")
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield Repository(engine, PAGED)
    await engine.dispose()


def _compare(a: dict[str, Any], b: dict[str, Any], order: Sequence[SortKey]) -> int:
    for key in order:
        x, y = a[key.column], b[key.column]
        if x == y:
            continue
        if x is None or y is None:  # nulls last, in both directions
            return 1 if x is None else -1
        less = x < y
        return (-1 if less else 1) * (-1 if key.descending else 1)
    return 0


def expected(rows: list[dict[str, Any]], order: Sequence[SortKey]) -> list[int]:
    """The ids in the total order, computed in Python."""

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        return _compare(a, b, order)

    ranked = sorted(rows, key=functools.cmp_to_key(compare))
    return [row["id"] for row in ranked]


def cursor_of(row: Any, order: Sequence[SortKey]) -> list[Any]:
    """The values a client's cursor brings back, through the real encoding."""
    text = encode_cursor([getattr(row, key.column) for key in order])
    return decode_cursor(text, order, [TYPES[key.column] for key in order])


async def walk(repository: Repository, order: tuple[SortKey, ...], size: int) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        page = await repository.page(PageQuery(order=order, first=size, after=after))
        seen += [row.id for row in page.rows]
        assert page.has_previous is (after is not None)
        if not page.has_next:
            return seen
        assert len(page.rows) == size
        after = cursor_of(page.rows[-1], order)


async def walk_back(repository: Repository, order: tuple[SortKey, ...], size: int) -> list[int]:
    seen: list[int] = []
    before = None
    while True:
        page = await repository.page(PageQuery(order=order, last=size, before=before))
        seen = [row.id for row in page.rows] + seen
        assert page.has_next is (before is not None)
        if not page.has_previous:
            return seen
        before = cursor_of(page.rows[0], order)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=rows_strategy,
    requested=order_strategy,
    size=st.integers(2, 7),
    picks=st.tuples(st.integers(0, 23), st.integers(0, 23)),
)
async def test_pages_walk_the_total_order_both_ways_and_between_cursors(
    repository: Repository,
    rows: list[dict[str, Any]],
    requested: tuple[SortKey, ...],
    size: int,
    picks: tuple[int, int],
) -> None:
    rows = [{"id": n, **row} for n, row in enumerate(rows)]
    await repository.replace_all(rows)
    order = total_order(requested, ["id"])
    ids = expected(rows, order)

    assert await walk(repository, order, size) == ids
    assert await walk_back(repository, order, size) == ids
    if not rows:
        return

    # after and before together: the rows strictly between two cursors, from either end
    low, high = sorted(p % len(rows) for p in picks)
    everything = (await repository.page(PageQuery(order=order, first=len(rows)))).rows
    after, before = cursor_of(everything[low], order), cursor_of(everything[high], order)
    between = ids[low + 1 : high]
    forward = await repository.page(
        PageQuery(order=order, first=len(rows), after=after, before=before, with_total=True)
    )
    assert [row.id for row in forward.rows] == between
    assert (forward.total, forward.has_previous, forward.has_next) == (len(rows), True, False)
    backward = await repository.page(PageQuery(order=order, last=size, after=after, before=before))
    assert [row.id for row in backward.rows] == between[max(len(between) - size, 0) :]
    assert backward.has_previous is (len(between) > size)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=rows_strategy, requested=order_strategy, size=st.integers(1, 4))
async def test_partitioned_pages_and_totals_match_each_parents_own_page(
    repository: Repository, rows: list[dict[str, Any]], requested: tuple[SortKey, ...], size: int
) -> None:
    rows = [{"id": n, **row} for n, row in enumerate(rows)]
    await repository.replace_all(rows)
    order = total_order(requested, ["id"])
    grades = sorted({row["grade"] for row in rows})
    first = await repository.pages_by(
        "grade", grades, PageQuery(order=order, first=size, with_total=True)
    )
    for grade in grades:
        mine = expected([row for row in rows if row["grade"] == grade], order)
        assert [row.id for row in first[grade].rows] == mine[:size]
        assert first[grade].total == len(mine)
        assert first[grade].has_next is (len(mine) > size)
        if len(mine) > size:  # the next page of every parent, from each parent's own cursor
            after = cursor_of(first[grade].rows[-1], order)
            nxt = await repository.pages_by(
                "grade", [grade], PageQuery(order=order, first=size, after=after)
            )
            assert [row.id for row in nxt[grade].rows] == mine[size : 2 * size]


async def test_total_count_is_the_filters_count_on_every_page(repository: Repository) -> None:
    rows = [
        {"id": n, "grade": n % 3, "word": "w", "day": date(2020, 1, 1), "maybe": None, "note": None}
        for n in range(25)
    ]
    await repository.replace_all(rows)
    order = total_order((), ["id"])
    page = await repository.page(PageQuery(order=order, first=10, after=[4], with_total=True))
    assert page.total == 25
    assert [row.id for row in page.rows] == list(range(5, 15))
    past = await repository.page(PageQuery(order=order, first=10, after=[24], with_total=True))
    assert (past.rows, past.total) == ([], 25)


def test_cursors_keep_their_bytes() -> None:
    """Clients hold cursors across releases: the encoding of a row's values never changes."""
    assert encode_cursor(["R00000042"]) == "WyJSMDAwMDAwNDIiXQ"
    assert encode_cursor([None, 3, date(2020, 1, 2), "é"]) == "W251bGwsMywiMjAyMC0wMS0wMiIsIsOpIl0"
