"""Every reference in the demo city points at a row that exists, and every value is plausible."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from schema.departments.registry.names import (
    FAMILY_NAMES,
    GIVEN_NAMES_ANY,
    GIVEN_NAMES_FEMALE,
    GIVEN_NAMES_MALE,
)
from schema.departments.seedkit import REFERENCE_DATE
from tests.seeding.conftest import DISTRICT_CODES, Demo, query

DISTRICT_TABLES = (
    "quartier",
    "household",
    "resident",
    "benefit_case",
    "tax_assessment",
    "building_permit",
    "budget_line",
)
PLACED_TABLES = ("bike_station", "transit_stop", "air_quality_station", "public_toilet")


def orphans(demo: Demo, table: str, column: str, target: str, key: str = "id") -> int:
    sql = (
        f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL "  # noqa: S608 - table names are the test's constants
        f"AND {column} NOT IN (SELECT {key} FROM {target})"
    )
    return int(query(demo.db, sql)[0][0])


def test_the_territory_has_the_paris_codes_and_names(demo: Demo) -> None:
    districts = query(demo.db, "SELECT code, number, name, label FROM district ORDER BY code")
    quartiers = query(demo.db, "SELECT code, number, district_code FROM quartier ORDER BY code")

    assert [d[0] for d in districts] == DISTRICT_CODES
    assert districts[0][1:] == (1, "Louvre", "1er Ardt")
    assert districts[1][3] == "2ème Ardt"
    assert districts[19][1:] == (20, "Ménilmontant", "20ème Ardt")
    assert len(quartiers) == 80
    assert [q[1] for q in quartiers] == list(range(1, 81))
    for code, _number, district_code in quartiers:
        assert isinstance(code, str)
        assert code[:5] == district_code
        assert code[5:] in ("01", "02", "03", "04")


def test_every_reference_points_at_an_existing_row(demo: Demo) -> None:
    assert orphans(demo, "resident", "household_id", "household") == 0
    assert orphans(demo, "benefit_case", "resident_id", "resident") == 0
    assert orphans(demo, "tax_assessment", "resident_id", "resident") == 0
    assert orphans(demo, "building_permit", "applicant_id", "resident") == 0
    assert orphans(demo, "transit_trip", "route_id", "transit_route") == 0
    assert orphans(demo, "transit_stop_time", "trip_id", "transit_trip") == 0
    assert orphans(demo, "transit_stop_time", "stop_id", "transit_stop") == 0
    assert orphans(demo, "air_quality_measurement", "station_id", "air_quality_station") == 0
    assert query(
        demo.db,
        "SELECT count(*) FROM household WHERE id NOT IN (SELECT household_id FROM resident)",
    ) == [(0,)]


def test_every_district_code_is_one_of_the_twenty(demo: Demo) -> None:
    for table in (*DISTRICT_TABLES, *PLACED_TABLES):
        codes = {row[0] for row in query(demo.db, f"SELECT DISTINCT district_code FROM {table}")}  # noqa: S608 - table names are the test's constants
        assert codes, table
        assert codes - {None} <= set(DISTRICT_CODES), table
    for table in DISTRICT_TABLES:
        sql = f"SELECT count(*) FROM {table} WHERE district_code IS NULL"  # noqa: S608 - table names are the test's constants
        assert query(demo.db, sql) == [(0,)], table
    outside = query(demo.db, "SELECT count(*) FROM bike_station WHERE district_code IS NULL")[0][0]
    assert 100 <= outside <= 200


def test_people_live_in_a_quartier_of_their_district_at_their_household(demo: Demo) -> None:
    mismatched = query(
        demo.db,
        """
        SELECT count(*) FROM resident r
        JOIN household h ON h.id = r.household_id
        JOIN quartier q ON q.code = r.quartier_code
        WHERE q.district_code != r.district_code OR h.district_code != r.district_code
           OR h.quartier_code != r.quartier_code OR h.address != r.address
        """,
    )
    joined = query(
        demo.db, "SELECT count(*) FROM resident r JOIN quartier q ON q.code = r.quartier_code"
    )
    assert mismatched == [(0,)]
    assert joined == [(demo.residents,)]
    postcodes = query(demo.db, "SELECT address, district_code FROM household")
    for address, district in postcodes:
        assert re.fullmatch(r"\d+ [a-zé]+ .+, 750\d\d Paris", address), address
        assert address.endswith(f"750{district[-2:]} Paris")


def test_populations_are_the_registry_counts(demo: Demo) -> None:
    populations = dict(query(demo.db, "SELECT code, population FROM district"))
    counted = dict(
        query(demo.db, "SELECT district_code, count(*) FROM resident GROUP BY district_code")
    )

    assert populations == {code: counted.get(code, 0) for code in DISTRICT_CODES}
    assert sum(populations.values()) == demo.residents
    # Weighted by the real arrondissements: the 15th is far more populous than the 1st.
    assert populations["75115"] > 5 * populations["75101"]


def test_residents_are_plausible_people(demo: Demo) -> None:
    people = query(demo.db, "SELECT given_name, family_name, birth_date, sex FROM resident")
    sexes = Counter(p[3] for p in people)
    ages = [(REFERENCE_DATE - date.fromisoformat(str(p[2]))).days / 365.2425 for p in people]

    assert set(sexes) <= {"F", "M", "X"}
    assert 0.45 < sexes["F"] / len(people) < 0.55
    assert min(ages) >= 0
    assert max(ages) < 101
    assert 0.12 < sum(a < 18 for a in ages) / len(ages) < 0.30
    for given, family, _born, sex in people:
        names = {"F": GIVEN_NAMES_FEMALE, "M": GIVEN_NAMES_MALE}.get(str(sex), GIVEN_NAMES_ANY)
        assert given in names
        assert family in FAMILY_NAMES


def test_households_hold_one_to_six_people_with_an_adult(demo: Demo) -> None:
    sizes = Counter(
        n for (n,) in query(demo.db, "SELECT count(*) FROM resident GROUP BY household_id")
    )
    without_adult = query(
        demo.db,
        "SELECT count(*) FROM (SELECT household_id FROM resident GROUP BY household_id "
        "HAVING max(birth_date <= ?) = 0)",
        "2006-12-31",
    )

    assert set(sizes) <= {1, 2, 3, 4, 5, 6}
    assert sizes[1] > sizes[2] > sizes[3] > sizes[6] > 0
    # Only the last household may be cut short of its adults by the exact total.
    assert without_adult[0][0] in (0, 1)


def test_cases_assessments_and_permits_are_consistent(demo: Demo) -> None:
    cases = query(
        demo.db,
        "SELECT c.status, c.opened_on, c.closed_on, c.benefit_type, r.birth_date, c.monthly_amount_eur "
        "FROM benefit_case c JOIN resident r ON r.id = c.resident_id",
    )
    assert 0.12 < len(cases) / demo.residents < 0.18
    for status, opened, closed, benefit, born, amount in cases:
        assert (closed is not None) == (status == "closed")
        assert str(born) <= "2006-12-31"
        assert str(opened) <= str(REFERENCE_DATE)
        assert closed is None or str(opened) <= str(closed) <= str(REFERENCE_DATE)
        assert benefit != "elderly" or str(born) <= "1959-12-31"
        assert 80 <= amount <= 1_016

    years = query(
        demo.db, "SELECT resident_id, group_concat(year) FROM tax_assessment GROUP BY resident_id"
    )
    owners = len(years)
    assert 0.2 < owners / demo.residents < 0.4
    assert {y for _, y in years} == {"2022,2023,2024"}
    rising = query(
        demo.db,
        "SELECT count(*) FROM tax_assessment a JOIN tax_assessment b ON a.resident_id = b.resident_id "
        "AND b.year = a.year + 1 WHERE b.assessed_value_eur < a.assessed_value_eur OR b.tax_due_eur < a.tax_due_eur",
    )
    assert rising == [(0,)]

    permits = query(
        demo.db,
        "SELECT p.id, p.status, p.filed_on, p.decided_on, p.applicant_id, p.applicant_name, "
        "r.given_name || ' ' || r.family_name, p.kind, p.district_code, r.district_code "
        "FROM building_permit p LEFT JOIN resident r ON r.id = p.applicant_id",
    )
    assert len(permits) == 100 + demo.residents // 25
    private = [p for p in permits if p[4] is not None]
    assert 0.55 < len(private) / len(permits) < 0.65
    for (
        pid,
        status,
        filed,
        decided,
        applicant,
        name,
        resident_name,
        kind,
        district,
        home,
    ) in permits:
        assert re.fullmatch(r"P[CD] 075 1\d\d \d\d V\d{4}", str(pid)), pid
        assert str(pid).startswith("PD") == (kind == "demolition")
        assert str(pid)[7:10] == str(district)[2:]
        assert (decided is None) == (status in ("filed", "under_review"))
        assert decided is None or str(filed) < str(decided) <= str(REFERENCE_DATE)
        assert applicant is None or (name == resident_name and district == home)
        assert name


def test_the_budget_covers_every_year_district_function_and_nature(demo: Demo) -> None:
    lines = query(
        demo.db, "SELECT year, district_code, function, nature, amount_eur FROM budget_line"
    )
    keys = {line[:4] for line in lines}

    assert len(lines) == len(keys) == 5 * 20 * 10 * 2
    assert {line[0] for line in lines} == {2020, 2021, 2022, 2023, 2024}
    assert {line[3] for line in lines} == {"operating", "investment"}
    assert all(int(line[4]) > 0 for line in lines)
    total_2024 = sum(int(line[4]) for line in lines if line[0] == 2024)
    assert 8e9 < total_2024 < 14e9  # about Paris's budget


def test_measurements_are_hourly_and_in_utc(demo: Demo) -> None:
    hours = query(
        demo.db,
        "SELECT min(measured_at), max(measured_at), count(DISTINCT measured_at), min(value), max(value) "
        "FROM air_quality_measurement",
    )
    first, last, distinct, low, high = hours[0]

    assert str(first).startswith("2019-05-07 01:00:00")
    assert str(last).startswith("2019-06-21 00:00:00")
    assert distinct == 45 * 24
    assert 0 < low < high < 250


def test_the_transit_timetable_runs_forward(demo: Demo) -> None:
    backwards = query(
        demo.db,
        "SELECT count(*) FROM transit_stop_time a JOIN transit_stop_time b "
        "ON a.trip_id = b.trip_id AND b.stop_sequence = a.stop_sequence + 1 "
        "WHERE b.arrival_time <= a.departure_time",
    )
    stops_per_trip = query(
        demo.db,
        "SELECT min(n), max(n) FROM (SELECT count(*) n FROM transit_stop_time GROUP BY trip_id)",
    )

    assert backwards == [(0,)]
    assert 10 <= stops_per_trip[0][0] <= stops_per_trip[0][1] <= 60
