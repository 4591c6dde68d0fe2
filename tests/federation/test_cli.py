"""`citygraph schema --subgraph NAME` prints a department's subgraph; an unknown name says which exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_schema_prints_a_departments_subgraph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYGRAPH_DATA_DIR", str(tmp_path))
    result = runner.invoke(app, ["schema", "--subgraph", "mobility"])
    assert result.exit_code == 0, result.output
    assert 'type District @key(fields: "code")' in result.stdout
    assert "bikeStations(" in result.stdout
    assert "residents(" not in result.stdout


def test_an_unknown_subgraph_is_refused_with_the_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYGRAPH_DATA_DIR", str(tmp_path))
    for command in (["schema", "--subgraph", "police"], ["subgraph", "serve", "police"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "territory" in result.output
