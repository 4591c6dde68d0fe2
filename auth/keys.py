"""Signing keys of the built-in authorization server, kept on disk beside the city's data.

`<keys_dir>/signing.jwk.json` holds the current private key, `<keys_dir>/previous.jwk.json` the public
half of the key it replaced, so that tokens signed just before a rotation still verify until they
expire. Rotate no more often than the token lifetime: only one previous key is kept.

Both files are mode 0600 in a 0700 folder. A key file that the group or others may read is refused
rather than used: whoever reads it can mint any token, staff and citizen ones included.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

SIGNING_ALGS = ("RS256", "ES256")
CURRENT_FILE = "signing.jwk.json"
PREVIOUS_FILE = "previous.jwk.json"
RSA_BITS = 2048

SigningKey = RSAKey | ECKey


class KeyFileError(RuntimeError):
    """A key file that is missing, unreadable, malformed or too widely readable."""


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The key tokens are signed with now, and the public key of the one before it."""

    current: SigningKey
    previous: SigningKey | None

    @property
    def alg(self) -> str:
        """The JWS algorithm of the current key."""
        return str(self.current.get("alg"))

    @property
    def kid(self) -> str:
        """The key id of the current key (its RFC 7638 thumbprint)."""
        return str(self.current.kid)

    def public_keys(self) -> list[SigningKey]:
        """Public halves of every key a token of ours may be signed with, current first."""
        keys = [_public(self.current)]
        if self.previous is not None and self.previous.kid != self.current.kid:
            keys.append(_public(self.previous))
        return keys

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set to publish at /.well-known/jwks.json (public parameters only)."""
        return {"keys": [dict(key.as_dict(private=False)) for key in self.public_keys()]}


def generate_key(alg: str = "RS256") -> SigningKey:
    """A new private signing key for `alg`, with `alg`, `use` and a thumbprint `kid`."""
    parameters: Any = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS, parameters=parameters, private=True, auto_kid=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True, auto_kid=True)
    raise ValueError(f"signing algorithm must be one of {', '.join(SIGNING_ALGS)}, not {alg}")


class KeyStore:
    """The key folder: created with a first key on first use, re-read when another process rotates."""

    def __init__(self, directory: Path, *, alg: str = "RS256") -> None:
        if alg not in SIGNING_ALGS:
            raise ValueError(f"signing algorithm must be one of {', '.join(SIGNING_ALGS)}")
        self.directory = directory
        self.alg = alg
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int], SigningKeys] | None = None

    @property
    def current_path(self) -> Path:
        return self.directory / CURRENT_FILE

    @property
    def previous_path(self) -> Path:
        return self.directory / PREVIOUS_FILE

    def signing_keys(self) -> SigningKeys:
        """The keys on disk, generating the first one if there is none yet."""
        with self._lock:
            if not self.current_path.exists():
                self._create_first()
            return self._load()

    def rotate(self, *, alg: str | None = None) -> SigningKeys:
        """Replace the current key by a new one; its public half stays published as the previous key."""
        with self._lock:
            old = self._load() if self.current_path.exists() else None
            new = generate_key(alg or self.alg)
            self._ensure_directory()
            if old is not None:
                # The previous key first: a crash between the two writes leaves the old key in
                # both places, never a JWKS without the key that live tokens were signed with.
                _write_file(self.previous_path, _dump(old.current, private=False), replace=True)
            _write_file(self.current_path, _dump(new, private=True), replace=True)
            self._cached = None
            return self._load()

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True)
        except FileExistsError:
            pass
        else:
            os.chmod(self.directory, 0o700)  # mkdir's mode is filtered by the umask
        mode = self.directory.stat().st_mode
        if mode & 0o022:
            raise KeyFileError(
                f"{self.directory} may be written by others (mode {stat.filemode(mode)}); "
                f"run `chmod 700 {self.directory}`"
            )

    def _create_first(self) -> None:
        self._ensure_directory()
        # Several workers may start at once: the first link wins, the others load its key.
        _write_file(self.current_path, _dump(generate_key(self.alg), private=True), replace=False)

    def _load(self) -> SigningKeys:
        try:
            info = self.current_path.stat()
        except FileNotFoundError as exc:
            raise KeyFileError(f"no signing key at {self.current_path}") from exc
        version = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._cached is not None and self._cached[0] == version:
            return self._cached[1]
        current = _read_key(self.current_path, private=True)
        previous = (
            _read_key(self.previous_path, private=False) if self.previous_path.exists() else None
        )
        keys = SigningKeys(current=current, previous=previous)
        self._cached = (version, keys)
        return keys


def secret_key(path: Path, *, size: int = 32) -> bytes:
    """A random key kept in `path` (0600, made on first use; every worker reads the same one)."""
    if not path.exists():
        folder = KeyStore(path.parent)
        folder._ensure_directory()
        # the first writer wins; the others read its key
        _write_file(path, secrets.token_hex(size).encode(), replace=False)
    info = path.stat()
    if info.st_mode & 0o077:
        raise KeyFileError(f"{path} is readable by others; run `chmod 600 {path}`")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise KeyFileError(f"{path} holds no hex key") from exc
    if len(key) < size:
        raise KeyFileError(f"{path} holds a key shorter than {size} bytes")
    return key


def _public(key: SigningKey) -> SigningKey:
    data: Any = key.as_dict(private=False)
    return RSAKey.import_key(data) if data["kty"] == "RSA" else ECKey.import_key(data)


def _dump(key: SigningKey, *, private: bool) -> bytes:
    return json.dumps(dict(key.as_dict(private=private)), indent=2).encode() + b"\n"


def _write_file(path: Path, data: bytes, *, replace: bool) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL with 0600 from the start: the key is never readable by others, not even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _read_key(path: Path, *, private: bool) -> SigningKey:
    try:
        info = path.stat()
        if info.st_mode & 0o077:
            raise KeyFileError(
                f"{path} is readable by others (mode {stat.filemode(info.st_mode)}); "
                f"run `chmod 600 {path}` and consider rotating the key"
            )
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read the signing key {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("alg") not in SIGNING_ALGS or not data.get("kid"):
        raise KeyFileError(f"{path} is not a signing key of ours (alg and kid required)")
    try:
        key: SigningKey = (
            RSAKey.import_key(data) if data.get("kty") == "RSA" else ECKey.import_key(data)
        )
    except Exception as exc:  # joserfc raises several types for a malformed JWK
        raise KeyFileError(f"{path} holds no valid JWK: {type(exc).__name__}") from exc
    if private and not key.is_private:
        raise KeyFileError(f"{path} must hold a private key")
    if not private:
        key = _public(key)
    return key
