"""subjects linked by (issuer, subject)

A customer's subject is unique per issuer, not globally, and a legal request remembers its
creator's issuer (SPEC section 7). Existing rows are backfilled with the built-in issuer's
marker (``store.models.BUILTIN_ISSUER``, the empty string): until now only the built-in
issuer's default subjects (a customer's global id) were linked with certainty, and a
migration cannot know the external provider's ``iss`` (the settings are not read here).
Customers meant for an external provider are linked to it again by registering them with
``subjectIssuer``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 left the unique constraint on customer.subject unnamed: PostgreSQL named it itself,
# and SQLite's batch mode names the reflected one by this convention.
_OLD_UNIQUE = {"postgresql": "customer_subject_key"}
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _issuer(name: str) -> sa.Column[str]:
    return sa.Column(
        name, sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False, server_default=""
    )


def _old_unique() -> str:
    return _OLD_UNIQUE.get(op.get_bind().dialect.name, "uq_customer_subject")


def upgrade() -> None:
    with op.batch_alter_table("customer", naming_convention=_CONVENTION) as batch_op:
        batch_op.add_column(_issuer("subject_issuer"))
        batch_op.drop_constraint(_old_unique(), type_="unique")
        batch_op.create_unique_constraint(
            "uq_customer_issuer_subject", ["subject_issuer", "subject"]
        )
    with op.batch_alter_table("legal_request") as batch_op:
        batch_op.add_column(_issuer("created_by_issuer"))


def downgrade() -> None:
    with op.batch_alter_table("legal_request") as batch_op:
        batch_op.drop_column("created_by_issuer")
    with op.batch_alter_table("customer") as batch_op:
        batch_op.drop_constraint("uq_customer_issuer_subject", type_="unique")
        batch_op.drop_column("subject_issuer")
        batch_op.create_unique_constraint(_old_unique(), ["subject"])
