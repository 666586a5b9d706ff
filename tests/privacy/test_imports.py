"""Bulk imports (SPEC section 11: demo data writes through ``privacy/``).

A batch of customers, addresses, orders with their items, consents and usage events is
validated row by row with the single-row use cases' validators (normalised as they store
values), references must name rows of the batch, and only then is each table inserted. Bad
input is an `InputError` naming the row's field, and nothing is written. Both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from privacy.errors import CardDataRejected, InputError
from privacy.imports import Batch, existing, import_batch, new_ids
from store import models
from store.models import table_of

AT = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def batch(session: Session) -> Batch:
    """One Iranian customer with an address, an order of two items, a consent and an event."""
    [customer] = new_ids(session, table_of(models.Customer), 1)
    [address] = new_ids(session, table_of(models.Address), 1)
    [order] = new_ids(session, table_of(models.Order), 1)
    items = new_ids(session, table_of(models.OrderItem), 2)
    [consent] = new_ids(session, table_of(models.Consent), 1)
    [event] = new_ids(session, table_of(models.UsageEvent), 1)
    return Batch(
        customers=[
            {
                "id": customer,
                "subject": f"imported-{customer}",
                "status": "ACTIVE",
                "country": "ir",
                "preferred_language": "FA_ir",
                "created_at": AT,
                "updated_at": AT,
                "first_name": "  سارا ",
                "last_name": "رضایی",
                "date_of_birth": dt.date(1990, 5, 17),
                "email": "sara.rezaei@EXAMPLE.com",
                "mobile_phone": "۰۹۱۲ ۳۴۵ ۶۷۸۹",
                "landline_phone": None,
            }
        ],
        addresses=[
            {
                "id": address,
                "customer_id": customer,
                "label": "HOME",
                "line1": "خیابان ولیعصر، پلاک ۱۲",
                "city": "تهران",
                "postal_code": "1234-567890",
                "is_default": True,
            }
        ],
        orders=[
            {
                "id": order,
                "customer_id": customer,
                "number": f"SO-2026-{order:06d}",
                "status": "PAID",
                "placed_at": AT,
                "total_amount": 2 * 150 + 1 * 40,
                "currency": "irr",
                "shipping_address_id": address,
                "payment_reference": "PAY-1",
            }
        ],
        order_items=[
            {
                "id": items[0],
                "order_id": order,
                "sku": "PV-1",
                "name": "Panel",
                "quantity": 2,
                "unit_price": 150,
            },
            {
                "id": items[1],
                "order_id": order,
                "sku": "CB-1",
                "name": "Cable",
                "quantity": 1,
                "unit_price": 40,
            },
        ],
        consents=[
            {
                "id": consent,
                "customer_id": customer,
                "purpose": "marketing",
                "status": "GRANTED",
                "recorded_at": AT,
                "source": "WEB",
                "policy_version": "2026-02",
                "notice_version": "2026-02",
                "language": "fa-ir",
            }
        ],
        usage_events=[
            {
                "id": event,
                "customer_id": customer,
                "occurred_at": AT,
                "kind": "viewed_profile",
                "detail": None,
            }
        ],
    )


def counts(session: Session) -> list[int]:
    tables = (models.Customer, models.Address, models.Order, models.OrderItem, models.Consent)
    return [session.scalar(select(func.count()).select_from(t)) or 0 for t in tables]


def test_a_batch_is_validated_normalised_and_inserted(session: Session) -> None:
    # when a batch is imported
    with session.begin():
        imported = import_batch(session, batch(session))
    # then its rows are stored as the single-row use cases store them
    [customer] = session.scalars(select(models.Customer)).all()
    assert customer.country == "IR"
    assert customer.first_name == "سارا"
    assert customer.email == "sara.rezaei@example.com"
    assert customer.mobile_phone == "+989123456789"
    assert customer.preferred_language == "fa-IR"
    [address] = session.scalars(select(models.Address)).all()
    assert (address.country, address.postal_code, address.label) == ("IR", "1234567890", "HOME")
    [order] = session.scalars(select(models.Order)).all()
    assert (order.currency, order.total_amount, order.status) == ("IRR", 340, "PAID")
    [consent] = session.scalars(select(models.Consent)).all()
    assert consent.language == "fa-IR"
    assert counts(session) == [1, 1, 1, 2, 1]
    assert imported.customers[0]["email"] == "sara.rezaei@example.com"


def changed(rows: list[dict[str, Any]], **values: Any) -> list[dict[str, Any]]:
    return [{**rows[0], **values}, *rows[1:]]


@pytest.mark.parametrize(
    ("table", "values", "field"),
    [
        ("customers", {"email": "not an email"}, "customers.0.email"),
        ("customers", {"mobile_phone": "12"}, "customers.0.mobilePhone"),
        ("customers", {"country": "XX"}, "customers.0.country"),
        ("customers", {"nickname": "S"}, "customers.0.nickname"),
        ("addresses", {"postal_code": "123"}, "addresses.0.postalCode"),
        ("addresses", {"customer_id": 10**9}, "addresses.0.customer_id"),
        ("addresses", {"label": "CASTLE"}, "addresses.0.label"),
        ("orders", {"total_amount": 1}, "orders.0.totalAmount"),
        ("orders", {"shipping_address_id": 10**9}, "orders.0.shippingAddressId"),
        ("orders", {"status": "LOST"}, "orders.0.status"),
        ("orders", {"currency": "XYZ"}, "orders.0.currency"),
        ("order_items", {"quantity": 0}, "orderItems.0.quantity"),
        ("order_items", {"order_id": 10**9}, "orderItems.0.orderId"),
        ("consents", {"purpose": "gossip"}, "consents.0.purpose"),
        ("consents", {"recipient": "demo-courier"}, "consents.0.recipient"),
        ("consents", {"language": "not a tag!"}, "consents.0.language"),
        ("usage_events", {"kind": "viewed profile"}, "usageEvents.0.kind"),
        ("usage_events", {"id": None}, "usageEvents.0.id"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(
    session: Session, table: str, values: dict[str, Any], field: str
) -> None:
    given = batch(session)
    setattr(given, table, changed(getattr(given, table), **values))
    with pytest.raises(InputError) as refused:
        import_batch(session, given)
    assert refused.value.field == field
    # (validated before the first insert: not even the transaction holds a row)
    assert counts(session) == [0, 0, 0, 0, 0]


def test_a_repeated_id_is_refused(session: Session) -> None:
    given = batch(session)
    first, second = given.order_items
    given.order_items = [first, {**second, "id": first["id"]}]
    with pytest.raises(InputError) as refused:
        import_batch(session, given)
    assert refused.value.field == "order_item.id"
    assert counts(session) == [0, 0, 0, 0, 0]


def test_card_data_is_refused_before_anything_is_written(session: Session) -> None:
    given = batch(session)
    given.order_items = changed(given.order_items, name="card 4111 1111 1111 1111")
    with pytest.raises(CardDataRejected):
        import_batch(session, given)
    assert counts(session) == [0, 0, 0, 0, 0]


def test_new_ids_and_existing_values_avoid_what_is_stored(session: Session) -> None:
    with session.begin():
        first = batch(session)
        import_batch(session, first)
    with session.begin():
        second = batch(session)
    assert second.customers[0]["id"] > first.customers[0]["id"]
    emails = existing(
        session,
        table_of(models.Customer).c.email,
        ["sara.rezaei@example.com", "someone@example.org"],
    )
    assert emails == {"sara.rezaei@example.com"}
