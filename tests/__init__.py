"""citygraph tests; a package so that `tests.services` and fixture plugins import from the repo root."""
