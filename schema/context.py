"""The typed context of one GraphQL request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from auth.principal import ANONYMOUS, Principal

if TYPE_CHECKING:
    from schema.as_of import Snapshot
    from schema.loaders import Loaders


@dataclass(slots=True)
class CityContext:
    """What every resolver may use: who is asking, and the request's loaders."""

    loaders: Loaders
    principal: Principal = ANONYMOUS
    request_id: str = ""
    request: Any = None
    response: Any = None
    datasets_read: set[str] = field(default_factory=set)
    """Names of the datasets this request read; the audit record lists them."""
    denials: list[str] = field(default_factory=list)
    """Codes of the access denials this request met; the audit record lists them."""

    # Audit (DESIGN section 4): filled by AccessGuard and the view, read by audit.hook ------------
    restricted: bool = False
    """True once a restricted read was allowed: the record must be durable before the response."""
    subjects: set[str] = field(default_factory=set)
    """Resident ids whose restricted records this request read."""
    fields_read: set[str] = field(default_factory=set)
    """Restricted fields read, as `Type.field`."""
    audit_unavailable: bool = False
    """Set when the log cannot be written: every restricted read is refused (AUDIT_UNAVAILABLE)."""
    audit_committed: bool = False
    """The request's record is already in the log (committed before its restricted response)."""
    error_codes: list[str] = field(default_factory=list)
    operation_name: str | None = None
    document: str | None = None
    audit_engine: Any = None
    """The access log's database, for the auditors' and citizens' fields (schema.audit_fields)."""
    compiled: bool = False
    """Whether root fields may be answered by the compiled path (schema.compiled): the view's
    requests, when the setting is on; their data then holds JSON fragments (orjson.Fragment)."""
    spaced_json: bool = False
    """A compiled root field's JSON may not be in orjson's form (stored GeoJSON, embedded as
    written): a citation parses it once to hash its canonical form (api.citing.canonical)."""
    dotted_json: bool = False
    """A compiled root field's JSON may write a float with an integral value as `2.0` (SQLite's
    json_object; PostgreSQL's to_json writes `2`): a citation looks for such floats in it."""
    compiled_roots: list[tuple[str, Any, Any]] | None = field(default_factory=list)
    """Each root field the compiled path answered: (response key, plan, engine), as they finished;
    None once one was not (api.compiled_lane learns whole operations from it)."""
    restricted_read: bool = False
    """Whether a restricted field was let through: such a response is never cached (api.traffic)."""

    # Versions (schema.as_of): what the request reads, and what it read -------------------------
    as_of: dict[Any, Snapshot] = field(default_factory=dict)
    """The snapshot of each root field (by response key) that has an `asOf`."""
    pins: Snapshot | None = None
    """Every dataset's version, for a citation's re-run; overrides any `asOf`."""
    versions_read: dict[str, int | None] = field(default_factory=dict)
    """Each dataset read, and its version (0: the live rows; None: a dataset without history)."""
    observed: dict[str, int | None] = field(default_factory=dict)
    """The version of each dataset that a compiled statement read beside its live rows, in the
    same snapshot (schema.as_of.observe; None: it had none yet)."""
    mixed_versions: bool = False
    """Two fields read one dataset at two versions: no citation can pin the answer."""
    uncitable: bool = False
    """A field read something without versions (the catalog's load times): no citation."""
