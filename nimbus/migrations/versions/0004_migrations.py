"""Migrations: the record of each cold migration and evacuation of a server between hosts
(Nova's ``migrations``), as ``os-migrations`` lists them; whether a host is a network node
(it may hold DHCP servers and routers: every host registered so far is), and whether an
admin forced it down.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("migration_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_compute", sa.String(length=255), nullable=False),
        sa.Column("dest_compute", sa.String(length=255), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("flavor_id", sa.String(length=255), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("uuid"),
    )
    with op.batch_alter_table("migrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migrations_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_migrations_server_id"), ["server_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_migrations_status"), ["status"], unique=False)

    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("network_node", sa.Boolean(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("forced_down", sa.Boolean(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("forced_down")
        batch_op.drop_column("network_node")

    with op.batch_alter_table("migrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migrations_status"))
        batch_op.drop_index(batch_op.f("ix_migrations_server_id"))
        batch_op.drop_index(batch_op.f("ix_migrations_project_id"))

    op.drop_table("migrations")
