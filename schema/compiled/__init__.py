"""The compiled path: a root field answered by one SQL statement that builds its JSON.

    planner   (document, operation, directive variables, principal) -> Plan, cached (LRU)
    binder    Plan + the request's arguments -> storage.compiled.shapes, checked by the
              functions today's resolvers use (same errors: a field that would fail falls back)
    executor  graphql-core's executor with root fields answered from the database, the JSON
              spliced into the response as it came (orjson.Fragment)

Whatever the planner does not know (a field, an argument, a restricted mark, a float cursor on PostgreSQL) keeps
that root field on today's path, field by field: the compiler never causes an error. docs/compiled.md
says what compiles.
"""
