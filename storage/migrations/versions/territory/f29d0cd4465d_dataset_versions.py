"""history of the territory datasets: every row image with the versions it was valid in (storage.versions)

Revision ID: f29d0cd4465d
Revises: de14d6507a2e
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f29d0cd4465d"
down_revision: str | Sequence[str] | None = "de14d6507a2e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "district_history",
        sa.Column(
            "code", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "label",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("perimeter_m", sa.Float(), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column(
            "geometry",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_district_history_key", "district_history", ["code", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_district_history_valid",
        "district_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "quartier_history",
        sa.Column(
            "code", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "district_code",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("perimeter_m", sa.Float(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column(
            "geometry",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_quartier_history_key", "quartier_history", ["code", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_quartier_history_valid",
        "quartier_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_quartier_history_valid", table_name="quartier_history")
    op.drop_index("ix_quartier_history_key", table_name="quartier_history")
    op.drop_table("quartier_history")
    op.drop_index("ix_district_history_valid", table_name="district_history")
    op.drop_index("ix_district_history_key", table_name="district_history")
    op.drop_table("district_history")
