"""The catalog of a city: built-in datasets plus those published through manifests."""

from __future__ import annotations

from pathlib import Path

from schema.city import builtin_specs
from schema.datasets import Catalog


def load_catalog(data_dir: Path) -> Catalog:
    """Built-in datasets, and every manifest published into `data_dir` (see `citygraph import manifest`)."""
    return Catalog(builtin_specs())
