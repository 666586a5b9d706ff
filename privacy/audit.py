"""The audit trail's write: one access record per request that discloses customer data.

A record says who asked (``sub`` and client), under which purpose and legal reference, in which
operation, about which customers, and which fields — never the values. It is written in the
request's own transaction, before the commit, so it is durable before the response leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.orm import Session

from store.models import AccessRecord, AccessRecordCustomer, table_of, utcnow


@dataclass(frozen=True, slots=True)
class Access:
    """What one request disclosed: the content of an access record.

    Attributes:
        subject: the caller's ``sub``.
        client_id: the caller's OAuth client.
        purpose: the declared purpose's id, if any.
        legal_reference: the legal request's reference, under ``legal_order``.
        operation_name: the GraphQL operation's name as the client sent it.
        customer_ids: the customers whose data the response carries.
        fields: schema coordinates, e.g. ``Customer.email``.
        recipient: the client id of the partner (a third party) that received the data, when
            the client is one: the record is then a disclosure to the customers it names.
    """

    subject: str
    client_id: str
    purpose: str | None
    legal_reference: str | None
    operation_name: str | None
    customer_ids: tuple[int, ...]
    fields: tuple[str, ...]
    recipient: str | None = None


def write(session: Session, access: Access) -> int:
    """Insert the access record and its per-customer index rows; returns the record's id.

    Two Core statements, not the ORM's unit of work: nothing reads the record back in the
    request that writes it, and this runs on every request that discloses customer data.
    """
    record = table_of(AccessRecord)
    record_id: int = session.execute(
        insert(record)
        .values(
            occurred_at=utcnow(),
            client_id=access.client_id[:255],
            subject=access.subject[:255],
            purpose=access.purpose,
            legal_reference=access.legal_reference,
            operation_name=None if access.operation_name is None else access.operation_name[:255],
            recipient=access.recipient,
            customer_ids=list(access.customer_ids),
            fields=list(access.fields),
        )
        .returning(record.c.id)
    ).scalar_one()
    if access.customer_ids:
        session.execute(
            insert(table_of(AccessRecordCustomer)),
            [{"access_record_id": record_id, "customer_id": pk} for pk in access.customer_ids],
        )
    return record_id
