"""access log: audit_access rows found by a (chain_id, seq) index instead of a primary key

A restricted read of 100 residents commits 100 access rows; the unique (chain_id, seq, kind,
value) key gave each a wide entry of its own (random within the chain's range), which cost the
commit more than the rows themselves. A record's rows now share one deduplicated entry of a
(chain_id, seq) index, which is all verification and the joins need; a duplicated row is still
found, by verification (it counts the rows against the signed body).

SQLite cannot drop a primary key: the table is copied into one without it, and its append-only
triggers, which go with the old table, are made again.

Revision ID: d8e28e510ea4
Revises: a069cb500a47
Create Date: 2026-12-06 22:13:11.824268
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "d8e28e510ea4"
down_revision: str | Sequence[str] | None = "a069cb500a47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "chain_id VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, kind VARCHAR(16) NOT NULL, "
    "value VARCHAR(255) NOT NULL"
)
# copied rather than imported: a migration must not change when the code does
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_access_no_{op_.lower()} BEFORE {op_} ON audit_access "
    f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for op_ in ("UPDATE", "DELETE")
]


def _sqlite_copy(key: str) -> None:
    """audit_access copied into a table with `key` (SQL, may be empty), indexes and triggers."""
    op.execute(f"CREATE TABLE _audit_access_copy ({COLUMNS}{key})")
    op.execute(
        "INSERT INTO _audit_access_copy (chain_id, seq, kind, value) "
        "SELECT chain_id, seq, kind, value FROM audit_access"
    )
    op.execute("DROP TABLE audit_access")  # its indexes and triggers go with it
    op.execute("ALTER TABLE _audit_access_copy RENAME TO audit_access")
    op.execute("CREATE INDEX ix_audit_access_kind_value ON audit_access (kind, value)")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy("")
    else:
        op.drop_constraint("audit_access_pkey", "audit_access", type_="primary")
    op.create_index("ix_audit_access_chain_seq", "audit_access", ["chain_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_access_chain_seq", table_name="audit_access")
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_copy(", PRIMARY KEY (chain_id, seq, kind, value)")
    else:
        op.create_primary_key(
            "audit_access_pkey", "audit_access", ["chain_id", "seq", "kind", "value"]
        )
