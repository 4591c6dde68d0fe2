"""dataset loads: where each dataset's rows came from (storage.loads), in every database with datasets

Until release 0.2 the table was made by the first load recorded; it is the `loads` branch now, so
that adopting a database made then recognises it too.

Revision ID: ed82579bb743
Revises:
Create Date: 2026-12-06 02:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ed82579bb743"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("loads",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citygraph_load",
        sa.Column("dataset", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("dataset"),
    )


def downgrade() -> None:
    op.drop_table("citygraph_load")
