"""Placement: hosts' allocation ratios, reserved memory, zone, disabled state and
generation; servers' zone; server groups and their members.

A host's existing row takes Nova's initial defaults (4 vCPUs and 1 MiB of memory placed
for each it has, 512 MiB kept for itself, zone ``nova``) until its worker reports its
own; a server placed already is in ``nova``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("policy", sa.String(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("server_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_server_groups_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "server_group_members",
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["server_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("server_id"),
    )
    with op.batch_alter_table("server_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_server_group_members_group_id"), ["group_id"], unique=False
        )

    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cpu_allocation_ratio", sa.Float(), server_default="4", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ram_allocation_ratio", sa.Float(), server_default="1", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reserved_memory_mib", sa.Integer(), server_default="512", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "availability_zone", sa.String(length=255), server_default="nova", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("availability_zone", sa.String(length=255), nullable=True))
    op.execute("UPDATE servers SET availability_zone = 'nova' WHERE host IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("availability_zone")

    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("generation")
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled")
        batch_op.drop_column("availability_zone")
        batch_op.drop_column("reserved_memory_mib")
        batch_op.drop_column("ram_allocation_ratio")
        batch_op.drop_column("cpu_allocation_ratio")

    with op.batch_alter_table("server_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_group_members_group_id"))

    op.drop_table("server_group_members")
    with op.batch_alter_table("server_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_groups_project_id"))

    op.drop_table("server_groups")
