"""A deep page is an index range on both engines: the planner's own plan says so (not a timing).

The residents table, made by the migrations and filled by bench.flat's generator, is asked for
pages after a cursor in the middle, backwards, in descending order, with totalCount, as a
citizen, and by district (a composite index that carries the key). Before the predicates were reshaped, SQLite scanned the primary key from its start
(`SCAN ... USING INDEX`, no `(id>?)`) and PostgreSQL filtered an unbounded index scan or sorted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from bench.flat import fill_residents, resident_id
from schema.city import City, builtin_specs
from schema.datasets import Catalog
from storage.engines import Databases
from storage.filters import Compare
from storage.paging import SortKey
from storage.repository import PageQuery, Repository
from tests import services

CATALOG = Catalog(builtin_specs())
ROWS = 20_000  # enough that PostgreSQL's costs favour the index for a page, as at a million
MIDDLE = (resident_id(ROWS // 2),)
BY_ID = (SortKey("id"),)

BY_DISTRICT = (SortKey("district_code"), SortKey("id"))
AT = ("75110", MIDDLE[0])


@dataclass(frozen=True)
class Range:
    """The index a page must range over, and its condition as each engine prints it."""

    sqlite_index: str
    sqlite_condition: str
    postgres_index: str
    postgres_condition: str


def key(op: str) -> Range:
    return Range("sqlite_autoindex_resident_1", f"(id{op}?)", "resident_pkey", f"(id)::text {op} ")


def district(op: str) -> Range:
    return Range(
        "ix_resident_district_code_id",
        f"((district_code,id){op}(?,?))",
        "ix_resident_district_code_id",
        f"ROW((district_code)::text, (id)::text) {op} ROW(",
    )


PAGES = {
    "after a cursor": (PageQuery(order=BY_ID, first=100, after=MIDDLE), key(">")),
    "before a cursor": (PageQuery(order=BY_ID, last=100, before=MIDDLE), key("<")),
    "descending": (PageQuery(order=(SortKey("id", True),), first=100, after=MIDDLE), key("<")),
    "with totalCount": (
        PageQuery(order=BY_ID, first=100, after=MIDDLE, with_total=True),
        key(">"),
    ),
    "a citizen's own rows": (
        PageQuery(order=BY_ID, first=100, filter=Compare("id", "eq", MIDDLE[0])),
        key("="),
    ),
    "by district": (PageQuery(order=BY_DISTRICT, first=100, after=AT), district(">")),
    "by district, backwards": (PageQuery(order=BY_DISTRICT, last=100, before=AT), district("<")),
    "by district descending": (
        PageQuery(order=(SortKey("district_code", True), SortKey("id", True)), first=100, after=AT),
        district("<"),
    ),
}


@pytest.fixture(params=["sqlite", "postgres"], scope="module")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('plans')}/city.db"
        return
    with services.temporary_database(request.getfixturevalue("postgres_admin_url")) as url:
        yield url


@pytest.fixture
async def residents(database_url: str) -> AsyncIterator[Repository]:
    city = City(CATALOG, Databases(database_url))
    await city.migrate()
    repository = city.repository("residents")
    async with repository.engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM resident"))).scalar_one()
    if count != ROWS:
        await fill_residents(repository.engine, ROWS)
    yield repository
    await city.close()


async def plan(repository: Repository, query: PageQuery) -> Any:
    statement = repository._page_statement(query, partition=None, parents=())
    sql = str(
        statement.compile(dialect=repository.engine.dialect, compile_kwargs={"literal_binds": True})
    )
    async with repository.engine.connect() as conn:
        if repository.engine.dialect.name == "sqlite":
            rows = await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            return [row[3] for row in rows]
        raw = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))).scalar_one()
        return (orjson.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


@pytest.mark.parametrize("name", list(PAGES))
async def test_the_page_is_a_range_of_an_index(residents: Repository, name: str) -> None:
    query, expected = PAGES[name]
    found = await plan(residents, query)
    if residents.engine.dialect.name == "sqlite":
        [reads] = [line for line in found if " resident " in f"{line} "]
        assert reads.startswith(f"SEARCH resident USING INDEX {expected.sqlite_index} "), found
        assert reads.endswith(expected.sqlite_condition), found
        assert not any("TEMP B-TREE" in line for line in found), found
        if query.with_total:  # counted once, apart from the page
            assert any(line.startswith("SCALAR SUBQUERY") for line in found), found
        return
    scans = [n for n in nodes(found) if n.get("Relation Name") == "resident"]
    [page] = [n for n in scans if n.get("Alias") == "resident"]
    assert (page["Node Type"], page["Index Name"]) == ("Index Scan", expected.postgres_index), page
    assert expected.postgres_condition in page["Index Cond"], page
    assert "Filter" not in page, page
    kinds = {n["Node Type"] for n in nodes(found)}
    assert not kinds & {"Sort", "Incremental Sort", "WindowAgg"}, kinds
    if query.with_total:
        [counted] = [n for n in scans if n.get("Alias") == "counted"]
        assert counted["Parent Relationship"] != "Inner", counted  # an InitPlan, not a join
