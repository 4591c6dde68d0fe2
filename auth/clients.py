"""The client registry: apps registered with the built-in authorization server, and what they may ask for.

Secrets are shown once at registration and stored as salted scrypt hashes. A client registered by
itself (`POST /oauth/register`) gets `open-data` only; personal scopes need an administrator
(`citygraph clients create`, admin_granted). `self` is never granted to a client: an app is not a
resident.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.scopes import Scope

AUTH_DEPARTMENT = "auth"
"""Where the client table lives: its migration branch, and its name in CITYGRAPH_DATABASE_URLS."""

metadata = MetaData()

oauth_client = Table(
    "oauth_client",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(255), nullable=False),
    Column("scopes", String(500), nullable=False, comment="space-separated, from the Scope set"),
    Column("admin_granted", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

CLIENT_ID_PREFIX = "cg_"
NAME_MAX = 200
# Scopes a client registered by itself may hold.
SELF_SERVICE_SCOPES = frozenset({Scope.OPEN_DATA})
# Scopes no client may hold, whoever registers it.
NEVER_FOR_CLIENTS = frozenset({Scope.SELF})

# scrypt: 16 MiB and ~50 ms per check. Secrets are 256 random bits, so the cost is defence in depth
# for a leaked table, not what keeps a secret unguessable.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P, _SCRYPT_LEN = 2**14, 8, 1, 32
_CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCOPE_VALUES = frozenset(scope.value for scope in Scope)


def hash_secret(secret: str) -> str:
    """A salted scrypt hash of `secret`, self-describing: scrypt$n$r$p$salt$hash."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)]
    )


def verify_secret(secret: str, encoded: str) -> bool:
    """Whether `secret` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = _scrypt(secret, base64.urlsafe_b64decode(salt + "=="), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_SCRYPT_LEN, maxmem=64 * 1024 * 1024
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """One registered client, as stored (without its secret in the repr)."""

    client_id: str
    name: str
    scopes: frozenset[Scope]
    admin_granted: bool
    created_at: datetime
    revoked_at: datetime | None
    secret_hash: str = field(repr=False)

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None

    def check_secret(self, secret: str) -> bool:
        """Whether `secret` is this client's secret."""
        return verify_secret(secret, self.secret_hash)


@dataclass(frozen=True, slots=True)
class NewClient:
    """A client just registered, with its secret in clear: shown once, never stored."""

    record: ClientRecord
    secret: str = field(repr=False)


def validate_scopes(scopes: Iterable[str], *, admin_granted: bool) -> frozenset[Scope]:
    """The scopes a new client may be registered with, or ValueError saying why not."""
    try:
        parsed = frozenset(Scope(s) for s in scopes)
    except ValueError as exc:
        raise ValueError(f"unknown scope: {exc}") from exc
    if not parsed:
        raise ValueError("a client needs at least one scope")
    if parsed & NEVER_FOR_CLIENTS:
        raise ValueError("no client may hold the scope 'self': an app is not a resident")
    if not admin_granted and not parsed <= SELF_SERVICE_SCOPES:
        raise ValueError("only an administrator may grant scopes other than open-data")
    return parsed


def _validate_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > NAME_MAX or not cleaned.isprintable():
        raise ValueError(f"a client name is printable text of 1 to {NAME_MAX} characters")
    return cleaned


def _as_utc(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; every time we store is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _record(row: RowMapping) -> ClientRecord:
    revoked = row["revoked_at"]
    return ClientRecord(
        client_id=row["client_id"],
        name=row["name"],
        # A scope removed from the closed set since registration is dropped, never guessed at.
        scopes=frozenset(Scope(s) for s in row["scopes"].split() if s in _SCOPE_VALUES),
        admin_granted=bool(row["admin_granted"]),
        created_at=_as_utc(row["created_at"]),
        revoked_at=None if revoked is None else _as_utc(revoked),
        secret_hash=row["secret_hash"],
    )


async def create_client(
    *,
    engine: AsyncEngine,
    name: str,
    scopes: Iterable[str],
    admin_granted: bool,
    now: datetime | None = None,
) -> NewClient:
    """Register a client; its secret is in the result and nowhere else."""
    checked_name = _validate_name(name)
    checked_scopes = validate_scopes(scopes, admin_granted=admin_granted)
    client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(32)
    record = ClientRecord(
        client_id=client_id,
        name=checked_name,
        scopes=checked_scopes,
        admin_granted=admin_granted,
        created_at=now or datetime.now(UTC),
        revoked_at=None,
        secret_hash=hash_secret(secret),
    )
    async with engine.begin() as conn:
        await conn.execute(
            insert(oauth_client).values(
                client_id=record.client_id,
                name=record.name,
                secret_hash=record.secret_hash,
                scopes=" ".join(sorted(record.scopes)),
                admin_granted=record.admin_granted,
                created_at=record.created_at,
                revoked_at=None,
            )
        )
    return NewClient(record=record, secret=secret)


async def get_client(*, engine: AsyncEngine, client_id: str) -> ClientRecord | None:
    """The client with this id, revoked or not; None if unknown."""
    if not _CLIENT_ID_PATTERN.fullmatch(client_id):
        return None
    async with engine.connect() as conn:
        row = (
            (await conn.execute(select(oauth_client).where(oauth_client.c.client_id == client_id)))
            .mappings()
            .first()
        )
    return None if row is None else _record(row)


async def list_clients(*, engine: AsyncEngine, include_revoked: bool = True) -> list[ClientRecord]:
    """Every client, oldest first."""
    query = select(oauth_client).order_by(oauth_client.c.created_at, oauth_client.c.client_id)
    if not include_revoked:
        query = query.where(oauth_client.c.revoked_at.is_(None))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [_record(row) for row in rows]


async def revoke_client(
    *, engine: AsyncEngine, client_id: str, now: datetime | None = None
) -> bool:
    """Revoke a client: no new tokens, and its live tokens are refused. False if unknown or revoked."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(oauth_client)
            .where(oauth_client.c.client_id == client_id, oauth_client.c.revoked_at.is_(None))
            .values(revoked_at=now or datetime.now(UTC))
        )
    return bool(result.rowcount)


async def rotate_secret(*, engine: AsyncEngine, client_id: str) -> str | None:
    """Give an active client a new secret (returned once); the old one stops working at once.

    Tokens already issued stay valid until they expire (JWTs); revoke the client to end them.
    None if the client is unknown or revoked.
    """
    secret = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        result = await conn.execute(
            update(oauth_client)
            .where(oauth_client.c.client_id == client_id, oauth_client.c.revoked_at.is_(None))
            .values(secret_hash=hash_secret(secret))
        )
    return secret if result.rowcount else None


async def count_self_service_since(*, engine: AsyncEngine, since: datetime) -> int:
    """How many clients registered themselves since `since` (for the registration cap)."""
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count())
            .select_from(oauth_client)
            .where(oauth_client.c.admin_granted.is_(False), oauth_client.c.created_at >= since)
        )
    return int(count or 0)


class ClientRegistry:
    """The registry as the resource server sees it: lookups cached for a few seconds.

    A revocation made through this object takes effect at once in this process; one made elsewhere
    (the CLI, another worker) within `cache_ttl_s`.
    """

    def __init__(
        self, engine: AsyncEngine, *, cache_ttl_s: float = 10.0, cache_size: int = 10_000
    ) -> None:
        self.engine = engine
        self.cache_ttl_s = cache_ttl_s
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[float, ClientRecord | None]] = OrderedDict()

    async def get(self, client_id: str) -> ClientRecord | None:
        """The client with this id (revoked or not), from the cache when fresh."""
        now = time.monotonic()
        hit = self._cache.get(client_id)
        if hit is not None and now - hit[0] < self.cache_ttl_s:
            return hit[1]
        record = await get_client(engine=self.engine, client_id=client_id)
        self._cache[client_id] = (now, record)
        self._cache.move_to_end(client_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return record

    async def get_fresh(self, client_id: str) -> ClientRecord | None:
        """The client with this id, read from the database (the token endpoint's view)."""
        self._cache.pop(client_id, None)
        return await self.get(client_id)

    async def create(self, *, name: str, scopes: Iterable[str], admin_granted: bool) -> NewClient:
        """Register a client (see `create_client`)."""
        new = await create_client(
            engine=self.engine, name=name, scopes=scopes, admin_granted=admin_granted
        )
        self._cache.pop(new.record.client_id, None)
        return new

    async def rotate(self, client_id: str) -> str | None:
        """A new secret for the client (see `rotate_secret`), effective at once in this process."""
        secret = await rotate_secret(engine=self.engine, client_id=client_id)
        self._cache.pop(client_id, None)
        return secret

    async def revoke(self, client_id: str) -> bool:
        """Revoke a client (see `revoke_client`), effective at once in this process."""
        revoked = await revoke_client(engine=self.engine, client_id=client_id)
        self._cache.pop(client_id, None)
        return revoked
