"""history of the mobility datasets: every row image with the versions it was valid in (storage.versions)

Revision ID: bcc3b8e319f9
Revises: 1c635abbdb7f
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bcc3b8e319f9"
down_revision: str | Sequence[str] | None = "1c635abbdb7f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bike_station_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "name", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column("capacity", sa.Integer(), nullable=False),
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
        "ix_bike_station_history_key", "bike_station_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_bike_station_history_valid",
        "bike_station_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "transit_route_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "short_name",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "long_name",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("route_type", sa.Integer(), nullable=False),
        sa.Column(
            "color", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_transit_route_history_key", "transit_route_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_transit_route_history_valid",
        "transit_route_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "transit_stop_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "code", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=True
        ),
        sa.Column(
            "name", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
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
        "ix_transit_stop_history_key", "transit_stop_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_transit_stop_history_valid",
        "transit_stop_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "transit_stop_time_history",
        sa.Column(
            "trip_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("stop_sequence", sa.Integer(), nullable=False),
        sa.Column(
            "stop_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "arrival_time",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "departure_time",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_transit_stop_time_history_key",
        "transit_stop_time_history",
        ["trip_id", "stop_sequence", "cg_valid_to"],
        unique=False,
    )
    op.create_index(
        "ix_transit_stop_time_history_valid",
        "transit_stop_time_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )
    op.create_table(
        "transit_trip_history",
        sa.Column(
            "id", sa.String().with_variant(sa.String(collation="C"), "postgresql"), nullable=False
        ),
        sa.Column(
            "route_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "service_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "headsign",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("direction_id", sa.Integer(), nullable=True),
        sa.Column(
            "shape_id",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("cg_valid_from", sa.Integer(), nullable=False),
        sa.Column("cg_valid_to", sa.Integer(), nullable=True),
    )
    op.create_index(
        "ix_transit_trip_history_key", "transit_trip_history", ["id", "cg_valid_to"], unique=False
    )
    op.create_index(
        "ix_transit_trip_history_valid",
        "transit_trip_history",
        ["cg_valid_from", "cg_valid_to"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_transit_trip_history_valid", table_name="transit_trip_history")
    op.drop_index("ix_transit_trip_history_key", table_name="transit_trip_history")
    op.drop_table("transit_trip_history")
    op.drop_index("ix_transit_stop_time_history_valid", table_name="transit_stop_time_history")
    op.drop_index("ix_transit_stop_time_history_key", table_name="transit_stop_time_history")
    op.drop_table("transit_stop_time_history")
    op.drop_index("ix_transit_stop_history_valid", table_name="transit_stop_history")
    op.drop_index("ix_transit_stop_history_key", table_name="transit_stop_history")
    op.drop_table("transit_stop_history")
    op.drop_index("ix_transit_route_history_valid", table_name="transit_route_history")
    op.drop_index("ix_transit_route_history_key", table_name="transit_route_history")
    op.drop_table("transit_route_history")
    op.drop_index("ix_bike_station_history_valid", table_name="bike_station_history")
    op.drop_index("ix_bike_station_history_key", table_name="bike_station_history")
    op.drop_table("bike_station_history")
