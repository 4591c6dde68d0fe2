"""history of the finance datasets: every row image with the versions it was valid in (storage.versions)

Revision ID: 106543ddd80c
Revises: 413cd4daedab
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "106543ddd80c"
down_revision: str | Sequence[str] | None = "413cd4daedab"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budget_line_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "district_code",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "function",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "nature",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("amount_eur", sa.Integer(), nullable=False),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_budget_line_history_key", "budget_line_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_budget_line_history_valid",
        "budget_line_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_budget_line_history_valid", table_name="budget_line_history")
    op.drop_index("ix_budget_line_history_key", table_name="budget_line_history")
    op.drop_table("budget_line_history")
