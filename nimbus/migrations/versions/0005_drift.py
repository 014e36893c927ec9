"""Drift: what the reconciler finds where the rows and the real objects disagree
(``nimbus.db_drift``).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("repaired", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "host", "first_seen"),
    )
    with op.batch_alter_table("drift", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_drift_resolved_at"), ["resolved_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_resolved_at"))
        batch_op.drop_index(batch_op.f("ix_drift_kind"))

    op.drop_table("drift")
