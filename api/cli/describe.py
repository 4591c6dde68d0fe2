"""`citygraph catalog`: the DCAT-AP catalog in one of its RDF forms."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import app, console, load_settings


@app.command()
def catalog(
    form: Annotated[
        str, typer.Option("--format", help="jsonld, ttl, rdf (RDF/XML) or nt (N-Triples).")
    ] = "jsonld",
) -> None:
    """Print the whole DCAT-AP catalog (the server adds when each dataset was last loaded)."""
    from api.catalog import catalog_meta
    from api.rdf import EXTENSIONS, serialize
    from schema.dcat_graph import catalog_graph
    from schema.publishing import load_catalog

    if form not in EXTENSIONS:
        console.print(f"[red]error:[/red] --format is one of {', '.join(EXTENSIONS)}")
        raise typer.Exit(2)
    settings = load_settings()
    meta = catalog_meta(settings)
    graph = catalog_graph(meta, load_catalog(settings.data_dir).datasets, {})
    typer.echo(serialize(graph, EXTENSIONS[form], root=str(meta.iri)).decode())
