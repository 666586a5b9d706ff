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

from sqlalchemy import Boolean, ColumnElement, and_, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import Mapped, aliased
from sqlmodel import col

from auth.policy.purposes import Purpose
from store.hints import likely
from store.models import (
    Consent,
    ConsentStatus,
    Customer,
    LegalRequestCustomer,
    Order,
    OrderStatus,
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

    The latest record is looked up for each customer the query meets (a scalar subquery
    ordered by id, one descent of ``ix_consent_customer_purpose``), so that a page costs the
    same at any size of the ledger: written as "a GRANTED record with no later one", both
    databases may turn it into a join over the whole ledger. Never null: false without a
    record. The subquery reads an alias of ``consent``: were it to name the table itself, SQL
    would correlate it with an outer query on ``consent`` (``node`` of a Consent) and test the
    looked-up record instead of the customer's ledger. The alias is named, not anonymous: an
    anonymous one renders as ``consent_1``, the name an outer query may give its own alias.
    """
    record = aliased(Consent, name="latest_consent")
    relevant: list[ColumnElement[bool]] = [
        col(record.customer_id) == customer_id,
        col(record.purpose) == purpose.value,
    ]
    if recipient is not None:
        relevant.append(or_(col(record.recipient) == recipient, col(record.recipient).is_(None)))
    latest = (
        select(col(record.status))
        .where(*relevant)
        .order_by(col(record.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(latest == ConsentStatus.GRANTED.value, false(), type_=Boolean)


def has_order_in_fulfillment(customer_id: IdColumn) -> ColumnElement[bool]:
    """True where the customer has an order in fulfillment (PAID or SHIPPED).

    Looked up for each customer the query meets (a scalar subquery on ``ix_customer_order_status``),
    for the same reason as `current_consent`: as ``EXISTS``, PostgreSQL may hash every order
    in fulfillment before it returns the first row of a page. The subquery reads an alias,
    not correlated with an outer query on orders.
    """
    in_fulfillment = aliased(Order, name="order_in_fulfillment")
    return (
        select(literal(1))
        .where(
            col(in_fulfillment.status).in_(FULFILLMENT_STATUSES),
            col(in_fulfillment.customer_id) == customer_id,
        )
        .limit(1)
        .scalar_subquery()
        .is_not(None)
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
        return self._customers(customer_id, fulfilled=False)

    def _customers(self, customer_id: IdColumn, *, fulfilled: bool) -> ColumnElement[bool]:
        """`customers`; ``fulfilled``: the caller already knows the customer has an order in
        fulfillment (the order being tested is one), so that rule need not be asked again."""
        conditions: list[ColumnElement[bool]] = []
        if self.only_customer_id is not None:
            conditions.append(customer_id == self.only_customer_id)
        if self.purpose is not None and self.purpose.consent_required:
            conditions.append(current_consent(self.purpose, customer_id))
        if self.shares_with_partner:
            conditions.append(
                current_consent(Purpose.THIRD_PARTY_SHARING, customer_id, recipient=self.partner)
            )
        if self.purpose is Purpose.ORDER_FULFILLMENT and not fulfilled:
            conditions.append(has_order_in_fulfillment(customer_id))
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
        if self.purpose is Purpose.ORDER_FULFILLMENT:
            # an order in fulfillment is its customer's proof of having one
            return and_(
                likely(col(Order.status).in_(FULFILLMENT_STATUSES)),
                self._customers(col(Order.customer_id), fulfilled=True),
            )
        return self.customers(col(Order.customer_id))

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
