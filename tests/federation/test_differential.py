"""The router path and the one-process gateway answer alike: same `data`, same error codes.

Every query of the battery runs through Hive Gateway (in front of every subgraph) and through
`citygraph serve`, for each tier; several cross departments through District and Resident.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.federation.launch import Distributed

QUERIES = {
    "districts and their bike stations (territory -> mobility -> territory)": """
        { districts(first: 3) { totalCount nodes { code name population
            bikeStations(first: 4) { totalCount nodes { id name district { code label } } }
            airQualityStations(first: 3) { nodes { id } } } } }""",
    "bike stations and their district (mobility -> territory)": """
        { bikeStations(first: 8, orderBy: [{field: CAPACITY, direction: DESC}])
            { totalCount pageInfo { hasNextPage endCursor }
              nodes { id capacity districtCode district { name quartiers(first: 2) { nodes { code } } } } } }""",
    "a district's people, counted by each department (territory -> registry, social, tax)": """
        { district(code: "75101") { name
            residents(first: 5) { totalCount nodes { id familyName } }
            households(first: 5) { totalCount }
            benefitCases(first: 5) { totalCount nodes { id monthlyAmountEur } }
            taxAssessments(first: 5) { totalCount } } }""",
    "residents and what other departments hold on them (registry -> social, tax, urbanism)": """
        { residents(first: 5, orderBy: [{field: ID}]) { totalCount nodes {
            id givenName familyName birthDate household { address }
            district { name } quartier { name }
            benefitCases(first: 3) { nodes { id benefitType status } }
            taxAssessments(first: 3) { nodes { id taxDueEur } }
            buildingPermits(first: 3) { nodes { id } } } } }""",
    "benefit cases and their resident (social -> registry -> territory)": """
        { benefitCases(first: 5) { nodes { id benefitType residentId
            resident { id familyName district { name } } district { code } } } }""",
    "one resident by id (registry)": """{ resident(id: "R1") { id familyName sex } }""",
    "permits with a restricted applicant (urbanism -> registry)": """
        { buildingPermits(first: 5) { nodes { id address status applicantName
            applicant { familyName taxAssessments(first: 3) { totalCount } } district { name } } } }""",
    "aggregates and public statistics": """
        { bikeStationsAggregate(groupBy: [DISTRICT_CODE]) { key { districtCode } count sum { capacity } }
          residentStatistics(groupBy: [DISTRICT]) { districtCode people suppressed }
          benefitCaseStatistics(groupBy: [BENEFIT_TYPE]) { benefitType people suppressed } }""",
    "the catalog": """{ datasets { name title department access } }""",
    # no tier of the battery may read the log: every answer is a refusal, the same at any moment
    "the access log, refused (territory)": """
        { accessLog(first: 2) { nodes { at tier } } accessLogCounts(by: DAY) { key count } }""",
    "a bad argument": """{ bikeStations(first: 100000) { totalCount } districts { totalCount } }""",
}

PURPOSE = "Citygraph-Purpose"


def tiers(city: Distributed) -> dict[str, dict[str, str]]:
    """Headers of each tier: anonymous, app, staff with and without a purpose, citizen."""

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return {
        "anonymous": {},
        "app": bearer(city.app_token()),
        "social staff with a purpose": {
            **bearer(city.token("social:read", "registry:read", "open-data")),
            PURPOSE: "legal-basis=CASF-L133-3; case=AS-2026-7",
        },
        "registry staff with a purpose": {
            **bearer(city.token("registry:read")),
            PURPOSE: "legal-basis=CGCT-L2122-32; case=EC-2026-1",
        },
        "registry staff without a purpose": bearer(city.token("registry:read")),
        "citizen": bearer(city.token("self", subject="citizen-R1", resident_id="R1")),
    }


def answer(url: str, query: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(url, json={"query": query}, headers=headers, timeout=30)
    body = response.json()
    # the set of codes: the router denies a field once for the document, citygraph once per row
    codes = sorted({(e.get("extensions") or {}).get("code", "?") for e in body.get("errors") or []})
    return {"status": response.status_code, "data": body.get("data"), "codes": codes}


@pytest.fixture(scope="module")
def tier_headers(distributed: Distributed) -> dict[str, dict[str, str]]:
    return tiers(distributed)


@pytest.mark.parametrize(
    "tier",
    [
        "anonymous",
        "app",
        "social staff with a purpose",
        "registry staff with a purpose",
        "registry staff without a purpose",
        "citizen",
    ],
)
@pytest.mark.parametrize("name", list(QUERIES))
def test_the_router_answers_as_the_one_process_gateway(
    distributed: Distributed, tier_headers: dict[str, dict[str, str]], tier: str, name: str
) -> None:
    headers = tier_headers[tier]
    one_process = answer(f"{distributed.base}/graphql", QUERIES[name], headers)
    routed = answer(f"{distributed.router}/graphql", QUERIES[name], headers)
    assert routed == one_process


def test_the_battery_sees_restricted_data_somewhere(
    distributed: Distributed, tier_headers: dict[str, dict[str, str]]
) -> None:
    # guard against a battery that only ever compares nulls
    staff = answer(
        f"{distributed.router}/graphql",
        QUERIES["benefit cases and their resident (social -> registry -> territory)"],
        tier_headers["social staff with a purpose"],
    )
    assert staff["codes"] == []
    nodes = staff["data"]["benefitCases"]["nodes"]
    assert nodes
    assert all(n["resident"]["familyName"] for n in nodes)


def forged(city: Distributed) -> dict[str, str]:
    """Bearer tokens citygraph refuses: not a JWT, a JWT whose signature does not verify."""
    token = city.token("registry:read")
    return {"not a JWT": "a.b.c", "a bad signature": token[:-6] + "AAAAAA"}


@pytest.mark.parametrize("case", ["not a JWT", "a bad signature"])
def test_the_router_refuses_a_bad_token_as_citygraph_does(
    distributed: Distributed, case: str
) -> None:
    headers = {"Authorization": f"Bearer {forged(distributed)[case]}"}
    query = "{ districts { totalCount } }"
    routed = httpx.post(f"{distributed.router}/graphql", json={"query": query}, headers=headers)
    one_process = answer(f"{distributed.base}/graphql", query, headers)
    assert answer(f"{distributed.router}/graphql", query, headers) == one_process
    assert one_process["status"] == 401
    assert routed.headers["www-authenticate"].startswith("Bearer ")


def test_refused_root_fields_of_one_subgraph_keep_their_place_through_the_router(
    distributed: Distributed,
) -> None:
    # the router batches a subgraph's root fields under an `@` step; nothing of it may show
    query = QUERIES["the access log, refused (territory)"]
    bodies = [
        httpx.post(f"{url}/graphql", json={"query": query}, timeout=30).json()
        for url in (distributed.base, distributed.router)
    ]
    one_process, routed = ({tuple(e["path"]) for e in body["errors"]} for body in bodies)
    assert routed == one_process == {("accessLog",), ("accessLogCounts",)}
    assert bodies[1]["data"] == {"accessLog": None, "accessLogCounts": None}
