"""order assignments and time bounds (SPEC section 13)

Orders are assigned to partners (``order_assignment``); a partner's ``access`` says whether it
sees only its assigned orders (``assigned``, the default for partners registered from now on)
or every customer who consented to share with it (``consented``, the v4 rule). Partners
registered before this revision keep ``consented``: they have no assignments yet, and marking
them ``assigned`` would hide every customer from them at once; ``steward partners add
CLIENT_ID --access assigned`` moves one over. ``partner.until`` bounds a registration in time,
``consent.valid_until`` a consent, and ``customer_order.left_fulfillment_at`` records when an
order left PAID and SHIPPED (assignments end some days later); ``access_record.order_ids``
names the assigned orders a partner's access was for. Orders already INSTALLED or
CANCELLED left fulfillment at a time not recorded: their placing time stands for it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unassigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["customer_order.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_order_assignment_order", "order_assignment", ["order_id", "partner"])
    op.create_index("ix_order_assignment_partner", "order_assignment", ["partner", "order_id"])
    with op.batch_alter_table("partner") as table:
        table.add_column(
            sa.Column(
                "access",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="consented",
            )
        )
        table.add_column(sa.Column("until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("partner") as table:
        table.alter_column("access", server_default="assigned")
    with op.batch_alter_table("consent") as table:
        table.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("customer_order") as table:
        table.add_column(
            sa.Column("left_fulfillment_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("access_record") as table:
        table.add_column(sa.Column("order_ids", sa.JSON(), nullable=True))
    order = sa.table(
        "customer_order",
        sa.column("status", sa.String),
        sa.column("placed_at", sa.DateTime(timezone=True)),
        sa.column("left_fulfillment_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        order.update()
        .where(order.c.status.in_(("INSTALLED", "CANCELLED")))
        .values(left_fulfillment_at=order.c.placed_at)
    )


def downgrade() -> None:
    with op.batch_alter_table("access_record") as table:
        table.drop_column("order_ids")
    with op.batch_alter_table("customer_order") as table:
        table.drop_column("left_fulfillment_at")
    with op.batch_alter_table("consent") as table:
        table.drop_column("valid_until")
    with op.batch_alter_table("partner") as table:
        table.drop_column("until")
        table.drop_column("access")
    op.drop_index("ix_order_assignment_partner", table_name="order_assignment")
    op.drop_index("ix_order_assignment_order", table_name="order_assignment")
    op.drop_table("order_assignment")
