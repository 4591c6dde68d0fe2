"""The normalised manifests of published datasets, kept under `<data_dir>/published/`.

`write_stored` keeps a copy when a dataset is published; `load_catalog` reads every copy at
start-up and turns them into `DatasetSpec`s next to the built-in datasets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from schema.city import builtin_specs
from schema.datasets import Catalog
from schema.manifest import Manifest, ManifestError, Problem
from schema.manifest_names import catalog_problems
from schema.manifest_reading import parse_manifest
from schema.published_tables import spec_of_manifest

PUBLISHED_DIR = "published"


def published_dir(data_dir: Path) -> Path:
    """Where the normalised manifests of published datasets live."""
    return data_dir / PUBLISHED_DIR


def _broken(path: Path) -> str:
    return (
        f"published manifest {path} is broken; citygraph cannot start with it. Publish the dataset "
        "again (citygraph import manifest ...) or remove the file"
    )


def read_stored(path: Path) -> Manifest:
    """A stored manifest, or ManifestError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(
            path, [Problem("", f"not readable JSON: {exc}")], heading=_broken(path)
        ) from exc
    if not isinstance(data, dict):
        raise ManifestError(path, [Problem("", "must hold a JSON object")], heading=_broken(path))
    try:
        manifest = parse_manifest(data, base_dir=path.parent, source=path, stored=True)
    except ManifestError as exc:
        raise ManifestError(path, exc.problems, heading=_broken(path)) from exc
    if manifest.name != path.stem:
        raise ManifestError(
            path,
            [Problem("dataset.name", f"{manifest.name!r} differs from the file name")],
            heading=_broken(path),
        )
    return manifest


def stored_paths(data_dir: Path) -> list[Path]:
    folder = published_dir(data_dir)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def write_stored(data_dir: Path, manifest: Manifest) -> Path:
    folder = published_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{manifest.name}.json"
    temporary = folder / f".{manifest.name}.json.tmp"
    temporary.write_text(
        json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    os.replace(temporary, path)  # a reader (the next start) never sees half a file
    return path


def load_catalog(data_dir: Path) -> Catalog:
    """Built-in datasets, and every manifest published into `data_dir` (see `citygraph import manifest`)."""
    specs = builtin_specs()
    for path in stored_paths(data_dir):
        manifest = read_stored(path)
        problems = catalog_problems(manifest, specs)
        if problems:
            raise ManifestError(path, problems, heading=_broken(path))
        specs.append(spec_of_manifest(manifest))
    return Catalog(specs)
