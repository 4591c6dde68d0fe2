"""Keyed, rotating pseudonyms of anonymous callers' addresses.

    pseudonym(ip) = "p:" + HMAC-SHA256(key of the current period, ip)[:16 bytes], hex

The key of a period (`period_s` long, counted from the Unix epoch) is 32 random bytes in
`<directory>/<period>.key` (0600, created by whichever worker needs it first). When a newer period's
key is created the older ones are deleted: a pseudonym links one caller's requests within a period,
and once its key is gone nobody, the operators included, can tell which address it stood for. The
keys live beside the application, never in the log's database.

(auth/pseudonym.py was not written when the audit log needed one; this module is the log's own.)
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import threading
import time
from hashlib import sha256
from pathlib import Path


class Pseudonyms:
    """Pseudonyms of addresses under a key that rotates every `period_s` seconds."""

    def __init__(self, directory: Path, *, period_s: int = 86_400) -> None:
        if period_s < 60:
            raise ValueError("the pseudonym period must be at least a minute")
        self.directory = directory
        self.period_s = period_s
        self._lock = threading.Lock()
        self._key: tuple[int, bytes] | None = None

    def period(self, now: float) -> int:
        return int(now // self.period_s)

    def key(self, now: float) -> bytes:
        """The current period's key, created (and older ones deleted) at the turn of a period."""
        period = self.period(now)
        if self._key is not None and self._key[0] == period:
            return self._key[1]
        with self._lock:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self.directory / f"{period}.key"
            if not path.exists():
                tmp = self.directory / f".{period}.{secrets.token_hex(6)}.tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as file:
                    file.write(secrets.token_hex(32))
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)  # the first worker wins; the others use its key
                os.unlink(tmp)
            key = bytes.fromhex(path.read_text().strip())
            for old in self.directory.glob("*.key"):
                if old.stem.isdigit() and int(old.stem) < period:
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()
            self._key = (period, key)
            return key

    def __call__(self, ip: str | None, *, now: float | None = None) -> str | None:
        """The pseudonym of `ip` in the current period (None for no address)."""
        if not ip:
            return None
        key = self.key(time.time() if now is None else now)
        return "p:" + hmac.new(key, ip.encode(), sha256).hexdigest()[:32]
