"""`citygraph schema --subgraph NAME` prints a department's subgraph; an unknown name says which exist;
`citygraph supergraph` composes the city's own graph, published datasets included."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "street-trees" / "manifest.toml"

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


@pytest.mark.usefixtures("node_tools")
def test_supergraph_composes_the_citys_published_datasets_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYGRAPH_DATA_DIR", str(tmp_path / "city"))
    published = runner.invoke(app, ["import", "manifest", str(EXAMPLE)])
    assert published.exit_code == 0, published.output
    out = tmp_path / "supergraph.graphql"
    result = runner.invoke(
        app, ["supergraph", "--output", str(out), "--urls", "http://127.0.0.1:9/{name}"]
    )
    assert result.exit_code == 0, result.output
    sdl = out.read_text()
    # the published dataset is routed to its department's subgraph, beside the built-in ones
    assert (
        'ENVIRONMENT @join__graph(name: "environment", url: "http://127.0.0.1:9/environment")'
        in sdl
    )
    assert "streetTrees(" in sdl
    assert "type StreetTree" in sdl
    assert "bikeStations(" in sdl
    committed = (Path(__file__).parents[2] / "supergraph.graphql").read_text()
    assert "streetTrees(" not in committed  # only the built-in datasets are committed


def test_supergraph_without_node_tools_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYGRAPH_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("api.cli.federation.NODE_TOOLS", tmp_path / "nowhere")
    result = runner.invoke(app, ["supergraph", "--output", str(tmp_path / "s.graphql")])
    assert result.exit_code == 2
    assert "npm ci" in result.output
    assert not (tmp_path / "s.graphql").exists()
