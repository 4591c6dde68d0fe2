"""The purpose registry: which legal bases a restricted read may declare, and which scopes each one justifies.

A purpose is a legal-basis code from this registry plus a free case reference. It arrives either in
the token (claim `purpose`: {"legal_basis": ..., "case_reference": ...}) or in a request header
`Citygraph-Purpose: legal-basis=CODE; case=REF`. A code that is not in the registry is an error,
never silently dropped: a staff member who mistypes a code must learn it before reading anything.

The default registry is ILLUSTRATIVE: plausible French legal references for the demo city, not legal
advice. A real city loads its own from a TOML file:

    [legal_basis.CGCT-L2122-32]
    title = "Tenue de l'état civil"
    reference = "Code général des collectivités territoriales, article L2122-32"
    scopes = ["registry:read"]
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from auth.principal import Purpose
from auth.scopes import Scope

PURPOSE_HEADER = "Citygraph-Purpose"
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_CASE_REFERENCE = 128
MAX_REMEMBERED_HEADERS = 1024
# Only scopes that open restricted data need a purpose; open-data never does.
PURPOSE_SCOPES = frozenset(Scope) - {Scope.OPEN_DATA}


class PurposeError(ValueError):
    """A declared purpose that cannot be accepted; the message is safe to show the caller."""


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """One entry of the registry: a code, what it is, and the scopes it may justify."""

    code: str
    title: str
    reference: str
    scopes: frozenset[Scope]


class PurposeRegistry:
    """The configured legal bases, looked up by code (exact, case-sensitive)."""

    def __init__(self, bases: Iterable[LegalBasis], *, illustrative: bool = False) -> None:
        self._bases: dict[str, LegalBasis] = {}
        for basis in bases:
            _check_basis(basis)
            if basis.code in self._bases:
                raise ValueError(f"legal basis {basis.code} is declared twice")
            self._bases[basis.code] = basis
        self.illustrative = illustrative
        self._headers: dict[str, Purpose] = {}
        """Header values already read: a client sends the same one with every request."""

    @classmethod
    def default(cls) -> PurposeRegistry:
        """The demo city's registry (illustrative references)."""
        return cls(DEFAULT_BASES, illustrative=True)

    @classmethod
    def from_toml(cls, path: Path) -> PurposeRegistry:
        """Load a registry from a TOML file of `[legal_basis.CODE]` tables; any mistake is fatal."""
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the purpose registry {path}: {exc}") from exc
        return cls(_bases_from_document(document, source=str(path)))

    def get(self, code: str) -> LegalBasis | None:
        """The legal basis of this code, if configured."""
        return self._bases.get(code)

    def justifies(self, purpose: Purpose, scope: Scope) -> bool:
        """Whether the purpose's legal basis may justify reading data behind `scope`."""
        basis = self._bases.get(purpose.legal_basis)
        return basis is not None and scope in basis.scopes

    def __iter__(self) -> Iterator[LegalBasis]:
        return iter(self._bases.values())

    def __len__(self) -> int:
        return len(self._bases)

    def purpose(self, *, legal_basis: object, case_reference: object) -> Purpose:
        """A validated Purpose, or PurposeError saying what is wrong."""
        if not isinstance(legal_basis, str) or not legal_basis.strip():
            raise PurposeError("the purpose needs a legal-basis code")
        code = legal_basis.strip()
        if code not in self._bases:
            # The code is echoed only when it is made of safe characters: it lands in logs.
            shown = f" {code}" if CODE_PATTERN.fullmatch(code) else ""
            raise PurposeError(f"unknown legal basis{shown}; see the purpose registry")
        return Purpose(
            legal_basis=code,
            case_reference=_case_reference(case_reference),
            covers=self._bases[code].scopes,  # what can_read checks each scope against
        )

    def from_claim(self, claim: object) -> Purpose:
        """The purpose of a token's `purpose` claim ({"legal_basis", "case_reference"})."""
        if not isinstance(claim, Mapping):
            raise PurposeError(
                "the purpose claim must be an object with legal_basis and case_reference"
            )
        unknown = set(claim) - {"legal_basis", "case_reference"}
        if unknown:
            raise PurposeError("the purpose claim has unknown members")
        return self.purpose(
            legal_basis=claim.get("legal_basis"), case_reference=claim.get("case_reference")
        )

    def from_header(self, value: str) -> Purpose:
        """The purpose of a `Citygraph-Purpose: legal-basis=CODE; case=REF` header."""
        known = self._headers.get(value)
        if known is not None:
            return known
        params = parse_header_params(_header_text(value))
        if set(params) != {"legal-basis", "case"}:
            raise PurposeError(
                f'{PURPOSE_HEADER} must be exactly: legal-basis=CODE; case="REFERENCE"'
            )
        purpose = self.purpose(legal_basis=params["legal-basis"], case_reference=params["case"])
        if len(self._headers) >= MAX_REMEMBERED_HEADERS:
            self._headers.clear()  # many cases at once: start over rather than grow
        self._headers[value] = purpose
        return purpose


def parse_header_params(text: str) -> dict[str, str]:
    """`key=value; key="quoted value"` pairs; keys case-insensitive, each at most once."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        eq = text.find("=", i)
        if eq < 0:
            raise PurposeError(f"{PURPOSE_HEADER}: expected key=value")
        key = text[i:eq].strip().lower()
        if not re.fullmatch(r"[a-z][a-z-]*", key):
            raise PurposeError(f"{PURPOSE_HEADER}: malformed parameter name")
        i = eq + 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            chars = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise PurposeError(f"{PURPOSE_HEADER}: unterminated quoted value")
            value = "".join(chars)
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            if i < n and text[i] != ";":
                raise PurposeError(f"{PURPOSE_HEADER}: expected ; after a quoted value")
        else:
            end = text.find(";", i)
            end = n if end < 0 else end
            value = text[i:end].strip()
            i = end
        if key in params:
            raise PurposeError(f"{PURPOSE_HEADER}: {key} is given twice")
        params[key] = value
        i += 1  # past the ';'
    return params


def _header_text(value: str) -> str:
    # Starlette decodes header bytes as latin-1; a client that sent UTF-8 (a case reference with
    # an accent) gets its text back, anything else stays as it came.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _case_reference(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PurposeError("the purpose needs a case reference")
    reference = value.strip()
    # The reference is stored in the audit log and shown to citizens: no control characters (log
    # injection, terminal escapes) and a bounded length.
    if len(reference) > MAX_CASE_REFERENCE or not reference.isprintable():
        raise PurposeError(
            f"the case reference must be printable text of at most {MAX_CASE_REFERENCE} characters"
        )
    return reference


def _check_basis(basis: LegalBasis) -> None:
    if not CODE_PATTERN.fullmatch(basis.code):
        raise ValueError(f"legal-basis code {basis.code!r} must match {CODE_PATTERN.pattern}")
    if not basis.scopes:
        raise ValueError(f"legal basis {basis.code} justifies no scope")
    if not basis.scopes <= PURPOSE_SCOPES:
        raise ValueError(f"legal basis {basis.code}: open-data needs no purpose")


def _bases_from_document(document: Mapping[str, object], *, source: str) -> list[LegalBasis]:
    unknown = set(document) - {"legal_basis"}
    if unknown:
        raise ValueError(f"{source}: unknown top-level keys {sorted(unknown)}")
    tables = document.get("legal_basis")
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError(f"{source}: no [legal_basis.CODE] table")
    bases = []
    for code, table in tables.items():
        if not isinstance(table, Mapping):
            raise ValueError(f"{source}: legal_basis.{code} must be a table")
        extra = set(table) - {"title", "reference", "scopes"}
        if extra:
            raise ValueError(f"{source}: legal_basis.{code} has unknown keys {sorted(extra)}")
        title, reference, scopes = table.get("title"), table.get("reference"), table.get("scopes")
        if not isinstance(title, str) or not isinstance(reference, str):
            raise ValueError(f"{source}: legal_basis.{code} needs title and reference strings")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise ValueError(f"{source}: legal_basis.{code}.scopes must be a list of scopes")
        try:
            parsed = frozenset(Scope(s) for s in scopes)
        except ValueError as exc:
            raise ValueError(f"{source}: legal_basis.{code}: {exc}") from exc
        bases.append(LegalBasis(code=code, title=title, reference=reference, scopes=parsed))
    return bases


DEFAULT_BASES = (
    LegalBasis(
        code="CGCT-L2122-32",
        title="Tenue de l'état civil (illustratif)",
        reference="Code général des collectivités territoriales, art. L2122-32",
        scopes=frozenset({Scope.REGISTRY_READ}),
    ),
    LegalBasis(
        code="CASF-L133-3",
        title="Instruction d'une demande d'aide sociale (illustratif)",
        reference="Code de l'action sociale et des familles, art. L133-3",
        scopes=frozenset({Scope.SOCIAL_READ, Scope.REGISTRY_READ}),
    ),
    LegalBasis(
        code="CGI-1380",
        title="Assiette de la taxe foncière (illustratif)",
        reference="Code général des impôts, art. 1380",
        scopes=frozenset({Scope.TAX_READ, Scope.REGISTRY_READ}),
    ),
    LegalBasis(
        code="CU-L423-1",
        title="Instruction d'une autorisation d'urbanisme (illustratif)",
        reference="Code de l'urbanisme, art. L423-1",
        scopes=frozenset({Scope.URBANISM_READ}),
    ),
    LegalBasis(
        code="CRPA-L311-1",
        title="Communication d'un document administratif (illustratif)",
        reference="Code des relations entre le public et l'administration, art. L311-1",
        scopes=frozenset({Scope.URBANISM_READ}),
    ),
    LegalBasis(
        code="RGPD-15",
        title="Droit d'accès de la personne concernée (illustratif)",
        reference="Règlement (UE) 2016/679, art. 15",
        scopes=frozenset({Scope.SELF, Scope.AUDIT_READ}),
    ),
)
"""Illustrative entries for the demo city; not legal advice."""
