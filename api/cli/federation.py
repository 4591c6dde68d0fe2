"""`citygraph schema | supergraph | subgraph serve`: the SDL, the supergraph, a department's subgraph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.city import ready_to_serve
from api.cli.common import HostOption, PortOption, app, console, load_settings, subgraph_app


@app.command()
def schema(
    subgraph: Annotated[
        str | None, typer.Option(help="Print one department's subgraph SDL instead.")
    ] = None,
) -> None:
    """Print the composed schema's SDL, or one department's Federation v2 subgraph SDL."""
    from schema.gateway import build_gateway_schema
    from schema.publishing import load_catalog

    settings = load_settings()
    catalog = load_catalog(settings.data_dir)
    if subgraph is not None:
        from schema.federation import build_subgraph_schema

        check_department(catalog.departments(), subgraph)
        typer.echo(build_subgraph_schema(catalog, subgraph).as_str())
        return
    typer.echo(build_gateway_schema(catalog).as_str())


NODE_TOOLS = Path(__file__).resolve().parents[2] / "tools" / "node"
"""The npm packages the federation tooling runs on (`npm ci` there installs them)."""


@app.command()
def supergraph(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the supergraph SDL.")
    ] = Path("supergraph.graphql"),
    urls: Annotated[
        str, typer.Option(help="Each subgraph's URL, {name} standing for its department.")
    ] = "http://{name}:8000/graphql",
) -> None:
    """Compose this city's subgraphs into a supergraph for a router, published datasets included.

    The committed supergraph.graphql covers the built-in datasets; a city that publishes its own
    runs this after each publication and gives the router the result. Needs Node.js and
    `npm ci` in tools/node (Apollo's composition library); fails on any composition error.
    """
    import shutil
    import subprocess
    import tempfile

    from schema.federation import write_subgraphs
    from schema.publishing import load_catalog

    node = shutil.which("node")
    script = NODE_TOOLS / "compose-supergraph.mjs"
    if node is None or not (NODE_TOOLS / "node_modules" / "@apollo" / "composition").is_dir():
        console.print(f"[red]composing needs Node.js and `npm ci` in {NODE_TOOLS}[/red]")
        raise typer.Exit(2)
    catalog = load_catalog(load_settings().data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        write_subgraphs(catalog, Path(tmp))
        done = subprocess.run(  # noqa: S603 (our own script, arguments we built)
            [node, str(script), tmp, str(output), urls], capture_output=True, text=True
        )
    if done.returncode != 0:
        console.print(f"[red]composition failed[/red]\n{done.stderr}")
        raise typer.Exit(1)
    console.print(f"{output}: {len(catalog.departments())} subgraphs composed")


def check_department(departments: list[str], name: str) -> None:
    """Exit with the list of subgraphs when `name` is not one of them."""
    if name not in departments:
        console.print(
            f"[red]no subgraph {name!r};[/red] the subgraphs are {', '.join(departments)}"
        )
        raise typer.Exit(2)


@subgraph_app.command("serve")
def subgraphserve_city(
    name: Annotated[str, typer.Argument(help="The department, for example mobility.")],
    port: PortOption = None,
    host: HostOption = None,
) -> None:
    """Serve one department's subgraph at /graphql, for a federation router in front.

    CITYGRAPH_ROUTER_SECRET, when set, restricts introspection and `_service` to requests that
    carry it in the `Citygraph-Router` header (the router's).
    """
    import os

    import uvicorn

    from api.server import settle_heap
    from api.subgraph import create_subgraph_app
    from schema.publishing import load_catalog

    settings = load_settings(port=port, host=host)
    check_department(load_catalog(settings.data_dir).departments(), name)
    ready_to_serve(settings)
    subgraph_server = create_subgraph_app(
        settings, name, router_secret=os.environ.get("CITYGRAPH_ROUTER_SECRET") or None
    )
    settle_heap()  # as a gateway worker does (api.server): no collector pauses over the schema
    console.print(f"subgraph {name} on http://{settings.host}:{settings.port}/graphql")
    uvicorn.run(
        subgraph_server, host=settings.host, port=settings.port, log_level=settings.log_level
    )
