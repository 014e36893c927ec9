"""Wider numbers and strings: byte counts past 32 bits, flavor ids and faults of any length.

PostgreSQL's INTEGER has 32 bits (an image or package of 2 GiB overflowed it) and it
keeps a VARCHAR's length (Nova takes flavor ids up to 255 characters; a volume's fault
is an error text of any length). SQLite rebuilds each table.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("flavor_extra_specs", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )

    with op.batch_alter_table("flavor_projects", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )

    with op.batch_alter_table("flavors", schema=None) as batch_op:
        batch_op.alter_column(
            "id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column(
            "size", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=True
        )
        batch_op.alter_column(
            "virtual_size",
            existing_type=sa.INTEGER(),
            type_=sa.BigInteger(),
            existing_nullable=True,
        )

    with op.batch_alter_table("paas_builds", schema=None) as batch_op:
        batch_op.alter_column(
            "droplet_size",
            existing_type=sa.INTEGER(),
            type_=sa.BigInteger(),
            existing_nullable=True,
        )

    with op.batch_alter_table("paas_log_offsets", schema=None) as batch_op:
        batch_op.alter_column(
            "offset", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("paas_packages", schema=None) as batch_op:
        batch_op.alter_column(
            "size", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("server_flavors", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )

    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "old_flavor_id",
            existing_type=sa.VARCHAR(length=64),
            type_=sa.String(length=255),
            existing_nullable=True,
        )

    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.alter_column(
            "fault", existing_type=sa.VARCHAR(length=1024), type_=sa.Text(), existing_nullable=True
        )


def downgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.alter_column(
            "fault", existing_type=sa.Text(), type_=sa.VARCHAR(length=1024), existing_nullable=True
        )

    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.alter_column(
            "old_flavor_id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )

    with op.batch_alter_table("server_flavors", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )

    with op.batch_alter_table("paas_packages", schema=None) as batch_op:
        batch_op.alter_column(
            "size", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("paas_log_offsets", schema=None) as batch_op:
        batch_op.alter_column(
            "offset", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )

    with op.batch_alter_table("paas_builds", schema=None) as batch_op:
        batch_op.alter_column(
            "droplet_size",
            existing_type=sa.BigInteger(),
            type_=sa.INTEGER(),
            existing_nullable=True,
        )

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.alter_column(
            "virtual_size",
            existing_type=sa.BigInteger(),
            type_=sa.INTEGER(),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "size", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=True
        )

    with op.batch_alter_table("flavors", schema=None) as batch_op:
        batch_op.alter_column(
            "id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )

    with op.batch_alter_table("flavor_projects", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )

    with op.batch_alter_table("flavor_extra_specs", schema=None) as batch_op:
        batch_op.alter_column(
            "flavor_id",
            existing_type=sa.String(length=255),
            type_=sa.VARCHAR(length=64),
            existing_nullable=False,
        )
