"""Pseudonyms of client addresses: telling anonymous callers apart without keeping their address.

    pseudonym(ip, now=...) = HMAC-SHA256(key of now's period, ip)[:16 bytes], hex

Rotation: each period (a UTC day by default, counted from the Unix epoch) has its own key, 32
random bytes in `data_dir/pseudonym-keys/<period>.key` (0600, in a 0700 folder), created by
whichever process needs it first (O_EXCL: processes sharing the data dir agree). When a period's
key is created the keys of older periods are deleted. So one address keeps one pseudonym within a
period (rate limits and audit records can tell callers apart) and gets an unrelated one the next
period; and once a key is gone, nobody, operators included, can recompute which address a past
pseudonym stood for (keys derived from a kept secret would allow that: IPv4 is small enough to
enumerate).

One `Pseudonyms` serves the rate limiter (whose bucket) and the access log (who asked), so a 429
and the records of the same caller carry the same pseudonym. `__call__` remembers each address's
pseudonym for the rest of its period: an HMAC per request is work a busy server need not repeat.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

PERIOD_S = 86_400
KEYS_FOLDER = "pseudonym-keys"
REMEMBERED = 100_000
"""Addresses whose pseudonym is remembered at once (the memo starts over when it is full)."""


class Pseudonyms:
    """Per-period random keys in one folder, and the pseudonyms they make."""

    def __init__(self, directory: Path, *, period_s: int = PERIOD_S) -> None:
        if period_s < 60:
            raise ValueError("the pseudonym period must be at least a minute")
        self.directory = directory
        self.period_s = period_s
        self._key: tuple[int, bytes] | None = None
        self._memo: dict[str, tuple[int, str]] = {}

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, period_s: int = PERIOD_S) -> Pseudonyms:
        return cls(data_dir / KEYS_FOLDER, period_s=period_s)

    def key(self, period: int) -> bytes:
        """The key of period number `period`, created (and older keys deleted) on first use."""
        if self._key is not None and self._key[0] == period:
            return self._key[1]
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{period}.key"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes()
            for _ in range(100):  # its creator may be between open and write
                if len(key) == 32:
                    break
                time.sleep(0.001)
                key = path.read_bytes()
        else:
            key = secrets.token_bytes(32)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
            for old in self.directory.glob("*.key"):
                if old.stem.isdigit() and int(old.stem) < period:
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()
        if len(key) != 32:
            raise RuntimeError(f"{path} does not hold a 32-byte key")
        self._key = (period, key)
        return key

    def pseudonym(self, ip: str, *, now: datetime) -> str:
        """The pseudonym of `ip` at `now` (an aware datetime): 32 hex digits."""
        period = int(now.timestamp()) // self.period_s
        return hmac.digest(self.key(period), ip.encode(), hashlib.sha256)[:16].hex()

    def __call__(self, ip: str | None) -> str | None:
        """`ip`'s pseudonym now, as `p:` and 32 hex digits (None for no address)."""
        if not ip:
            return None
        period = int(time.time()) // self.period_s
        found = self._memo.get(ip)
        if found is not None and found[0] == period:
            return found[1]
        if len(self._memo) >= REMEMBERED:
            self._memo.clear()
        value = "p:" + hmac.digest(self.key(period), ip.encode(), hashlib.sha256)[:16].hex()
        self._memo[ip] = (period, value)
        return value
