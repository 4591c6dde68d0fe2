"""The committed subgraph SDLs and supergraph are what the code composes to (scripts/compose-supergraph)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from schema.city import builtin_specs
from schema.datasets import Catalog
from schema.federation import SUBGRAPHS_DIR, SUPERGRAPH, build_subgraph_schema, subgraph_sdl
from schema.gateway import build_gateway_schema

CATALOG = Catalog(builtin_specs())
STALE = "stale: run scripts/compose-supergraph and commit what it writes"


@pytest.mark.parametrize("department", CATALOG.departments())
def test_the_committed_subgraph_sdl_is_the_code(department: str) -> None:
    committed = SUBGRAPHS_DIR / f"{department}.graphql"
    assert committed.read_text() == subgraph_sdl(CATALOG, department), STALE


def test_no_committed_subgraph_is_left_over() -> None:
    assert sorted(p.stem for p in SUBGRAPHS_DIR.glob("*.graphql")) == CATALOG.departments()


def test_the_committed_supergraph_is_what_the_subgraphs_compose_to(
    node_tools: Path, tmp_path: Path
) -> None:
    for department in CATALOG.departments():
        (tmp_path / f"{department}.graphql").write_text(subgraph_sdl(CATALOG, department))
    out = tmp_path / "supergraph.graphql"
    run = subprocess.run(
        ["node", str(node_tools / "compose-supergraph.mjs"), str(tmp_path), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr  # an error, or a hint nobody has accepted yet
    assert "hint" not in run.stderr, run.stderr
    assert out.read_text() == SUPERGRAPH.read_text(), STALE


def fields_of(sdl: str, type_name: str) -> set[str]:
    body = re.search(rf"\ntype {type_name}\b[^{{]*\{{(.*?)\n\}}", sdl, re.S)
    assert body is not None, type_name
    return set(re.findall(r"^  (\w+)[(:]", body.group(1), re.M))


def test_the_supergraph_has_every_field_of_the_one_process_schema() -> None:
    gateway = build_gateway_schema(CATALOG).as_str()
    supergraph = SUPERGRAPH.read_text()
    for type_name in ("Query", "District", "Resident", "Quartier", "BikeStation", "BenefitCase"):
        missing = fields_of(gateway, type_name) - fields_of(supergraph, type_name)
        # a root field that is no dataset's gets its subgraph in schema.federation.root_fields
        assert not missing, f"{type_name} fields no subgraph serves: {sorted(missing)}"


def test_each_department_contributes_its_own_fields_to_the_shared_entities() -> None:
    mobility = build_subgraph_schema(CATALOG, "mobility").as_str()
    assert 'type District @key(fields: "code")' in mobility
    assert fields_of(mobility, "District") == {"code", "bikeStations", "transitStops"}
    social = build_subgraph_schema(CATALOG, "social").as_str()
    assert fields_of(social, "Resident") == {"id", "benefitCases"}
    assert "residents" not in fields_of(social, "Query")


def test_restricted_fields_carry_the_federation_directives_into_the_supergraph() -> None:
    registry = build_subgraph_schema(CATALOG, "registry").as_str()
    marks = '@authenticated @requiresScopes(scopes: [["registry:read"], ["self"]])'
    assert f"familyName: String {marks}" in registry
    supergraph = SUPERGRAPH.read_text()
    family = re.search(r"\n  familyName: String[^\n]*", supergraph)
    assert family is not None
    assert "@authenticated" in family.group(0)
    assert '@requiresScopes(scopes: [["registry:read"], ["self"]])' in family.group(0)
    # the one-process schema keeps its own directive, unchanged
    assert '@requiresScopes(scopes: [["registry:read"]])' in build_gateway_schema(CATALOG).as_str()
