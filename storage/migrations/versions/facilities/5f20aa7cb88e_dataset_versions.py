"""history of the facilities datasets: every row image with the versions it was valid in (storage.versions)

Revision ID: 5f20aa7cb88e
Revises: 6c6bfe9c784d
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5f20aa7cb88e"
down_revision: str | Sequence[str] | None = "6c6bfe9c784d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "public_toilet_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "kind", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "status",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "address",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "hours", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column("wheelchair_accessible", sa.Boolean(), nullable=True),
        sa.Column("baby_changing", sa.Boolean(), nullable=True),
        sa.Column(
            "url", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column(
            "district_code",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_public_toilet_history_key", "public_toilet_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_public_toilet_history_valid",
        "public_toilet_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_public_toilet_history_valid", table_name="public_toilet_history")
    op.drop_index("ix_public_toilet_history_key", table_name="public_toilet_history")
    op.drop_table("public_toilet_history")
