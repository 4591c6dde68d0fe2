"""Citations of public answers: `extensions.citation`, made after execution (docs/citations.md).

An answer is citable when it succeeded, read only public datasets that keep a history, read
each at one version, and touched nothing restricted. Its citation names those versions, the
SHA-256 of its canonical `data` (`canonical`), and a permanent URL `/cite/{id}`.

Which version did a read of the live rows see? A load writes its rows and its version in one
transaction, and version numbers only grow. So if the latest numbers read *after* execution are
the ones this process saw before it (`Citer.seen`), no load committed in between, and the live
rows read were those versions. Otherwise (the first answer a process cites, or one that ran
across an import) the operation runs once more, pinned to the numbers just read, and that
answer is served and cited: it is the current data, and it is exactly what the citation names.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, cast

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from schema.as_of import CURRENT, Snapshot
from schema.city import City
from schema.context import CityContext
from storage.citations import Citation, CitationStore, CitedQuery
from storage.versions import latest_numbers, version_id

log = structlog.get_logger("citygraph.citations")


def canonical(data: Any, *, spaced: bool = True, dotted: bool = True) -> bytes:
    """The canonical form of an answer's `data`: what its hash is of (docs/citations.md).

    UTF-8 JSON without insignificant whitespace, object members in the order the response has
    them (the query's selection order), strings unescaped beyond what JSON requires, numbers
    in their shortest round-trip form, and a float with an integral value written as an integer
    (`2`, not `2.0`), as RFC 8785 does: PostgreSQL writes it so, Python with its `.0`.

    `spaced`: whether a compiled root field's JSON (an orjson.Fragment) may not be in orjson's
    form (stored GeoJSON, embedded as written: `CityContext.spaced_json` says so). `dotted`:
    whether it may write an integral float as `2.0` (`CityContext.dotted_json`). Fragments that
    are neither are canonical as they come (PostgreSQL's compact JSON): an answer made of them
    alone is not searched for floats.
    """
    raw = orjson.dumps(data)
    if not spaced and not dotted and _fragments_only(data):
        return raw
    if (
        spaced
        and isinstance(data, dict)
        and any(isinstance(v, orjson.Fragment) for v in data.values())
    ):
        raw = orjson.dumps(orjson.loads(raw))
    if _may_hold_integral_float(raw):
        raw = orjson.dumps(_integral_floats(orjson.loads(raw)))
    return raw


def _fragments_only(data: Any) -> bool:
    """Whether every root field of `data` is a compiled fragment (or null): nothing of Python's."""
    if not isinstance(data, dict):
        return False
    for value in data.values():  # a loop, not all(...): an answer has a root field or two
        if value is not None and type(value) is not orjson.Fragment:
            return False
    return True


def _may_hold_integral_float(raw: bytes) -> bool:
    """Whether the JSON holds `<digit>.0` not followed by a digit: how orjson writes a float with
    an integral value (a string may hold it too: then the answer is walked for nothing)."""
    # a pattern that starts with a literal is searched for fast; the digit before is checked here
    return any(m.start() and raw[m.start() - 1] in _DIGITS for m in _POINT_ZERO.finditer(raw))


_POINT_ZERO = re.compile(rb"\.0(?![0-9])")
_DIGITS = frozenset(b"0123456789")
_EXACT = 2**53
"""Beyond this a double is not always an integer's exact value: it stays a float."""


def _integral_floats(value: Any) -> Any:
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _EXACT else value
    if isinstance(value, dict):
        return {k: _integral_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral_floats(v) for v in value]
    return value


def answer_sha256(data: Any) -> str:
    return hashlib.sha256(canonical(data)).hexdigest()


class RowsHash:
    """The SHA-256 of an export's rows as they go: `canonical` of the list of every row."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b"[")
        self._first = True

    def update(self, rows: list[Any]) -> None:
        for row in rows:
            if not self._first:
                self._hash.update(b",")
            self._hash.update(orjson.dumps(row))
            self._first = False

    def hexdigest(self) -> str:
        final = self._hash.copy()
        final.update(b"]")
        return final.hexdigest()


def citable(context: CityContext, result: ExecutionResult) -> bool:
    """Whether an executed answer may be cited: public, complete, and at one version per dataset."""
    return result.data is not None and not result.errors and citable_reads(context)


def citable_reads(context: CityContext) -> bool:
    """Whether what a request read may be cited: public, versioned, one version per dataset."""
    read = context.versions_read
    return bool(
        read
        and not context.mixed_versions
        and not context.uncitable
        and not context.restricted
        and not context.restricted_read
        and not context.denials
        and None not in read.values()
        and context.datasets_read <= read.keys()
    )


class CitedRequest:
    """What the citations of one request at some dataset versions share, whatever the answer."""

    __slots__ = ("facts", "version_ids")

    def __init__(self, facts: CitedQuery, version_ids: tuple[str, ...]) -> None:
        self.facts = facts
        self.version_ids = version_ids
        """`extensions.citation.versions`: each dataset's version, by the datasets' names."""


CitedKey = tuple[str, str | None, bytes, tuple[tuple[str, int], ...]]
"""A request's document, operation name, variables (as JSON with sorted keys) and versions."""

_REMEMBERED_REQUEST_SIZE = 8_192
"""The longest document and variables (together) a `Citer` remembers: tens of MB for 1,024."""


class Citer:
    """Cites the public answers of one app, and stores the citations."""

    def __init__(
        self, city: City, store: CitationStore, *, base_url: str, remembered: int = 1024
    ) -> None:
        self.city = city
        self.store = store
        self.base_url = base_url.rstrip("/")
        self._cite_url = f"{self.base_url}/cite/"
        self.seen: dict[str, int] = {}
        """The latest version of each dataset as this process last read it."""
        self._cited: OrderedDict[CitedKey, CitedRequest] = OrderedDict()
        """The requests cited lately: an answer's citation then costs its hashes and little else."""
        self._remembered = remembered

    def url(self, citation_id: str) -> str:
        return self._cite_url + citation_id

    def cited(
        self,
        *,
        document: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        versions: dict[str, int],
    ) -> CitedRequest:
        """What every citation of this request at these versions shares (remembered a while)."""
        variables_json = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        key = (document, operation_name, variables_json, tuple(versions.items()))
        found = self._cited.get(key)
        if found is not None:
            self._cited.move_to_end(key)
            return found
        found = CitedRequest(
            CitedQuery(
                document=document,
                operation_name=operation_name,
                variables=variables,
                versions=versions,
            ),
            tuple(version_id(n, v) for n, v in sorted(versions.items())),
        )
        # a body may hold a megabyte: what is remembered is bounded by size as well as number
        if len(document) + len(variables_json) <= _REMEMBERED_REQUEST_SIZE:
            self._cited[key] = found
            if len(self._cited) > self._remembered:
                self._cited.popitem(last=False)
        return found

    async def latest(self, datasets: list[str]) -> dict[str, int]:
        """The latest version number of these datasets, one statement per database."""
        by_engine: dict[int, tuple[AsyncEngine, list[str]]] = {}
        for name in datasets:
            engine = self.city.repository(name).engine
            by_engine.setdefault(id(engine), (engine, []))[1].append(name)
        found: dict[str, int] = {}
        for engine, names in by_engine.values():
            found.update(await latest_numbers(engine, names))
        return found

    async def pins(self) -> Snapshot:
        """Every public dataset pinned to its latest version (others read live): an export's walk."""
        names = [s.name for s in self.city.catalog.datasets if s.versioned]
        return Snapshot(pinned=await self.latest(names), others_live=True)

    async def cite_export(
        self, context: CityContext, request: GraphQLRequestData, *, export_format: str
    ) -> Citation | None:
        """The citation of an export whose pages are pinned, stored before its first byte.

        Its hash is not known yet: `ExportHash` stores it once the last row is sent.
        """
        read = context.versions_read
        if not citable_reads(context) or any(v == CURRENT for v in read.values()):
            return None
        versions = {name: number for name, number in read.items() if number is not None}
        # what `/cite/{id}` runs again: the export's own request
        document, variables = request.query or "", request.variables
        citation = Citation.of(
            document=document,
            operation_name=request.operation_name,
            variables=variables,
            versions=versions,
            answer_sha256=None,
            export_format=export_format,
        )
        try:
            await self.store.save(citation)
        except Exception:
            log.warning("could not store an export's citation", exc_info=True)
            return None
        return citation

    async def settle(
        self,
        context: CityContext,
        result: ExecutionResult,
        rerun: Callable[[], Awaitable[ExecutionResult]],
        *,
        variables: dict[str, Any] | None,
    ) -> ExecutionResult:
        """The answer to send, with its citation when it is citable."""
        if not citable(context, result):
            return result
        live = sorted(name for name, number in context.versions_read.items() if number == CURRENT)
        versions = {n: v for n, v in context.versions_read.items() if v not in (CURRENT, None)}
        if live:
            try:
                latest = await self.latest(live)
            except Exception:  # the answer stands; only its citation is missing
                log.warning("could not read dataset versions", exc_info=True)
                return result
            if len(latest) < len(live):
                return result  # a dataset never loaded through a versioned load
            # a live read is of the latest version if no load committed since this process
            # last looked, and a compiled statement that saw a version saw the latest
            stale = any(
                self.seen.get(name) != latest[name]
                or context.observed.get(name, latest[name]) != latest[name]
                for name in live
            )
            self.seen.update(latest)
            versions.update(latest)
            if stale:
                pinned = await self._pinned(context, versions, rerun)
                if not citable(context, pinned):
                    return result  # the first answer stands, uncited
                result = pinned
        return await self.cite(context, result, versions, variables=variables)

    async def _pinned(
        self,
        context: CityContext,
        versions: dict[str, int],
        rerun: Callable[[], Awaitable[ExecutionResult]],
    ) -> ExecutionResult:
        context.pins = Snapshot(pinned=dict(versions))
        context.versions_read.clear()
        context.observed.clear()
        context.as_of.clear()
        context.mixed_versions = False
        return await rerun()

    async def cite(
        self,
        context: CityContext,
        result: ExecutionResult,
        versions: dict[str, int],
        *,
        variables: dict[str, Any] | None,
    ) -> ExecutionResult:
        """Store the answer's citation and put it in `extensions.citation`."""
        # the cited answer is sent in its canonical form: the bytes its hash is of
        data = canonical(result.data, spaced=context.spaced_json, dotted=context.dotted_json)
        sha = hashlib.sha256(data).hexdigest()
        document = context.document or ""
        operation_name = context.operation_name
        # what the request shares with its earlier citations is remembered; the answer's hash
        # and the id are made anew for every answer, repeated or not
        cited = self.cited(
            document=document,
            operation_name=operation_name,
            variables=variables,
            versions=versions,
        )
        citation_id = cited.facts.id_of(sha)
        if not self.store.written(citation_id):
            citation = Citation(
                id=citation_id,
                document=document,
                operation_name=operation_name,
                variables=variables,
                versions=versions,
                answer_sha256=sha,
            )
            try:
                await self.store.save(citation)
            except Exception:  # a citation that is not stored is not handed out
                log.warning("could not store a citation", exc_info=True)
                return result
        result.data = cast(Any, orjson.Fragment(data))
        citation_extension = {
            "id": citation_id,
            "url": self._cite_url + citation_id,
            "sha256": sha,
            "versions": list(cited.version_ids),
        }
        result.extensions = {**(result.extensions or {}), "citation": citation_extension}
        return result
