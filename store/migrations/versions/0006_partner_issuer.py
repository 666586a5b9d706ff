"""partners by (issuer, client id)

A partner is a client of one issuer (SPEC section 7, v5): an external provider's token whose
``client_id`` equals a built-in partner's is not that partner. ``partner.issuer`` holds the
built-in issuer's marker (``store.models.BUILTIN_ISSUER``, the empty string) or an external
provider's exact ``iss``.

Existing partners whose client the built-in issuer registered (``oauth_client``) are its.
The others' issuer cannot be known here (the settings are not read): they keep ``NULL``, and
stand for their client id under any issuer, as before, until ``steward partners add``
registers them again with ``--issuer``. Marking them built-in instead would free an external
partner's tokens of its consent rule.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner") as batch_op:
        batch_op.add_column(
            sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
    partner = sa.table("partner", sa.column("client_id", sa.String), sa.column("issuer", sa.String))
    clients = sa.table("oauth_client", sa.column("client_id", sa.String))
    op.execute(
        partner.update()
        .where(partner.c.client_id.in_(sa.select(clients.c.client_id)))
        .values(issuer="")
    )


def downgrade() -> None:
    with op.batch_alter_table("partner") as batch_op:
        batch_op.drop_column("issuer")
