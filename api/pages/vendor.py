"""The pages' browser libraries: npm tarballs pinned by integrity, unpacked at build time.

GraphiQL, React and GraphiQL's explorer plugin are not copied into the repository. `vendor.toml`
pins each npm package by version and by the `sha512-...` integrity the registry publishes (what
package-lock.json records). `install()` downloads each tarball once (a cache under
~/.cache/citygraph/npm), refuses any whose hash differs, and writes the few files named in the pins
into `static/vendor/<package>/`, with `manifest.json` recording the versions, licences and the
SHA-384 of every file (the pages' Subresource Integrity).

It runs when the project is built: hatch_build.py loads this file by path (the build environment
has the standard library and hatchling, nothing of ours), so `uv sync`, `uv build` and the
Dockerfile all install the assets, and the running server never fetches anything. Standard library
only, for that reason. `CITYGRAPH_NPM_REGISTRY` (or npm's own `npm_config_registry`) points at a
mirror; the hashes make the mirror's honesty irrelevant.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tarfile
import tomllib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
PINS = HERE / "vendor.toml"
VENDOR_DIR = HERE / "static" / "vendor"
MANIFEST = "manifest.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org"
HASHES = {"sha512": hashlib.sha512, "sha384": hashlib.sha384, "sha256": hashlib.sha256}
MAX_TARBALL_BYTES = 32 * 1024 * 1024
TIMEOUT_S = 60

Fetch = Callable[[str], bytes]


class VendorError(RuntimeError):
    """A pin that cannot be honoured: bad pins, an unreachable registry, a hash that differs."""


@dataclass(frozen=True, slots=True)
class Pin:
    """One npm package: its version, the registry's integrity string, the files we take from it."""

    name: str
    version: str
    integrity: str
    files: dict[str, str]
    """Name under static/vendor/<dir>/ -> path inside the tarball's package/ folder."""

    @property
    def directory(self) -> str:
        """Its folder under static/vendor: `@graphiql/plugin-explorer` -> `graphiql-plugin-explorer`."""
        return self.name.lstrip("@").replace("/", "-")

    def tarball_url(self, registry: str) -> str:
        base = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{base}-{self.version}.tgz"


def load_pins(path: Path = PINS) -> list[Pin]:
    """The pins of `vendor.toml`, checked for shape and safe file names."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise VendorError(f"cannot read {path}: {exc}") from exc
    pins = []
    for entry in document.get("package", []):
        files = entry.get("files", {})
        for name, inner in files.items():
            for part in (name, inner):
                pure = PurePosixPath(part)
                if pure.is_absolute() or ".." in pure.parts or not part:
                    raise VendorError(f"{entry.get('name')}: unsafe file name {part!r}")
        algorithm = str(entry.get("integrity", "")).partition("-")[0]
        if algorithm not in HASHES:
            raise VendorError(f"{entry.get('name')}: integrity must be sha512-, sha384- or sha256-")
        pins.append(Pin(entry["name"], entry["version"], entry["integrity"], dict(files)))
    return pins


def verify(data: bytes, integrity: str) -> bool:
    """Whether `data` has this Subresource-Integrity-style hash (`sha512-<base64>`)."""
    algorithm, _, expected = integrity.partition("-")
    digest = HASHES[algorithm](data).digest()
    return base64.b64encode(digest).decode() == expected


def sri(data: bytes) -> str:
    """The `integrity` attribute of a file the pages load."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def registry_url() -> str:
    return (
        os.environ.get("CITYGRAPH_NPM_REGISTRY")
        or os.environ.get("npm_config_registry")  # noqa: SIM112 (npm's own spelling)
        or DEFAULT_REGISTRY
    )


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citygraph" / "npm"


def download(url: str) -> bytes:
    """GET `url` (https, or a mirror the environment names), bounded in size and time."""
    if not url.startswith(("https://", "http://")):
        raise VendorError(f"not an HTTP(S) URL: {url}")
    # the scheme is checked above: no file: or custom scheme reaches urllib
    request = urllib.request.Request(url, headers={"Accept": "application/octet-stream"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
        data: bytes = response.read(MAX_TARBALL_BYTES + 1)
    if len(data) > MAX_TARBALL_BYTES:
        raise VendorError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes")
    return data


def tarball(pin: Pin, *, fetch: Fetch = download, cache: Path | None = None) -> bytes:
    """The pin's tarball, from the cache or the registry, and always checked against its hash."""
    cached = (cache or cache_dir()) / (hashlib.sha256(pin.integrity.encode()).hexdigest() + ".tgz")
    if cached.is_file():
        data = cached.read_bytes()
        if verify(data, pin.integrity):
            return data
    url = pin.tarball_url(registry_url())
    try:
        data = fetch(url)
    except (OSError, ValueError) as exc:
        raise VendorError(
            f"cannot download {pin.name}@{pin.version} from {url} ({exc}); the web pages need it. "
            "Set CITYGRAPH_NPM_REGISTRY to a reachable npm mirror and build again."
        ) from exc
    if not verify(data, pin.integrity):
        raise VendorError(f"{pin.name}@{pin.version} from {url} does not match its pinned hash")
    cached.parent.mkdir(parents=True, exist_ok=True)
    _write(cached, data)
    return data


def _write(path: Path, data: bytes) -> None:
    """Write atomically, and not at all when the content is already there (no mtime churn)."""
    if path.is_file() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def _member(archive: tarfile.TarFile, inner: str) -> bytes:
    # one named regular file, never extractall: a tarball cannot write outside the vendor folder
    try:
        member = archive.getmember(f"package/{inner}")
    except KeyError as exc:
        raise VendorError(f"the tarball has no package/{inner}") from exc
    extracted = archive.extractfile(member) if member.isfile() else None
    if extracted is None:
        raise VendorError(f"package/{inner} is not a regular file")
    return extracted.read()


def install(
    pins: list[Pin] | None = None,
    dest: Path = VENDOR_DIR,
    *,
    fetch: Fetch = download,
    cache: Path | None = None,
) -> dict[str, object]:
    """Unpack every pinned file into `dest` and write its manifest; nothing is fetched when done."""
    pins = load_pins() if pins is None else pins
    manifest = read_manifest(dest)
    if manifest is not None and not missing(pins, dest):
        return manifest
    packages: list[dict[str, str]] = []
    files: dict[str, str] = {}
    for pin in pins:
        data = tarball(pin, fetch=fetch, cache=cache)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            package_json = json.loads(_member(archive, "package.json"))
            for name, inner in pin.files.items():
                content = _member(archive, inner)
                target = dest / pin.directory / name
                target.parent.mkdir(parents=True, exist_ok=True)
                _write(target, content)
                files[f"{pin.directory}/{name}"] = sri(content)
        packages.append(
            {
                "name": pin.name,
                "version": pin.version,
                "integrity": pin.integrity,
                "license": str(package_json.get("license", "unknown")),
            }
        )
    manifest = {"packages": packages, "files": files}
    dest.mkdir(parents=True, exist_ok=True)
    _write(dest / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def read_manifest(dest: Path = VENDOR_DIR) -> dict[str, object] | None:
    """The manifest `install` wrote, or None."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def missing(pins: list[Pin] | None = None, dest: Path = VENDOR_DIR) -> list[str]:
    """Pinned files absent from `dest`, or every file when the manifest names other versions."""
    pins = load_pins() if pins is None else pins
    manifest = read_manifest(dest) or {}
    recorded = {
        (p.get("name"), p.get("version"), p.get("integrity"))
        for p in manifest.get("packages", [])  # type: ignore[attr-defined]
        if isinstance(p, dict)
    }
    absent = []
    for pin in pins:
        stale = (pin.name, pin.version, pin.integrity) not in recorded
        for name in pin.files:
            if stale or not (dest / pin.directory / name).is_file():
                absent.append(f"{pin.directory}/{name}")
    return absent
