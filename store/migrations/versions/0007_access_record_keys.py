"""access record keys: each request's record carries a key made before the write

A group commit whose COMMIT reply was lost cannot tell whether its records were written; the
key lets it look them up instead of writing them again, and the unique index refuses a
second record with the same key whatever happens. Records written before this revision have
none.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_record") as table:
        table.add_column(
            sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        table.create_index("ix_access_record_request_key", ["request_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("access_record") as table:
        table.drop_index("ix_access_record_request_key")
        table.drop_column("request_key")
