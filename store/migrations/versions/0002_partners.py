"""partners, consent recipients, disclosures, trusted documents

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 20:18:05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("trusted_documents_only", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "trusted_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("operation_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id", "sha256"),
    )
    with op.batch_alter_table("trusted_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trusted_document_sha256"), ["sha256"], unique=False)

    with op.batch_alter_table("access_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_access_record_recipient"), ["recipient"], unique=False)

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )


def downgrade() -> None:

    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_column("recipient")

    with op.batch_alter_table("access_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_record_recipient"))
        batch_op.drop_column("recipient")

    with op.batch_alter_table("trusted_document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_document_sha256"))

    op.drop_table("trusted_document")
    op.drop_table("partner")
