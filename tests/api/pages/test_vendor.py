"""The build step behind GraphiQL: pinned tarballs, checked by hash, unpacked file by file."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from api.pages import vendor


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


PACKAGE = tarball({"package.json": json.dumps({"license": "MIT"}).encode(), "dist/a.js": b"ok()"})


def pin(data: bytes = PACKAGE) -> vendor.Pin:
    return vendor.Pin("@scope/lib", "1.0.0", integrity(data), {"a.js": "dist/a.js"})


def test_install_unpacks_the_named_files_and_records_their_hashes(tmp_path: Path) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return PACKAGE

    manifest = vendor.install([pin()], tmp_path / "out", fetch=fetch, cache=tmp_path / "cache")
    assert fetched == ["https://registry.npmjs.org/@scope/lib/-/lib-1.0.0.tgz"]
    assert (tmp_path / "out" / "scope-lib" / "a.js").read_bytes() == b"ok()"
    assert manifest["files"] == {"scope-lib/a.js": vendor.sri(b"ok()")}
    assert vendor.missing([pin()], tmp_path / "out") == []
    # done: a second build fetches nothing
    vendor.install([pin()], tmp_path / "out", fetch=fetch, cache=tmp_path / "cache")
    assert len(fetched) == 1


def test_a_tarball_that_differs_from_its_pin_is_refused(tmp_path: Path) -> None:
    other = tarball({"package.json": b"{}", "dist/a.js": b"evil()"})
    with pytest.raises(vendor.VendorError, match="does not match"):
        vendor.install([pin()], tmp_path / "out", fetch=lambda _url: other, cache=tmp_path / "c")
    assert not (tmp_path / "out" / "scope-lib" / "a.js").exists()


def test_pins_cannot_name_files_outside_the_vendor_folder(tmp_path: Path) -> None:
    pins = tmp_path / "vendor.toml"
    pins.write_text(
        '[[package]]\nname = "x"\nversion = "1"\nintegrity = "sha512-AA=="\n'
        'files = { "../../evil.js" = "dist/a.js" }\n'
    )
    with pytest.raises(vendor.VendorError, match="unsafe"):
        vendor.load_pins(pins)


def test_the_real_pins_are_installed_in_this_checkout() -> None:
    # uv sync ran hatch_build.py: every pinned file is here, as the manifest says
    assert vendor.missing() == []
