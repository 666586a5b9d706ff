"""Row-level rules as SQL: which customers and orders exist for this request's caller.

The rules depend on the declared purpose (SPEC section 4): consent-based purposes see only
customers whose latest consent for that purpose is GRANTED; ``order_fulfillment`` sees only
orders in fulfillment and their customers; ``legal_order`` sees only the customers a valid
legal request names; ``me`` sees only the caller. On top of these, a partner (a third party,
SPEC section 8) sees only the customers whose current ``third_party_sharing`` consent for it
is GRANTED, except under ``legal_order``. They are applied in the queries that load rows, never
by filtering rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.orm import Mapped, Session, aliased
from sqlmodel import col

from auth.policy.purposes import Purpose
from store.models import (
    Address,
    Consent,
    ConsentStatus,
    Customer,
    LegalRequestCustomer,
    Order,
    OrderStatus,
    UsageEvent,
)

FULFILLMENT_STATUSES = (OrderStatus.PAID.value, OrderStatus.SHIPPED.value)

IdColumn = ColumnElement[Any] | Mapped[Any]
"""A customer-id column: a table's own (``col(Order.customer_id)``) or a subquery's."""


def current_consent(
    purpose: Purpose, customer_id: IdColumn, *, recipient: str | None = None
) -> ColumnElement[bool]:
    """True where the latest consent record of the customer for ``purpose`` is GRANTED.

    With a ``recipient`` (a partner's client id), only the records for that partner or for all
    partners (``recipient`` null) count: the latest of those decides.

    The subqueries read aliases of their tables: were they to name ``consent`` itself, SQL
    would correlate them with an outer query on ``consent`` (``node`` of a Consent) and test
    the looked-up record instead of the customer's ledger.
    """
    record = aliased(Consent)
    later = aliased(Consent)
    mine: list[ColumnElement[bool]] = []
    theirs: list[ColumnElement[bool]] = []
    if recipient is not None:
        mine.append(or_(col(record.recipient) == recipient, col(record.recipient).is_(None)))
        theirs.append(or_(col(later.recipient) == recipient, col(later.recipient).is_(None)))
    return exists(
        select(col(record.id)).where(
            col(record.customer_id) == customer_id,
            col(record.purpose) == purpose.value,
            col(record.status) == ConsentStatus.GRANTED.value,
            *mine,
            ~exists(
                select(col(later.id)).where(
                    col(later.customer_id) == col(record.customer_id),
                    col(later.purpose) == col(record.purpose),
                    col(later.id) > col(record.id),
                    *theirs,
                )
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class RowScope:
    """The row-level rules of one request.

    Attributes:
        purpose: the declared purpose, if any.
        legal_request_id: the legal request that ``legal_order`` runs under.
        only_customer_id: restricts everything to one customer (``me``).
        partner: the client id of the caller when it is a partner: only the customers who
            consented to share their data with it exist (except under ``legal_order``).
    """

    purpose: Purpose | None = None
    legal_request_id: int | None = None
    only_customer_id: int | None = None
    partner: str | None = None

    def customers(self, customer_id: IdColumn) -> ColumnElement[bool]:
        """The condition a customer id must meet to exist for the caller."""
        conditions: list[ColumnElement[bool]] = []
        if self.only_customer_id is not None:
            conditions.append(customer_id == self.only_customer_id)
        if self.purpose is not None and self.purpose.consent_required:
            conditions.append(current_consent(self.purpose, customer_id))
        if self.shares_with_partner:
            conditions.append(
                current_consent(Purpose.THIRD_PARTY_SHARING, customer_id, recipient=self.partner)
            )
        if self.purpose is Purpose.ORDER_FULFILLMENT:
            in_fulfillment = aliased(Order)  # not correlated with an outer query on orders
            conditions.append(
                exists(
                    select(col(in_fulfillment.id)).where(
                        col(in_fulfillment.customer_id) == customer_id,
                        col(in_fulfillment.status).in_(FULFILLMENT_STATUSES),
                    )
                )
            )
        if self.purpose is Purpose.LEGAL_ORDER:
            conditions.append(
                exists(
                    select(col(LegalRequestCustomer.customer_id)).where(
                        col(LegalRequestCustomer.legal_request_id) == self.legal_request_id,
                        col(LegalRequestCustomer.customer_id) == customer_id,
                    )
                )
            )
        return and_(true(), *conditions)

    def orders(self) -> ColumnElement[bool]:
        """The condition an order must meet to exist for the caller."""
        condition = self.customers(col(Order.customer_id))
        if self.purpose is Purpose.ORDER_FULFILLMENT:
            condition = and_(condition, col(Order.status).in_(FULFILLMENT_STATUSES))
        return condition

    def customer_rows(self) -> ColumnElement[bool]:
        """The condition on the ``customer`` table itself."""
        return self.customers(col(Customer.id))

    @property
    def shares_with_partner(self) -> bool:
        """Whether the partner rule applies: the caller is a partner and the law does not rule."""
        return self.partner is not None and self.purpose is not Purpose.LEGAL_ORDER

    @property
    def restricted(self) -> bool:
        """Whether some rows do not exist for the caller."""
        return (
            self.only_customer_id is not None
            or self.purpose in RESTRICTING
            or self.shares_with_partner
        )

    def contains(self, session: Session, row: Any) -> bool:
        """Whether ``row`` (just written by a mutation) exists for the caller.

        A mutation's payload obeys the same rules as a read: a customer created under
        ``marketing`` without consent, or an order that left fulfillment, is not returned.
        """
        if not self.restricted:
            return True
        if isinstance(row, Order):
            statement = select(col(Order.id)).where(col(Order.id) == row.id, self.orders())
        elif isinstance(row, Customer | Address | Consent | UsageEvent):
            pk = row.id if isinstance(row, Customer) else row.customer_id
            statement = select(col(Customer.id)).where(col(Customer.id) == pk, self.customer_rows())
        else:
            return True
        return session.scalar(statement) is not None


RESTRICTING = frozenset(
    {Purpose.ANALYTICS, Purpose.MARKETING, Purpose.ORDER_FULFILLMENT, Purpose.LEGAL_ORDER}
)
"""The purposes under which only some customers and orders exist (SPEC section 4)."""

ROW_RULES: tuple[tuple[str, str], ...] = (
    (
        "consent",
        "Under analytics and marketing: only customers whose latest consent for the purpose "
        "is GRANTED.",
    ),
    (
        "order_fulfillment",
        "Only orders in fulfillment (PAID, SHIPPED) and the customers who have one.",
    ),
    (
        "legal_order",
        "Only the customers the legal request in X-Legal-Reference names, while it is valid, "
        "for a caller other than its creator.",
    ),
    ("me", "Only the caller's own record."),
    (
        "partner",
        "A partner (a third party) sees only the customers whose latest third_party_sharing "
        "consent for it or for all partners is GRANTED, on top of the other rules, under every "
        "purpose but legal_order.",
    ),
)
"""The row rules in words, for ``steward policy``, the ``policy`` query and the README."""
