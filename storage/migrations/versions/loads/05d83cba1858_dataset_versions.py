"""dataset versions and citations: storage.versions, storage.citations (release 0.3)

Revision ID: 05d83cba1858
Revises: ed82579bb743
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "05d83cba1858"
down_revision: str | Sequence[str] | None = "ed82579bb743"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citygraph_citation",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("operation_name", sa.String(), nullable=True),
        sa.Column("variables", sa.Text(), nullable=True),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.Column("answer_sha256", sa.String(), nullable=True),
        sa.Column("export_format", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "citygraph_version",
        sa.Column("dataset", sa.String(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("dataset", "number"),
    )


def downgrade() -> None:
    op.drop_table("citygraph_version")
    op.drop_table("citygraph_citation")
