"""Orders: placed for a customer, then moved along their life cycle."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.request import RequestScope
from privacy import validation as v
from privacy.addresses import LINE
from privacy.errors import InputError
from store import models
from store.models import OrderStatus, utcnow

MAX_ITEMS = 100

TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.SHIPPED, OrderStatus.CANCELLED},
    OrderStatus.SHIPPED: {OrderStatus.INSTALLED},
    OrderStatus.INSTALLED: set(),
    OrderStatus.CANCELLED: set(),
}
"""Allowed order status changes; anything else is refused."""

ENDS_FULFILLMENT = frozenset({OrderStatus.INSTALLED, OrderStatus.CANCELLED})
"""The statuses an order leaves fulfillment (PAID, SHIPPED) for, or is cancelled before it;
its partner assignments end ``PARTNER_ASSIGNMENT_DAYS`` later (SPEC section 13)."""


def place_order(
    session: Session,
    customer: models.Customer,
    given: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]],
    shipping_address_id: int | None,
) -> models.Order:
    """Validate and insert an order with its items, PENDING."""
    v.reject_card_data({f"input.items.{i}.name": item["name"] for i, item in enumerate(items)})
    currency = v.currency(given["currency"], field="input.currency")
    if not items:
        raise InputError("input.items", "input.items must hold at least one item")
    if len(items) > MAX_ITEMS:
        raise InputError("input.items", f"input.items may hold at most {MAX_ITEMS} items")
    lines = []
    for i, item in enumerate(items):
        prefix = f"input.items.{i}."
        lines.append(
            models.OrderItem(
                order_id=0,
                sku=v.identifier(item["sku"], field=f"{prefix}sku"),
                name=v.text(item["name"], field=f"{prefix}name", max_length=LINE),
                quantity=v.positive_int(item["quantity"], field=f"{prefix}quantity"),
                unit_price=v.non_negative_int(item["unit_price"], field=f"{prefix}unitPrice"),
            )
        )
    total = sum(line.quantity * line.unit_price for line in lines)
    if total > v.INT64_MAX:
        raise InputError("input.items", "the order total is too large")
    if shipping_address_id is not None and not _address_of(session, customer, shipping_address_id):
        # One answer, and one statement, whether the address does not exist or is another
        # customer's: the caller learns nothing about addresses it was not given.
        raise InputError("input.shippingAddressId", "no such address of this customer")
    assert customer.id is not None
    order = models.Order(
        customer_id=customer.id,
        number=f"SO-{utcnow():%Y}-{secrets.token_hex(5).upper()}",
        total_amount=total,
        currency=currency,
        shipping_address_id=shipping_address_id,
        payment_reference=_identifier(given.get("payment_reference"), "input.paymentReference"),
        payment_tracking_code=_identifier(
            given.get("payment_tracking_code"), "input.paymentTrackingCode"
        ),
    )
    session.add(order)
    session.flush()
    assert order.id is not None
    for line in lines:
        line.order_id = order.id
    session.add_all(lines)
    session.flush()
    return order


def _address_of(session: Session, customer: models.Customer, pk: int) -> bool:
    found = session.scalar(
        select(col(models.Address.id)).where(
            col(models.Address.id) == pk, col(models.Address.customer_id) == customer.id
        )
    )
    return found is not None


def _identifier(value: str | None, field: str) -> str | None:
    return None if value is None else v.identifier(value, field=field)


def update_order_status(
    session: Session, actor: RequestScope, order: models.Order, status: OrderStatus
) -> None:
    """Move an order to ``status`` if its life cycle allows it.

    A refusal names the order's current status only to a caller who may read it.
    """
    current = OrderStatus(order.status)
    if status not in TRANSITIONS[current]:
        if actor.plan.allows("Order.status"):
            raise InputError("status", f"an order that is {current} cannot become {status}")
        raise InputError("status", f"the order cannot become {status} from its current status")
    order.status = status.value
    if status in ENDS_FULFILLMENT:
        order.left_fulfillment_at = utcnow()
    session.flush()
