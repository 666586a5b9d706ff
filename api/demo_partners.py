"""Demo partners: a courier and a marketing agency, the customers' consents to share with them,
and what the courier has received (SPEC section 8), so that ``make run`` shows all of it.

Run by ``steward demo-data`` after the customers (`api.demo`): every customer without a
``third_party_sharing`` record gets a realistic history — never asked, shared with every
partner, with the courier only (for deliveries), with every partner and later not with the
agency, or shared and then withdrawn — and each customer who shares with the courier and has an
order in fulfillment has a disclosure: the courier's delivery read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.demo import REFERENCE_NOW
from auth import partners
from auth.policy.purposes import Purpose
from privacy.audit import Access, write
from privacy.consents import record_consent
from store.models import Consent, ConsentSource, ConsentStatus, Customer, Order, OrderStatus

COURIER: Final = "demo-courier"
COURIER_NAME: Final = "Tehran Express Couriers"
AGENCY: Final = "demo-marketing"
AGENCY_NAME: Final = "Mekong Digital Marketing"

_SHARING: Final = Purpose.THIRD_PARTY_SHARING.value
# (pattern, weight): each pattern is a history of (status, recipient) records.
_PATTERNS: Final = (
    ((), 45),
    (((ConsentStatus.GRANTED, None),), 20),
    (((ConsentStatus.GRANTED, COURIER),), 20),
    (((ConsentStatus.GRANTED, None), (ConsentStatus.WITHDRAWN, AGENCY)), 10),
    (((ConsentStatus.GRANTED, None), (ConsentStatus.WITHDRAWN, None)), 5),
)
_DELIVERY_FIELDS: Final = (
    "Address.city",
    "Address.line1",
    "Address.postalCode",
    "Customer.firstName",
    "Customer.lastName",
    "Customer.mobilePhone",
    "Order.number",
    "Order.shippingAddress",
    "Order.status",
    "Query.orders",
)
MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PartnerSummary:
    """What :func:`load_demo_partners` inserted."""

    partners: int
    sharing_consents: int
    disclosures: int


def load_demo_partners(session: Session, *, seed: int = 1) -> PartnerSummary:
    """Register the demo partners and give customers their sharing consents and disclosures.

    Written through the ledger's and the audit trail's own functions (`privacy.consents`,
    `privacy.audit`), in the caller's transaction. Once the demo partners are registered, loading
    again adds nothing: the customers' answers are given once.
    """
    rng = random.Random(f"partners-{seed}")  # noqa: S311 (demo data, no secret)
    added = 0
    for client_id, name in ((COURIER, COURIER_NAME), (AGENCY, AGENCY_NAME)):
        if partners.find_active(session, client_id) is None:
            partners.add(session, client_id, name)
            added += 1
    if not added:
        return PartnerSummary(0, 0, 0)
    asked = select(col(Consent.customer_id)).where(col(Consent.purpose) == _SHARING)
    customers = session.scalars(
        select(Customer)
        .where(col(Customer.id).not_in(asked), col(Customer.status) == "ACTIVE")
        .order_by(col(Customer.id))
    ).all()
    patterns = [pattern for pattern, _ in _PATTERNS]
    weights = [weight for _, weight in _PATTERNS]
    consents = 0
    couriers: dict[int, datetime] = {}
    for customer in customers:
        history = rng.choices(patterns, weights)[0]
        at = customer.created_at
        courier_status = None
        for status, recipient in history:
            at = at + timedelta(minutes=rng.randint(5, 60 * 24 * 90))
            if at >= REFERENCE_NOW:
                break
            if recipient in (None, COURIER):
                courier_status = status
            record_consent(
                session,
                customer,
                Purpose.THIRD_PARTY_SHARING,
                status is ConsentStatus.GRANTED,
                ConsentSource(rng.choice([s.value for s in ConsentSource])),
                "2026-02",
                recipient,
                recorded_at=at,
            )
            consents += 1
        if courier_status is ConsentStatus.GRANTED and customer.id is not None:
            couriers[customer.id] = at
    disclosures = _deliveries(session, rng, couriers)
    return PartnerSummary(added, consents, disclosures)


def _deliveries(session: Session, rng: random.Random, shared_since: dict[int, datetime]) -> int:
    """The courier's delivery reads of customers who share with it and await a delivery."""
    in_fulfillment = session.scalars(
        select(col(Order.customer_id))
        .where(
            col(Order.customer_id).in_(list(shared_since)),
            col(Order.status).in_([OrderStatus.PAID.value, OrderStatus.SHIPPED.value]),
        )
        .distinct()
        .order_by(col(Order.customer_id))
    ).all()
    for customer_id in in_fulfillment:
        at = REFERENCE_NOW - timedelta(minutes=rng.randint(10, 60 * 24 * 20))
        delivery = Access(
            subject=COURIER,
            client_id=COURIER,
            purpose=Purpose.ORDER_FULFILLMENT.value,
            legal_reference=None,
            operation_name="Deliveries",
            customer_ids=(customer_id,),
            fields=_DELIVERY_FIELDS,
            recipient=COURIER,
        )
        write(session, delivery, occurred_at=max(at, shared_since[customer_id] + MINUTE))
    return len(in_fulfillment)
