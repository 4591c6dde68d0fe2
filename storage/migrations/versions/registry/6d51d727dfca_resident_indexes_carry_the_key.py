"""resident district and quartier indexes carry the key

Pages of a district's (or quartier's) residents run in key order: with the key in the index they
are a range of it instead of a sort of every resident of the district (docs/performance.md).
The composite index serves filters on the code alone as well, so it replaces the old one.

Revision ID: 6d51d727dfca
Revises: bbfbc7aedc2a
Create Date: 2026-12-06 05:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "6d51d727dfca"
down_revision: str | Sequence[str] | None = "bbfbc7aedc2a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_resident_district_code_id", "resident", ["district_code", "id"])
    op.create_index("ix_resident_quartier_code_id", "resident", ["quartier_code", "id"])
    op.drop_index("ix_resident_district_code", table_name="resident")
    op.drop_index("ix_resident_quartier_code", table_name="resident")


def downgrade() -> None:
    op.create_index("ix_resident_quartier_code", "resident", ["quartier_code"])
    op.create_index("ix_resident_district_code", "resident", ["district_code"])
    op.drop_index("ix_resident_quartier_code_id", table_name="resident")
    op.drop_index("ix_resident_district_code_id", table_name="resident")
