"""inbox rows are claimed by workers with a lease

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable columns: SQLite adds them in place, no table rebuild
    op.add_column("inbox", sa.Column("worker", sa.String(length=64), nullable=True))
    op.add_column("inbox", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("worker")
