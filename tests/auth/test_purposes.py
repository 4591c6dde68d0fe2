"""The purpose registry: the default one, TOML files, and the header grammar."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth.principal import Purpose
from auth.purposes import PurposeError, PurposeRegistry, parse_header_params
from auth.scopes import Scope


def test_the_default_registry_is_marked_illustrative_and_covers_every_department() -> None:
    registry = PurposeRegistry.default()
    assert registry.illustrative
    covered = set().union(*(basis.scopes for basis in registry))
    for scope in (Scope.REGISTRY_READ, Scope.SOCIAL_READ, Scope.TAX_READ, Scope.URBANISM_READ):
        assert scope in covered
    assert all("illustratif" in basis.title for basis in registry)


def test_a_toml_registry(tmp_path: Path) -> None:
    path = tmp_path / "purposes.toml"
    path.write_text(
        """
[legal_basis.LOCAL-1]
title = "Enquête de voirie"
reference = "Arrêté municipal 2026-12"
scopes = ["urbanism:read"]
""",
        encoding="utf-8",
    )
    registry = PurposeRegistry.from_toml(path)
    assert not registry.illustrative
    assert len(registry) == 1
    assert registry.justifies(Purpose("LOCAL-1", "c"), Scope.URBANISM_READ)
    declared = registry.from_header("legal-basis=LOCAL-1; case=V-9")
    assert declared.covers == {Scope.URBANISM_READ}
    with pytest.raises(PurposeError, match="unknown legal basis"):
        registry.from_header("legal-basis=CGCT-L2122-32; case=1")  # not in this registry


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no \\[legal_basis"),
        ("[legal_basis.A]\ntitle='t'\nreference='r'\nscopes=['root']", "not a valid Scope"),
        ("[legal_basis.A]\ntitle='t'\nreference='r'\nscopes=['open-data']", "needs no purpose"),
        ("[legal_basis.A]\ntitle='t'\nreference='r'\nscopes=[]", "justifies no scope"),
        ("[legal_basis.A]\ntitle='t'\nscopes=['tax:read']", "title and reference"),
        ("[legal_basis.A]\ntitle='t'\nreference='r'\nscopes=['tax:read']\nextra=1", "unknown keys"),
        ("[legal_basis.'a b']\ntitle='t'\nreference='r'\nscopes=['tax:read']", "must match"),
        ("[other]\nx=1", "unknown top-level"),
        ("not toml [", "cannot read"),
    ],
)
def test_a_bad_registry_file_is_fatal(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "purposes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        PurposeRegistry.from_toml(path)


def test_a_missing_registry_file_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        PurposeRegistry.from_toml(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("header", "params"),
    [
        ("legal-basis=A; case=B", {"legal-basis": "A", "case": "B"}),
        ("Legal-Basis=A;case=B", {"legal-basis": "A", "case": "B"}),
        ('case="x; y"; legal-basis=A', {"case": "x; y", "legal-basis": "A"}),
        ('case="a \\"q\\" b"', {"case": 'a "q" b'}),
        ("  case = spaced out  ", {"case": "spaced out"}),
    ],
)
def test_header_parameters(header: str, params: dict[str, str]) -> None:
    assert parse_header_params(header) == params


@pytest.mark.parametrize("header", ["case", "=x", "case=1; case=2", 'case="x" y', "ca$e=1"])
def test_malformed_header_parameters(header: str) -> None:
    with pytest.raises(PurposeError):
        parse_header_params(header)


def test_a_utf8_case_reference_survives_latin1_header_decoding() -> None:
    registry = PurposeRegistry.default()
    as_starlette_decodes_it = (
        'legal-basis=CU-L423-1; case="Dossier Hôtel-de-Ville"'.encode().decode("latin-1")
    )
    assert registry.from_header(as_starlette_decodes_it).case_reference == "Dossier Hôtel-de-Ville"


def test_unknown_codes_are_echoed_only_when_harmless() -> None:
    registry = PurposeRegistry.default()
    with pytest.raises(PurposeError, match="NOPE-1"):
        registry.purpose(legal_basis="NOPE-1", case_reference="c")
    with pytest.raises(PurposeError) as caught:
        registry.purpose(legal_basis="<script>", case_reference="c")
    assert "<script>" not in str(caught.value)


def test_header_values_are_remembered_within_a_bound_and_errors_never() -> None:
    from auth import purposes

    registry = PurposeRegistry.default()
    header = "legal-basis=CGCT-L2122-32; case=EC-1"
    assert registry.from_header(header) is registry.from_header(header)  # read once
    assert registry.from_header(header).case_reference == "EC-1"
    for _ in range(2):  # a refused header is refused every time, not remembered as anything
        with pytest.raises(PurposeError, match="unknown legal basis"):
            registry.from_header("legal-basis=NOPE; case=1")
    for n in range(purposes.MAX_REMEMBERED_HEADERS + 10):
        assert registry.from_header(f"legal-basis=CGCT-L2122-32; case=EC-{n}").case_reference == (
            f"EC-{n}"
        )
    assert len(registry._headers) <= purposes.MAX_REMEMBERED_HEADERS
