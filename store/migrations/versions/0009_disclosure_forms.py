"""disclosure forms: an access record names the form each field was disclosed in

Graduated disclosure (SPEC section 13) discloses some fields in a form (partial, generalised,
pseudonym) rather than as they are; ``access_record.forms`` maps each such field to its form,
so that ``me { disclosures }`` tells a customer which form a partner received. Records written
before this revision disclosed no forms: ``{}``.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_record") as table:
        table.add_column(sa.Column("forms", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("access_record") as table:
        table.drop_column("forms")
