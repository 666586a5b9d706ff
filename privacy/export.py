"""The right of access: everything Steward holds about a customer, as one JSON object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy.catalog import DATA_TYPES, Kind, rule_for
from store import models
from store.ids import to_global_id


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


def _convert(type_name: str, column: str, kind: Kind) -> Callable[[Any], Any]:
    """How a stored field of ``kind`` is written: as the API writes it, enums as stored."""
    match kind:
        case Kind.GID:
            return _gid(type_name, column)
        case Kind.DATE | Kind.DATETIME:
            return _at(column)
        case Kind.INT_TEXT:
            return _text(column)
        case _:
            return attrgetter(column)


def _serializer(type_name: str, extra: Serializer | None = None) -> Serializer:
    """Every stored field of the catalog's ``type_name`` (an expression such as ``ageBand`` is
    derived, not held), then ``extra``: what Steward holds that the API does not serve."""
    fields = {
        each.name: _convert(type_name, each.column, each.kind)
        for each in DATA_TYPES[type_name].fields
        if each.stored and each.column is not None
    }
    return {**fields, **(extra or {})}


CUSTOMER = _serializer(
    "Customer",
    {
        "subject": attrgetter("subject"),
        # null: Steward's own issuer (stored as the empty marker, whatever its public URL)
        "subjectIssuer": lambda row: row.subject_issuer or None,
        "erasedAt": _at("erased_at"),
        "erasureReason": attrgetter("erasure_reason"),
    },
)
ADDRESS = _serializer("Address")
ORDER = _serializer(
    "Order",
    {
        "shippingAddressId": _gid("Address", "shipping_address_id"),
        "leftFulfillmentAt": _at("left_fulfillment_at"),
    },
)
ORDER_ITEM = _serializer("OrderItem")
CONSENT = _serializer("Consent")
USAGE_EVENT = _serializer("UsageEvent")
# Which other customers a record names is theirs, not this customer's: customerIds (a link
# table's, not a stored field) is left out.
ACCESS_RECORD = _serializer("AccessRecord")
# The orders a disclosure was for are written by number (`disclosures`), not as stored ids.
DISCLOSURE = _serializer("Disclosure")

FOLLOWED = (
    "Customer.addresses",
    "Customer.orders",
    "Order.items",
    "Customer.consents",
    "Customer.usageEvents",
    "Customer.accessLog",
    "Customer.disclosures",
    "Disclosure.recipient",
)
"""The object fields the export follows."""

EXPORT_FIELDS = frozenset(
    coordinate
    for coordinate in (
        *(
            f"{type_name}.{key}"
            for type_name, serializer in (
                ("Customer", CUSTOMER),
                ("Address", ADDRESS),
                ("Order", ORDER),
                ("OrderItem", ORDER_ITEM),
                ("Consent", CONSENT),
                ("UsageEvent", USAGE_EVENT),
                ("AccessRecord", ACCESS_RECORD),
                ("Disclosure", DISCLOSURE),
            )
            for key in serializer
        ),
        "Disclosure.orders",
        *(f"Partner.{each.name}" for each in DATA_TYPES["Partner"].fields),
        *FOLLOWED,
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
            **_dump(row, DISCLOSURE),
            "recipient": {"clientId": row.recipient, "name": name},
            "orders": [numbers[order] for order in row.order_ids or () if order in numbers],
        }
        for row, name in rows
    ]


def _of(session: Session, model: Any, pk: int | None, *order_by: Any) -> Sequence[Any]:
    return session.scalars(select(model).where(model.customer_id == pk).order_by(*order_by)).all()
