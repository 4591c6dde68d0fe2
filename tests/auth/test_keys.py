"""Signing keys on disk: created once with tight permissions, reloaded, rotated, refused when exposed."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from auth.keys import CURRENT_FILE, PREVIOUS_FILE, KeyFileError, KeyStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_generates_a_private_key_readable_by_us_only(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "keys"
    keys = KeyStore(directory).signing_keys()
    assert keys.alg == "RS256"
    assert keys.current.is_private
    assert keys.previous is None
    assert _mode(directory) == 0o700
    assert _mode(directory / CURRENT_FILE) == 0o600
    stored = json.loads((directory / CURRENT_FILE).read_text())
    assert stored["kid"] == keys.kid
    assert "d" in stored
    assert [p.name for p in directory.iterdir()] == [CURRENT_FILE]  # no temporary left behind


def test_the_key_survives_a_restart(tmp_path: Path) -> None:
    first = KeyStore(tmp_path / "keys").signing_keys()
    second = KeyStore(tmp_path / "keys").signing_keys()
    assert first.kid == second.kid


def test_es256_keys(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys", alg="ES256").signing_keys()
    assert keys.alg == "ES256"
    assert keys.jwks()["keys"][0]["crv"] == "P-256"


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    kids: list[str] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        kids.append(KeyStore(tmp_path / "keys").signing_keys().kid)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(kids)) == 1


def test_rotation_keeps_the_previous_public_key_only(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    old = store.signing_keys()
    new = store.rotate()
    assert new.kid != old.kid
    assert new.previous is not None
    assert new.previous.kid == old.kid
    assert not new.previous.is_private
    assert [k["kid"] for k in new.jwks()["keys"]] == [new.kid, old.kid]
    previous_file = json.loads((tmp_path / "keys" / PREVIOUS_FILE).read_text())
    assert "d" not in previous_file
    assert _mode(tmp_path / "keys" / PREVIOUS_FILE) == 0o600
    # a second rotation forgets the oldest key
    newest = store.rotate()
    assert [k["kid"] for k in newest.jwks()["keys"]] == [newest.kid, new.kid]


def test_a_rotation_by_another_process_is_seen(tmp_path: Path) -> None:
    server = KeyStore(tmp_path / "keys")
    before = server.signing_keys().kid
    KeyStore(tmp_path / "keys").rotate()  # the CLI, elsewhere
    assert server.signing_keys().kid != before


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys")
    store.signing_keys()
    os.chmod(tmp_path / "keys" / CURRENT_FILE, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        KeyStore(tmp_path / "keys").signing_keys()


def test_a_folder_writable_by_others_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    directory.mkdir()
    os.chmod(directory, 0o777)  # noqa: S103 -- the exposure under test
    with pytest.raises(KeyFileError, match="written by others"):
        KeyStore(directory).signing_keys()


def test_a_damaged_key_file_is_a_clear_error(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    KeyStore(directory).signing_keys()
    (directory / CURRENT_FILE).write_text('{"kty": "RSA", "alg": "HS256", "kid": "x"}')
    with pytest.raises(KeyFileError, match="not a signing key"):
        KeyStore(directory).signing_keys()


def test_only_rs256_and_es256_are_generated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RS256"):
        KeyStore(tmp_path / "keys", alg="HS256")
