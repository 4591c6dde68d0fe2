"""Validation against the official DCAT-AP 3.0.1 SHACL shapes, as harvesters validate catalogs.

The shapes file lives with the real datasets (CITYGRAPH_SHARED_DATA/dcat-ap, SOURCES.md entry 8):
tests that call `shacl_results` take the `shared_data` fixture, so they skip without it and run in
CI. pySHACL runs without inference, as the portals' validators do.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyshacl
from rdflib import Graph
from rdflib.namespace import SH

SHAPES = Path("dcat-ap") / "dcat-ap-3.0.1-SHACL.ttl"


@lru_cache(maxsize=2)
def shapes(shared_data: Path) -> Graph:
    return Graph().parse(shared_data / SHAPES, format="turtle")


def shacl_results(graph: Graph, shared_data: Path) -> list[str]:
    """Every validation result (violations, warnings, infos), one readable line each."""
    _conforms, report, _text = pyshacl.validate(
        graph, shacl_graph=shapes(shared_data), inference="none", allow_warnings=False
    )
    assert isinstance(report, Graph)
    return sorted(
        f"{report.value(r, SH.focusNode)} {report.value(r, SH.resultPath)}: "
        f"{report.value(r, SH.resultMessage)}"
        for r in report.subjects(SH.resultSeverity, None)
    )
