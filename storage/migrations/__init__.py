"""Alembic migrations, one branch per department (`territory@head`, `registry@head`, ...).

Each department may live in its own database, so each has its own branch: upgrading a database
applies only the branches of the departments it hosts, and its `alembic_version` table lists
their heads.
"""
