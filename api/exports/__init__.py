"""CSV and GeoJSON exports of any list result, through the GraphQL schema itself (docs/exports.md).

`GET /export/{dataset}.csv|.geojson?where=&orderBy=` builds the query of a dataset's readable
columns; `POST /export?format=` takes a GraphQL request whose result holds one connection. Both
then run the same plan: the connection field is rewritten to walk its keyset pages, and every page
is executed by the gateway schema with the caller's context. Validation, limits and access rules
are therefore GraphQL's own; an export never has a rule of its own to get wrong.

The first page runs before the response starts, so that any error (a restricted dataset or field,
a bad filter, too many rows) is an error response without data. A failure on a later page can no
longer change the status: the stream is cut short, which HTTP clients report as an incomplete body.
Every export request leaves one access record; one that read restricted data is sent only once
its record is committed.

    endpoints   the routes, and the order of things in one export
    plan        the client's document rewritten to page its one connection; a dataset's query
    selections  where the connection is in a document, and which leaves become columns
    walk        the pages, executed one after the other
    formats     CSV and GeoJSON, written page by page
    recording   the request's access record
    refusals    errors without data, and their HTTP status
"""

from api.exports.endpoints import Exports

__all__ = ["Exports"]
