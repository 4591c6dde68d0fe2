"""The one settings object, read from CITYGRAPH_* environment variables at start-up.

A bad value stops the boot with a clear message (pydantic validation); so does a default secret
outside development. Tests build their own `Settings(...)`; nothing mutates settings after start.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from auth.principal import Tier
from storage.engines import async_url


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Configuration of one citygraph process."""

    model_config = SettingsConfigDict(
        env_prefix="CITYGRAPH_", extra="forbid", frozen=True, validate_by_name=True
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Field(
        default=Path(".citygraph"), description="Where SQLite files, keys and manifests live."
    )
    # Hosting platforms set DATABASE_URL and REDIS_URL (twelve-factor): read when the CITYGRAPH_
    # names are unset, which win when both are
    database_url: str | None = Field(
        default=None,
        description="Default database of every department; SQLite in data_dir when unset.",
        validation_alias=AliasChoices("CITYGRAPH_DATABASE_URL", "DATABASE_URL"),
    )
    database_urls: dict[str, str] = Field(
        default_factory=dict,
        description='Per-department overrides, JSON: {"registry": "postgresql+asyncpg://..."}.',
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CITYGRAPH_REDIS_URL", "REDIS_URL")
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=1, ge=1, le=64, description="`serve` processes, each with its own audit chain."
    )
    public_url: str | None = Field(
        default=None, description="Base URL clients reach; default http://host:port."
    )

    max_body_bytes: int = Field(
        default=1_000_000, ge=1_024, description="Largest request body accepted."
    )
    page_default: int = Field(default=50, ge=1)
    page_max: int = Field(default=1_000, ge=1)
    max_depth: int = Field(default=12, ge=2)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=5_000, ge=100)
    max_directives: int = Field(default=50, ge=1)
    statistics_threshold: int = Field(
        default=10, ge=2, description="Fewest people a published statistic may be computed from."
    )
    export_max_rows: int = Field(
        default=100_000, ge=1, description="Rows one CSV/GeoJSON export may hold."
    )

    demo_residents: int = Field(
        default=3_000, ge=0, description="Size of the synthetic civil registry."
    )
    demo_seed: int = 2026
    open_data_dir: Path | None = Field(
        default=None, description="Folder of real open datasets the demo imports when present."
    )
    # The DCAT-AP catalog (docs/catalog.md) ------------------------------------------------
    catalog_publisher: str = Field(
        default="citygraph demo city", min_length=1, description="Who publishes the catalog."
    )
    catalog_homepage: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="The city's open-data home page (foaf:homepage); default: the public URL.",
    )
    catalog_contact_email: str | None = Field(
        default=None,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="Where people ask about a dataset, restricted ones included.",
    )
    catalog_page_size: int = Field(
        default=100, ge=1, le=1_000, description="Datasets per catalog page (Hydra paging)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_enabled: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics (api.metrics)."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        min_length=16,
        description="Bearer token /metrics requires; unset, whoever reaches the port may scrape.",
    )

    # OAuth (DESIGN section 3) -------------------------------------------------------------
    issuer_url: str | None = Field(
        default=None,
        description="The city's identity provider (its exact `iss`); staff and citizen tokens come from it.",
    )
    issuer_http_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Host names whose issuer may be reached over plain HTTP: a private network you trust "
            "(compose's `citygraph` service). Loopback always may; everything else needs https."
        ),
    )
    oauth_server_enabled: bool = Field(
        default=True, description="Run the built-in authorization server (app tokens)."
    )
    audience: str | None = Field(default=None, description="Our `aud`; default: the public URL.")
    token_lifetime_s: int = Field(default=900, ge=30, le=3600)
    token_leeway_s: int = Field(default=30, ge=0, le=60)
    signing_alg: Literal["RS256", "ES256"] = "RS256"
    keys_dir: Path | None = Field(default=None, description="Signing keys; default data_dir/keys.")
    purposes_file: Path | None = Field(
        default=None, description="Legal bases (TOML); default: the demo's illustrative registry."
    )
    registrations_per_hour: int = Field(default=100, ge=0, description="0 turns self-service off.")

    # Web pages and browsers (api/pages, docs/web.md) -------------------------------------------
    cors_origins: list[str] = Field(
        default_factory=lambda: ["*"],
        description='Origins whose browser apps may call the API, e.g. ["https://app.example"]; "*": any (never with credentials).',
    )
    session_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="Key of the pages' session cookies; default: a key generated in keys_dir.",
    )
    pages_client_id: str = Field(
        default="citygraph-pages",
        description="The pages' client at the identity provider (/my-data signs citizens in with it).",
    )
    pages_client_secret: SecretStr | None = Field(
        default=None,
        description="Its secret at the identity provider; unset: a public client (PKCE).",
    )
    client_cache_ttl_s: float = Field(default=10.0, ge=0, le=300)
    jwks_ttl_s: float = Field(default=600.0, ge=60)
    jwks_min_refetch_interval_s: float = Field(default=30.0, ge=1)
    idp_timeout_s: float = Field(default=3.0, gt=0, le=10)

    # Redis: cache, limits, persisted queries (docs/traffic.md) ---------------------------------
    # `redis_url` (above) shares them between processes; unset, each process keeps its own.
    redis_timeout_ms: float = Field(
        default=50.0, gt=0, le=1_000, description="Bound on every Redis call; never retried."
    )
    redis_breaker_failures: int = Field(
        default=3, ge=1, description="Consecutive Redis failures that open the circuit breaker."
    )
    redis_breaker_reset_s: float = Field(
        default=1.0, gt=0, le=60, description="How long an open breaker waits before one probe."
    )
    compiled: bool = Field(
        default=True,
        description="Answer root fields with one SQL statement each where they compile "
        "(docs/compiled.md); off: every field through today's resolvers. CITYGRAPH_COMPILED=on|off.",
    )
    cache_enabled: bool = Field(default=True, description="Whole-response cache of public data.")
    citations_enabled: bool = Field(
        default=True,
        description="Cite every public answer (extensions.citation, /cite/{id}); off for benchmarks.",
    )
    cache_ttl_s: float = Field(default=300.0, ge=0, description="Lifetime of a cached response.")
    cache_local_ttl_s: float = Field(
        default=5.0, ge=0, description="Lifetime of a Redis entry's copy in the local LRU."
    )
    cache_local_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    cache_max_age_s: int = Field(
        default=30, ge=0, description="Cache-Control max-age of cacheable GET responses."
    )
    dataset_versions_ttl_s: float = Field(
        default=1.0,
        ge=0,
        description="How long a process trusts the dataset versions it read (imports by others).",
    )
    rate_period_s: float = Field(default=60.0, gt=0)
    rate_limits: dict[Tier, int] = Field(
        default_factory=lambda: {
            Tier.ANONYMOUS: 120,
            Tier.APP: 1_200,
            Tier.STAFF: 1_200,
            Tier.AUDITOR: 600,
            Tier.CITIZEN: 120,
        },
        description="Requests per rate_period_s, per principal, by tier (0: unlimited).",
    )
    cost_limits: dict[Tier, int] = Field(
        default_factory=lambda: {
            Tier.ANONYMOUS: 10_000,
            Tier.APP: 50_000,
            Tier.STAFF: 50_000,
            Tier.AUDITOR: 50_000,
            Tier.CITIZEN: 10_000,
        },
        description="Highest static cost of one document, by tier (schema.cost).",
    )
    cost_budgets: dict[Tier, int] = Field(
        default_factory=lambda: {
            Tier.ANONYMOUS: 200_000,
            Tier.APP: 2_000_000,
            Tier.STAFF: 2_000_000,
            Tier.AUDITOR: 2_000_000,
            Tier.CITIZEN: 200_000,
        },
        description="Cost per rate_period_s, per principal, by tier (0: unlimited).",
    )
    # caps below max_depth, max_aliases, max_tokens, max_directives for some tiers, e.g.
    # CITYGRAPH_TIER_MAX_DEPTH='{"anonymous": 8}'; a tier not named has the schema's limits
    tier_max_depth: dict[Tier, int] = Field(default_factory=dict)
    tier_max_aliases: dict[Tier, int] = Field(default_factory=dict)
    tier_max_tokens: dict[Tier, int] = Field(default_factory=dict)
    tier_max_directives: dict[Tier, int] = Field(default_factory=dict)
    apq_enabled: bool = Field(default=True, description="Automatic persisted queries (Apollo).")
    apq_ttl_s: int = Field(default=7 * 86_400, ge=60)
    allowlist_manifest: Path | None = Field(
        default=None, description="Apollo persisted-query manifest of the registered documents."
    )
    allowlist_clients: list[str] = Field(
        default_factory=list, description="Client ids that may run registered documents only."
    )
    # --------------------------------------------------------------------------------------

    # Audit (DESIGN section 4) -------------------------------------------------------------
    audit_enabled: bool = Field(
        default=True, description="Record every request in the access log (off: benchmarks only)."
    )
    audit_chain_key: str | None = Field(
        default=None,
        description="HMAC key of the chains (hex, 32+ bytes); default data_dir/audit/chain.key.",
    )
    audit_batch_size: int = Field(default=500, ge=1, le=10_000)
    audit_flush_interval_s: float = Field(default=0.2, gt=0, le=60)
    audit_commit_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="Longest wait for a restricted read's record."
    )
    audit_shipper: Literal["inline", "process"] = Field(
        default="process",
        description=(
            "Who writes spooled public records to the log: a child process of each server"
            " (`process`: the serving process only spools) or the server's own task (`inline`)."
        ),
    )
    audit_pseudonym_period_s: int = Field(
        default=86_400, ge=60, description="How long an anonymous caller keeps one pseudonym."
    )

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str | None) -> str | None:
        return async_url(url) if url else url

    @field_validator("database_urls")
    @classmethod
    def _async_drivers(cls, urls: dict[str, str]) -> dict[str, str]:
        return {department: async_url(url) for department, url in urls.items()}

    @model_validator(mode="after")
    def _audited_in_production(self) -> Self:
        if self.environment is Environment.PRODUCTION and not self.audit_enabled:
            raise ValueError("production serves personal data: the access log cannot be turned off")
        return self

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.page_default > self.page_max:
            raise ValueError("page_default must not exceed page_max")
        # GCRA in Redis counts time in microseconds: a finer interval would be rounded up, and
        # the limit enforced (and said in RateLimit headers) would not be the one configured
        most = int(self.rate_period_s * 1_000_000)
        for name, limits in (
            ("rate_limits", self.rate_limits),
            ("cost_budgets", self.cost_budgets),
        ):
            for tier, limit in limits.items():
                if limit > most:
                    raise ValueError(
                        f"{name}[{tier.value}] = {limit} is more than one per microsecond of "
                        f"rate_period_s ({most}); use 0 for no limit"
                    )
        if self.environment is Environment.PRODUCTION and self.default_database_url.startswith(
            "sqlite"
        ):
            raise ValueError(
                "production needs CITYGRAPH_DATABASE_URL (PostgreSQL), not the SQLite default"
            )
        return self

    @property
    def default_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'city.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def token_audience(self) -> str:
        return self.audience or self.base_url

    @property
    def signing_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    @property
    def audit_dir(self) -> Path:
        """The chain key, the pseudonym keys and the spool (never the log's database)."""
        return self.data_dir / "audit"


def _secure_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}
