"""sign-in: consent evidence, link codes, trusted-documents-only clients

Consent records gain the evidence of the notice shown (``notice_version``, ``language``);
``link_code`` holds the hashes of one-time codes that link a signed-in person to an existing
customer; ``trusted_documents_only`` marks clients other than partners that may run only
their registered documents (SPEC section 12).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, *, nullable: bool) -> sa.Column[str]:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("consent") as batch_op:
        batch_op.add_column(_text("notice_version", 32, nullable=True))
        batch_op.add_column(_text("language", 35, nullable=True))
    op.create_table(
        "link_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        _text("code_hash", 64, nullable=False),
        _text("created_by", 255, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_link_code_customer_id", "link_code", ["customer_id"])
    op.create_table(
        "trusted_documents_only",
        _text("client_id", 255, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id"),
    )


def downgrade() -> None:
    op.drop_table("trusted_documents_only")
    op.drop_index("ix_link_code_customer_id", table_name="link_code")
    op.drop_table("link_code")
    with op.batch_alter_table("consent") as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("notice_version")
