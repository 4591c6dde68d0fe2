"""The committed SDL of the built-in schema: `python -m schema.sdl > schema/schema.graphql`.

`schema/schema.graphql` is the contract other teams read; a test fails when the code and the file
disagree, so a schema change is always a reviewed diff of that file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from schema.city import builtin_specs
from schema.datasets import Catalog
from schema.gateway import build_gateway_schema

COMMITTED = Path(__file__).with_name("schema.graphql")


def builtin_sdl() -> str:
    """SDL of the gateway schema over the built-in datasets (no published manifests)."""
    return build_gateway_schema(Catalog(builtin_specs())).as_str() + "\n"


if __name__ == "__main__":
    sys.stdout.write(builtin_sdl())
