"""history of the environment datasets: every row image with the versions it was valid in (storage.versions)

Revision ID: 2cb49bab69b1
Revises: 9b8449028973
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "2cb49bab69b1"
down_revision: str | Sequence[str] | None = "9b8449028973"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "air_quality_measurement_history",
        sa.Column(
            "station_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "parameter",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("measured_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column(
            "city", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "country",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column(
            "unit", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_air_quality_measurement_history_key",
        "air_quality_measurement_history",
        ["station_id", "parameter", "measured_at", "cg_valid_to"],
        unique=False,
    )
    op.create_index(
        "ix_air_quality_measurement_history_valid",
        "air_quality_measurement_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "air_quality_station_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
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
        "ix_air_quality_station_history_key",
        "air_quality_station_history",
        ["id", "cg_valid_to"],
        unique=False,
    )
    op.create_index(
        "ix_air_quality_station_history_valid",
        "air_quality_station_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_air_quality_station_history_valid", table_name="air_quality_station_history")
    op.drop_index("ix_air_quality_station_history_key", table_name="air_quality_station_history")
    op.drop_table("air_quality_station_history")
    op.drop_index(
        "ix_air_quality_measurement_history_valid", table_name="air_quality_measurement_history"
    )
    op.drop_index(
        "ix_air_quality_measurement_history_key", table_name="air_quality_measurement_history"
    )
    op.drop_table("air_quality_measurement_history")
