"""Citation ids: the bytes hashed stay the same however the id is made, so every stored id stays.

`citation_id` hashes the facts written as one JSON list; a cited answer's id is made from the
start of that list, written once per request (`CitedQuery`), and the answer's hash. Given facts
with nulls, unicode, escapes and nested variables in no particular order, both make the same
bytes and the same id as the plain form, and ids written before stay what they were.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest

from storage.citations import Citation, CitedQuery, citation_id

SHA = hashlib.sha256(b"an answer").hexdigest()
FACTS: list[dict[str, Any]] = [
    {
        "document": "{ bikeStations(first: 2) { nodes { id name } } }",
        "operation_name": None,
        "variables": None,
        "versions": {"bikeStations": 1},
        "answer_sha256": SHA,
        "export_format": None,
    },
    {
        "document": 'query Q($d: String) { districts(code: $d) { nodes { name } } } # "é"\n',
        "operation_name": "Q",
        "variables": {"d": "Überstraße ✓ 🚲", "a": {"z": [1, 2.5, None, True], "b": None}},
        "versions": {"districts": 3, "bikeStations": 12},
        "answer_sha256": SHA,
        "export_format": None,
    },
    {
        "document": "query Stations($first: Int) { bikeStations(first: $first) { totalCount } }",
        "operation_name": "Stations",
        "variables": {"first": 100, "after": None, "tab\tand\u0001": {"y": {"x": []}}},
        "versions": {},
        "answer_sha256": SHA,
        "export_format": None,
    },
    {
        "document": "{ bikeStations { nodes { id } } }",
        "operation_name": None,
        "variables": {},
        "versions": {"bikeStations": 2**40},
        "answer_sha256": None,
        "export_format": "geojson",
    },
]


def plain_facts(facts: dict[str, Any]) -> bytes:
    return orjson.dumps(
        [
            facts["document"],
            facts["operation_name"],
            facts["variables"],
            facts["versions"],
            facts["answer_sha256"],
            facts["export_format"],
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def plain_id(facts: bytes) -> str:
    return base64.b32encode(hashlib.sha256(facts).digest()).decode()[:26].lower()


def cited_query(facts: dict[str, Any]) -> CitedQuery:
    return CitedQuery(
        document=facts["document"],
        operation_name=facts["operation_name"],
        variables=facts["variables"],
        versions=facts["versions"],
    )


@pytest.mark.parametrize("facts", FACTS)
def test_a_cited_query_hashes_the_bytes_of_the_plain_form(facts: dict[str, Any]) -> None:
    query = cited_query(facts)
    answer, export_format = facts["answer_sha256"], facts["export_format"]
    assert query.head + query.tail(answer, export_format) == plain_facts(facts)
    expected = plain_id(plain_facts(facts))
    assert query.id_of(answer, export_format) == expected
    assert citation_id(**facts) == expected
    assert Citation.of(**facts).id == expected


def test_one_cited_query_gives_each_answer_its_own_id() -> None:
    query = cited_query(FACTS[1])
    for answer in (SHA, hashlib.sha256(b"another answer").hexdigest(), None):
        facts = {**FACTS[1], "answer_sha256": answer}
        assert query.id_of(answer) == plain_id(plain_facts(facts))


def test_ids_stored_before_stay_what_they_were() -> None:
    """Ids made by the first release (base64's base32 of the facts' SHA-256)."""
    answer = "0" * 64
    assert citation_id(**{**FACTS[0], "answer_sha256": answer}) == "2rlxp7wzfla7yrmpi3jb65ctdi"
    assert cited_query(FACTS[0]).id_of(answer) == "2rlxp7wzfla7yrmpi3jb65ctdi"


def test_an_id_is_base32_of_its_digest_for_any_digest() -> None:
    for n in range(2_000):
        facts = {**FACTS[0], "answer_sha256": hashlib.sha256(b"%d" % n).hexdigest()}
        assert citation_id(**facts) == plain_id(plain_facts(facts))
