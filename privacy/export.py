"""The right of access: everything Steward holds about a customer, as one JSON object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy.fields import rule_for
from store import models
from store.ids import to_global_id


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _iso(value: dt.date | dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _gid(type_name: str, attribute: str = "id") -> Callable[[Any], str | None]:
    get = attrgetter(attribute)

    def convert(row: Any) -> str | None:
        pk = get(row)
        return None if pk is None else to_global_id(type_name, pk)

    return convert


def _at(attribute: str) -> Callable[[Any], str | None]:
    get = attrgetter(attribute)
    return lambda row: _iso(get(row))


def _text(attribute: str) -> Callable[[Any], Any]:
    get = attrgetter(attribute)
    return lambda row: None if get(row) is None else str(get(row))


Serializer = Mapping[str, Callable[[Any], Any]]

CUSTOMER: Serializer = {
    "id": _gid("Customer"),
    "subject": attrgetter("subject"),
    # null: Steward's own issuer (stored as the empty marker, whatever its public URL)
    "subjectIssuer": lambda row: row.subject_issuer or None,
    "status": attrgetter("status"),
    "country": attrgetter("country"),
    "preferredLanguage": attrgetter("preferred_language"),
    "createdAt": _at("created_at"),
    "updatedAt": _at("updated_at"),
    "firstName": attrgetter("first_name"),
    "lastName": attrgetter("last_name"),
    "dateOfBirth": _at("date_of_birth"),
    "email": attrgetter("email"),
    "mobilePhone": attrgetter("mobile_phone"),
    "landlinePhone": attrgetter("landline_phone"),
    "erasedAt": _at("erased_at"),
    "erasureReason": attrgetter("erasure_reason"),
}
ADDRESS: Serializer = {
    "id": _gid("Address"),
    **{
        _camel(name): attrgetter(name)
        for name in (
            "label",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "latitude",
            "longitude",
            "is_default",
        )
    },
}
ORDER: Serializer = {
    "id": _gid("Order"),
    "number": attrgetter("number"),
    "status": attrgetter("status"),
    "placedAt": _at("placed_at"),
    "totalAmount": _text("total_amount"),
    "currency": attrgetter("currency"),
    "shippingAddressId": _gid("Address", "shipping_address_id"),
    "paymentReference": attrgetter("payment_reference"),
    "paymentTrackingCode": attrgetter("payment_tracking_code"),
    "leftFulfillmentAt": _at("left_fulfillment_at"),
}
ORDER_ITEM: Serializer = {
    "sku": attrgetter("sku"),
    "name": attrgetter("name"),
    "quantity": attrgetter("quantity"),
    "unitPrice": _text("unit_price"),
}
CONSENT: Serializer = {
    "id": _gid("Consent"),
    "purpose": attrgetter("purpose"),
    "status": attrgetter("status"),
    "recordedAt": _at("recorded_at"),
    "source": attrgetter("source"),
    "policyVersion": attrgetter("policy_version"),
    "recipient": attrgetter("recipient"),
    "noticeVersion": attrgetter("notice_version"),
    "language": attrgetter("language"),
    "validUntil": _at("valid_until"),
}
USAGE_EVENT: Serializer = {
    "id": _gid("UsageEvent"),
    "occurredAt": _at("occurred_at"),
    "kind": attrgetter("kind"),
    "detail": attrgetter("detail"),
}
# Which other customers a record names is theirs, not this customer's: customerIds is left out.
ACCESS_RECORD: Serializer = {
    "id": _gid("AccessRecord"),
    "occurredAt": _at("occurred_at"),
    "clientId": attrgetter("client_id"),
    "subject": attrgetter("subject"),
    "purpose": attrgetter("purpose"),
    "legalReference": attrgetter("legal_reference"),
    "operationName": attrgetter("operation_name"),
    "recipient": attrgetter("recipient"),
    "fields": attrgetter("fields"),
}

EXPORT_FIELDS = frozenset(
    coordinate
    for coordinate in (
        *(f"Customer.{key}" for key in CUSTOMER),
        *(f"Address.{key}" for key in ADDRESS),
        *(f"Order.{key}" for key in ORDER),
        *(f"OrderItem.{key}" for key in ORDER_ITEM),
        *(f"Consent.{key}" for key in CONSENT),
        *(f"UsageEvent.{key}" for key in USAGE_EVENT),
        *(f"AccessRecord.{key}" for key in ACCESS_RECORD),
        "Disclosure.recipient",
        "Disclosure.purpose",
        "Disclosure.at",
        "Disclosure.fields",
        "Disclosure.orders",
        "Partner.clientId",
        "Partner.name",
        "Customer.addresses",
        "Customer.orders",
        "Customer.consents",
        "Customer.usageEvents",
        "Customer.accessLog",
        "Customer.disclosures",
        "Order.items",
    )
    if rule_for(coordinate) is not None
)
"""The schema coordinates an export discloses (recorded in its access record)."""


def _dump(row: Any, serializer: Serializer) -> dict[str, Any]:
    return {key: convert(row) for key, convert in serializer.items()}


def _all(rows: Sequence[Any], serializer: Serializer) -> list[dict[str, Any]]:
    return [_dump(row, serializer) for row in rows]


def export(session: Session, customer: models.Customer) -> dict[str, Any]:
    """Everything Steward holds about ``customer``, as one JSON object.

    Keys: ``customer``, ``addresses``, ``orders`` (each with its ``items``), ``consents`` (the
    whole ledger), ``usageEvents``, ``accessRecords`` (who saw the customer's data, and why)
    and ``disclosures`` (what partners received, newest first: the recipients of GDPR
    Art. 15).
    """
    pk = customer.id
    orders = session.scalars(
        select(models.Order)
        .where(col(models.Order.customer_id) == pk)
        .order_by(col(models.Order.placed_at), col(models.Order.id))
    ).all()
    items: dict[int | None, list[models.OrderItem]] = {order.id: [] for order in orders}
    for item in session.scalars(
        select(models.OrderItem)
        .where(col(models.OrderItem.order_id).in_(list(items)))
        .order_by(col(models.OrderItem.id))
    ):
        items[item.order_id].append(item)
    access = session.scalars(
        select(models.AccessRecord)
        .join(
            models.AccessRecordCustomer,
            col(models.AccessRecordCustomer.access_record_id) == col(models.AccessRecord.id),
        )
        .where(col(models.AccessRecordCustomer.customer_id) == pk)
        .order_by(col(models.AccessRecord.occurred_at), col(models.AccessRecord.id))
    ).all()
    return {
        "customer": _dump(customer, CUSTOMER),
        "addresses": _all(_of(session, models.Address, pk, models.Address.id), ADDRESS),
        "orders": [
            {**_dump(order, ORDER), "items": _all(items[order.id], ORDER_ITEM)} for order in orders
        ],
        "consents": _all(_of(session, models.Consent, pk, models.Consent.id), CONSENT),
        "usageEvents": _all(
            _of(
                session, models.UsageEvent, pk, models.UsageEvent.occurred_at, models.UsageEvent.id
            ),
            USAGE_EVENT,
        ),
        "accessRecords": _all(access, ACCESS_RECORD),
        "disclosures": disclosures(session, pk),
    }


def disclosures(session: Session, pk: int | None) -> list[dict[str, Any]]:
    """What partners received about the customer ``pk``, newest first."""
    record = models.AccessRecord
    rows = session.execute(
        select(record, col(models.Partner.name))
        .join(
            models.AccessRecordCustomer,
            col(models.AccessRecordCustomer.access_record_id) == col(record.id),
        )
        .outerjoin(models.Partner, col(models.Partner.client_id) == col(record.recipient))
        .where(
            col(models.AccessRecordCustomer.customer_id) == pk, col(record.recipient).is_not(None)
        )
        .order_by(col(record.occurred_at).desc(), col(record.id).desc())
    ).all()
    numbers = dict(
        session.execute(
            select(col(models.Order.id), col(models.Order.number)).where(
                col(models.Order.customer_id) == pk,
                col(models.Order.id).in_(
                    {order for row, _ in rows for order in row.order_ids or ()}
                ),
            )
        ).all()
    )
    return [
        {
            "recipient": {"clientId": row.recipient, "name": name},
            "purpose": row.purpose,
            "at": _iso(row.occurred_at),
            "fields": row.fields,
            "orders": [numbers[order] for order in row.order_ids or () if order in numbers],
        }
        for row, name in rows
    ]


def _of(session: Session, model: Any, pk: int | None, *order_by: Any) -> Sequence[Any]:
    return session.scalars(select(model).where(model.customer_id == pk).order_by(*order_by)).all()
