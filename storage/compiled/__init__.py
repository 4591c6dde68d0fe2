"""SQL that builds a GraphQL answer's JSON in the database: one statement per root field.

`shapes` holds what the statement must build, in storage's terms (tables, columns, page queries);
`dialect` the few expressions PostgreSQL and SQLite spell differently; `emit` the statement itself.
The schema side (schema.compiled) decides what compiles and binds the arguments; nothing here
knows about GraphQL beyond the JSON keys it is told to write.
"""
