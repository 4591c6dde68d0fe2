"""Alembic migrations: the only way a table is made, one branch per department plus three services.

Each department may live in its own database, so each has its own branch (`territory@head`,
`registry@head`, ...), and so do the OAuth clients (`auth`), the access log (`audit`) and the
dataset loads table that every database holding datasets has (`loads`). Upgrading a database
applies only the branches it hosts, and its `alembic_version` table lists their heads.
storage.migrate applies them (under storage.schema_lock) and storage.adopt recognises tables made
before migrations existed.
"""
