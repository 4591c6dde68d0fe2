"""The chain: every record's HMAC covers its chain, its sequence number, the previous HMAC and its
canonical body, so an edit, a deletion, a reordering or an insertion breaks the chain from there on.

    hmac[n] = HMAC-SHA256(key, chain_id "\\n" n "\\n" hmac[n-1] "\\n" canonical(body[n]))
    hmac[0] = GENESIS (64 zeros)

The canonical body is JSON with sorted keys, no insignificant whitespace, UTF-8 (orjson), which is
the exact text the log stores: whoever holds the key recomputes every link from the table alone.

The key is `<data_dir>/audit/chain.key` (32 random bytes, hex, mode 0600 in a 0700 folder, created
on first use; a file others may read is refused) unless the settings give one. Whoever holds it can
forge a chain: keep it off the database server.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

GENESIS = "0" * 64
KEY_FILE = "chain.key"


class ChainKeyError(RuntimeError):
    """A chain key that is missing, malformed or readable by others."""


def canonical(body: dict[str, Any]) -> str:
    """The canonical JSON text of a record body (sorted keys, compact, UTF-8)."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def canonical_line(body: dict[str, Any]) -> bytes:
    """The canonical text of a record body as one spool line (UTF-8, with its newline)."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


def link(key: bytes, *, chain_id: str, seq: int, prev: str, body: str) -> str:
    """The HMAC (hex) of record `seq` of `chain_id`, chained to `prev`."""
    message = f"{chain_id}\n{seq}\n{prev}\n{body}".encode()
    return hmac.new(key, message, sha256).hexdigest()


def load_key(directory: Path, configured: str | None = None) -> bytes:
    """The chain key: the configured one (hex), else the key file, created on first use."""
    if configured:
        try:
            key = bytes.fromhex(configured)
        except ValueError as exc:
            raise ChainKeyError("the audit chain key must be hex") from exc
        if len(key) < 32:
            raise ChainKeyError("the audit chain key must be at least 32 bytes (64 hex digits)")
        return key
    path = directory / KEY_FILE
    if not path.exists():
        _create(directory, path)
    info = path.stat()
    if info.st_mode & 0o077:
        raise ChainKeyError(
            f"{path} is readable by others (mode {stat.filemode(info.st_mode)}); "
            f"run `chmod 600 {path}`"
        )
    try:
        return bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise ChainKeyError(f"{path} does not hold a hex key") from exc


def _create(directory: Path, path: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = directory / f".{KEY_FILE}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        # several workers may start at once: the first link wins, the others read its key
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
