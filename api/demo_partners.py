"""Demo partners: a courier and a marketing agency, the customers' consents to share with them,
the courier's assigned orders, and what it has received (SPEC sections 8 and 13), so that
``make run`` shows all of it.

Run by ``steward demo-data`` after the customers (`api.demo`): every customer without a
``third_party_sharing`` record gets a realistic history — never asked, shared with every
partner, with the courier only (for deliveries), with every partner and later not with the
agency, or shared and then withdrawn. The courier has ``assigned`` access: it sees only the
orders assigned to it. Of the orders in fulfillment of the customers who share with it, three
in four are assigned to it (active) and the others were assigned and then unassigned (ended);
their installed orders were assigned too, and ended some days after the installation. Each
customer with an active assignment has a disclosure naming the order: the courier's delivery
read. The marketing agency has ``consented`` access: every customer who shares with it; its
campaign read an hour before the reference time (one record per page of 50 customers) names
the customers who had consented to marketing and shared with it then, and records
``Customer.email`` as disclosed in a ``pseudonym`` (graduated disclosure, SPEC section 13).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session
from sqlmodel import col

from api.demo import REFERENCE_NOW
from auth import partners
from auth.policy.purposes import Purpose
from auth.policy.row_rules import RowScope
from privacy.audit import Access, write
from privacy.consents import record_consent
from store.models import (
    Consent,
    ConsentSource,
    ConsentStatus,
    Customer,
    Order,
    OrderAssignment,
    OrderStatus,
    PartnerAccess,
    table_of,
)

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
_CAMPAIGN_FIELDS: Final = (
    "Customer.ageBand",
    "Customer.email",
    "Customer.firstName",
    "Query.customers",
)
_CAMPAIGN_FORMS: Final = (("Customer.email", "pseudonym"),)
_CAMPAIGN_PAGE: Final = 50
MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class PartnerSummary:
    """What :func:`load_demo_partners` inserted."""

    partners: int
    sharing_consents: int
    disclosures: int
    assignments: int = 0


def load_demo_partners(session: Session, *, seed: int = 1) -> PartnerSummary:
    """Register the demo partners and give customers their sharing consents and disclosures.

    Written through the ledger's and the audit trail's own functions (`privacy.consents`,
    `privacy.audit`), in the caller's transaction. Once the demo partners are registered, loading
    again adds nothing: the customers' answers are given once.
    """
    rng = random.Random(f"partners-{seed}")  # noqa: S311 (demo data, no secret)
    added = 0
    for client_id, name, access in (
        (COURIER, COURIER_NAME, PartnerAccess.ASSIGNED),
        (AGENCY, AGENCY_NAME, PartnerAccess.CONSENTED),
    ):
        if partners.find_active(session, client_id) is None:
            partners.add(session, client_id, name, access=access)
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
    active = _assignments(session, couriers)
    disclosures = _deliveries(session, rng, couriers, active) + _campaign(session)
    return PartnerSummary(added, consents, disclosures, sum(map(len, active.values())))


def _assignments(session: Session, shared_since: dict[int, datetime]) -> dict[int, list[int]]:
    """Assign the courier the orders of the customers who share with it: three in four of
    those in fulfillment stay assigned, the others were unassigned; installed ones ended with
    their installation. Returns the active assignments' orders, by customer."""
    orders = session.execute(
        select(col(Order.id), col(Order.customer_id), col(Order.status), col(Order.placed_at))
        .where(
            col(Order.customer_id).in_(list(shared_since)),
            col(Order.status).in_(_ASSIGNABLE),
        )
        .order_by(col(Order.id))
    ).all()
    active: dict[int, list[int]] = {}
    rows: list[dict[str, object]] = []
    for index, (order_id, customer_id, status, placed_at) in enumerate(orders):
        created = max(placed_at, shared_since[customer_id]) + timedelta(hours=2)
        ended = status == OrderStatus.INSTALLED.value or index % 4 == 3
        rows.append(
            {
                "order_id": order_id,
                "partner": COURIER,
                "created_at": created,
                "created_by": "dispatch",
                "until": None,
                "unassigned_at": created + timedelta(days=1) if index % 4 == 3 else None,
            }
        )
        if not ended and order_id is not None:
            active.setdefault(customer_id, []).append(order_id)
    if rows:
        session.execute(insert(table_of(OrderAssignment)), rows)
    return active


_ASSIGNABLE: Final = [
    s.value for s in (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.INSTALLED)
]


def _deliveries(
    session: Session,
    rng: random.Random,
    shared_since: dict[int, datetime],
    assigned: dict[int, list[int]],
) -> int:
    """The courier's delivery reads of the customers whose orders are assigned to it."""
    for customer_id in sorted(assigned):
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
            order_ids=tuple(assigned[customer_id]),
        )
        write(session, delivery, occurred_at=max(at, shared_since[customer_id] + MINUTE))
    return len(assigned)


def _campaign(session: Session) -> int:
    """The agency's campaign read under ``marketing``, an hour before the reference time: the
    customers it saw then (the row rules of a partner under ``marketing``, none of whose
    consents came later), a record per page, the email disclosed as a pseudonym."""
    at = REFERENCE_NOW - timedelta(hours=1)
    rows = RowScope(purpose=Purpose.MARKETING, partner=AGENCY, now=at)
    later = exists().where(
        col(Consent.customer_id) == col(Customer.id), col(Consent.recorded_at) >= at
    )
    ids = table_of(Customer).c.id
    seen = session.scalars(
        select(ids)
        .where(rows.customer_rows(), ~later, col(Customer.status) == "ACTIVE")
        .order_by(col(Customer.id))
    ).all()
    pages = [seen[i : i + _CAMPAIGN_PAGE] for i in range(0, len(seen), _CAMPAIGN_PAGE)]
    for index, page in enumerate(pages):
        read = Access(
            subject=AGENCY,
            client_id=AGENCY,
            purpose=Purpose.MARKETING.value,
            legal_reference=None,
            operation_name="Campaign",
            customer_ids=tuple(page),
            fields=_CAMPAIGN_FIELDS,
            recipient=AGENCY,
            forms=_CAMPAIGN_FORMS,
        )
        write(session, read, occurred_at=at + index * MINUTE)
    return len(pages)
