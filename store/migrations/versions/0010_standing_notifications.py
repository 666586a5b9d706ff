"""standing notifications: PostgreSQL announces each committed change to a token's standing

A token's standing (revoked? its client removed? a partner, trusted documents only? whose
customer?) is read from ``revoked_token``, ``oauth_client``, ``partner``,
``trusted_documents_only`` and the subject columns of ``customer``. On PostgreSQL, a statement
that changes any of them notifies channel ``steward_standing`` (`store.notifications`): every
replica then drops the standings it kept, from the commit on. SQLite has no notifications; its
standing is read on every request (`store.loop_reads`). Nothing changes on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "steward_standing"
FUNCTION = "steward_standing_changed"
EVENTS = {
    "revoked_token": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "oauth_client": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "partner": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "trusted_documents_only": "INSERT OR UPDATE OR DELETE OR TRUNCATE",
    "customer": "INSERT OR DELETE OR UPDATE OF subject, subject_issuer OR TRUNCATE",
}
"""What changes a standing, by table (a customer's other columns do not)."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$"""
    )
    for table, events in EVENTS.items():
        op.execute(
            f"CREATE TRIGGER {FUNCTION} AFTER {events} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in EVENTS:
        op.execute(f"DROP TRIGGER {FUNCTION} ON {table}")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
