"""Field- and row-level access by tier, scope, purpose and ownership (DESIGN section 3)."""

from __future__ import annotations

from typing import Any

from auth.principal import Tier
from tests.schema.conftest import CASES, RESIDENTS, Backend

RESIDENTS_Q = "{ residents(first: 50) { totalCount nodes { id familyName birthDate } } }"


def codes(result: dict[str, Any]) -> list[str]:
    return sorted(e["code"] for e in result["errors"])


async def test_staff_with_scope_and_purpose_reads_the_registry(
    backend: Backend, principal: Any
) -> None:
    result = await backend.run(
        RESIDENTS_Q, principal=principal("registry:read", purpose="CRPA-L311")
    )
    assert result["errors"] == []
    assert result["data"]["residents"]["totalCount"] == len(RESIDENTS)
    assert {n["familyName"] for n in result["data"]["residents"]["nodes"]} == {
        r["family_name"] for r in RESIDENTS
    }


async def test_staff_without_purpose_is_told_to_declare_one(
    backend: Backend, principal: Any
) -> None:
    result = await backend.run(RESIDENTS_Q, principal=principal("registry:read"))
    assert result["data"] == {"residents": None}
    assert codes(result) == ["PURPOSE_REQUIRED"]


async def test_a_purpose_that_does_not_cover_the_scope_is_forbidden(
    backend: Backend, principal: Any
) -> None:
    staff = principal("registry:read", "social:read", purpose="CASF-L262", covers=("social:read",))
    assert codes(await backend.run(RESIDENTS_Q, principal=staff)) == ["FORBIDDEN"]
    cases = await backend.run("{ benefitCases { totalCount } }", principal=staff)
    assert cases["data"]["benefitCases"]["totalCount"] == len(CASES)


async def test_one_departments_scope_does_not_open_another(
    backend: Backend, principal: Any
) -> None:
    staff = principal("registry:read", purpose="CRPA-L311")
    result = await backend.run(
        '{ buildingPermit(id: "PC0") { id applicantName } }', principal=staff
    )
    assert result["data"]["buildingPermit"] == {"id": "PC0", "applicantName": None}
    assert codes(result) == ["FORBIDDEN"]


async def test_an_app_without_a_personal_scope_reads_no_personal_data(
    backend: Backend, principal: Any
) -> None:
    app = principal("open-data", purpose="CRPA-L311", covers=("registry:read",), tier=Tier.APP)
    result = await backend.run(RESIDENTS_Q, principal=app)
    assert result["data"] == {"residents": None}
    assert codes(result) == ["FORBIDDEN"]


async def test_a_back_office_app_granted_a_scope_still_needs_a_purpose(
    backend: Backend, principal: Any
) -> None:
    # auth.resolve gives an app a personal scope only when an administrator registered it so
    app = principal("social:read", tier=Tier.APP)
    assert codes(await backend.run("{ benefitCases { totalCount } }", principal=app)) == [
        "PURPOSE_REQUIRED"
    ]
    app = principal("social:read", purpose="CASF-L133-3", tier=Tier.APP)
    result = await backend.run("{ benefitCases { totalCount } }", principal=app)
    assert result["data"]["benefitCases"]["totalCount"] == len(CASES)


async def test_an_app_reads_open_data(backend: Backend, principal: Any) -> None:
    app = principal("open-data", tier=Tier.APP)
    result = await backend.run("{ bikeStations { totalCount } }", principal=app)
    assert result["data"]["bikeStations"]["totalCount"] == 30


# citizens: their own rows, through every path -------------------------------------------------


async def test_a_citizen_lists_only_themself(backend: Backend, principal: Any) -> None:
    result = await backend.run(RESIDENTS_Q, principal=principal(citizen="R2"))
    assert result["errors"] == []
    assert result["data"]["residents"] == {
        "totalCount": 1,
        "nodes": [{"id": "R2", "familyName": "Diallo", "birthDate": "1964-03-12"}],
    }


async def test_a_citizen_cannot_look_up_someone_else(backend: Backend, principal: Any) -> None:
    citizen = principal(citizen="R2")
    result = await backend.run(
        '{ me: resident(id: "R2") { familyName } other: resident(id: "R1") { familyName } }',
        principal=citizen,
    )
    assert result["data"] == {"me": {"familyName": "Diallo"}, "other": None}
    assert codes(result) == ["FORBIDDEN"]
    assert "Bernard" not in repr(result)


async def test_a_citizen_sees_only_their_own_rows_through_districts(
    backend: Backend, principal: Any
) -> None:
    query = """{ districts { nodes { code residents { nodes { id } }
                 benefitCases { nodes { id residentId } } taxAssessments { totalCount } } } }"""
    result = await backend.run(query, principal=principal(citizen="R1"))
    assert result["errors"] == []
    residents = [
        r["id"] for d in result["data"]["districts"]["nodes"] for r in d["residents"]["nodes"]
    ]
    cases = [c for d in result["data"]["districts"]["nodes"] for c in d["benefitCases"]["nodes"]]
    assert residents == ["R1"]
    assert cases
    assert {c["residentId"] for c in cases} == {"R1"}
    assert sum(d["taxAssessments"]["totalCount"] for d in result["data"]["districts"]["nodes"]) == 2


async def test_a_citizen_reads_their_cases_and_assessments_from_their_record(
    backend: Backend, principal: Any
) -> None:
    query = '{ resident(id: "R0") { benefitCases { nodes { id resident { id } } } taxAssessments { nodes { id } } } }'
    result = await backend.run(query, principal=principal(citizen="R0"))
    assert result["errors"] == []
    assert sorted(n["id"] for n in result["data"]["resident"]["benefitCases"]["nodes"]) == [
        "C0",
        "C5",
    ]
    assert sorted(n["id"] for n in result["data"]["resident"]["taxAssessments"]["nodes"]) == [
        "T0",
        "T4",
    ]


async def test_through_a_household_a_citizen_finds_only_themself(
    backend: Backend, principal: Any
) -> None:
    query = '{ resident(id: "R0") { householdId household { address members { nodes { id } } } } }'
    result = await backend.run(query, principal=principal(citizen="R0"))
    household = result["data"]["resident"]["household"]
    assert result["data"]["resident"]["householdId"] == "H1"
    assert household["members"]["nodes"] == [{"id": "R0"}]  # R3 lives there too
    assert household["address"] is None  # a household is not one person's record
    assert codes(result) == ["FORBIDDEN"]


async def test_a_citizen_sees_their_own_permit_applicant_only(
    backend: Backend, principal: Any
) -> None:
    result = await backend.run(
        "{ buildingPermits { nodes { id applicantName } } }", principal=principal(citizen="R0")
    )
    names = {n["id"]: n["applicantName"] for n in result["data"]["buildingPermits"]["nodes"]}
    assert names == {"PC0": "Jeanne Martin", "PC1": None, "PC2": None}
    assert codes(result) == ["FORBIDDEN", "FORBIDDEN"]


async def test_a_citizen_cannot_search_others_by_restricted_columns(
    backend: Backend, principal: Any
) -> None:
    result = await backend.run(
        '{ buildingPermits(where: {applicantName: {contains: "Bernard"}}) { totalCount } }',
        principal=principal(citizen="R0"),
    )
    assert result["data"] == {"buildingPermits": None}
    assert codes(result) == ["FORBIDDEN"]


async def test_a_citizen_aggregates_only_their_own_rows(backend: Backend, principal: Any) -> None:
    query = "{ residentsAggregate(groupBy: [DISTRICT_CODE]) { key { districtCode } count } benefitCasesAggregate { count sum { monthlyAmountEur } } }"
    result = await backend.run(query, principal=principal(citizen="R0"))
    assert result["errors"] == []
    assert result["data"]["residentsAggregate"] == [{"key": {"districtCode": "75101"}, "count": 1}]
    own = [c["monthly_amount_eur"] for c in CASES if c["resident_id"] == "R0"]
    assert result["data"]["benefitCasesAggregate"] == [
        {"count": len(own), "sum": {"monthlyAmountEur": float(sum(own))}}
    ]


async def test_a_citizen_filters_their_own_rows_freely(backend: Backend, principal: Any) -> None:
    result = await backend.run(
        '{ residents(where: {birthDate: {lt: "2000-01-01"}}) { nodes { id } } }',
        principal=principal(citizen="R3"),
    )
    assert result["data"]["residents"]["nodes"] == [{"id": "R3"}]
