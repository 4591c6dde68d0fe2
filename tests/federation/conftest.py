"""The distributed city, started once per test module (tests/federation/launch.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.federation.launch import Distributed, run_distributed


@pytest.fixture(scope="module")
def distributed(
    node_tools: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Distributed]:
    """citygraph, its subgraphs and Hive Gateway, all on loopback, over the fixture city."""
    with run_distributed(tmp_path_factory.mktemp("distributed"), node_tools) as city:
        yield city
