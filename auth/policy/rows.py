"""Row-level rules as SQL: which customers and orders exist for this request's caller.

The rules depend on the declared purpose (SPEC section 4): consent-based purposes see only
customers whose latest consent for that purpose is GRANTED; ``order_fulfillment`` sees only
orders in fulfillment and their customers; ``legal_order`` sees only the customers a valid
legal request names; ``me`` sees only the caller. They are applied in the queries that load
rows, never by filtering rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select, true
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


def current_consent(purpose: Purpose, customer_id: IdColumn) -> ColumnElement[bool]:
    """True where the latest consent record of the customer for ``purpose`` is GRANTED.

    The subqueries read aliases of their tables: were they to name ``consent`` itself, SQL
    would correlate them with an outer query on ``consent`` (``node`` of a Consent) and test
    the looked-up record instead of the customer's ledger.
    """
    record = aliased(Consent)
    later = aliased(Consent)
    return exists(
        select(col(record.id)).where(
            col(record.customer_id) == customer_id,
            col(record.purpose) == purpose.value,
            col(record.status) == ConsentStatus.GRANTED.value,
            ~exists(
                select(col(later.id)).where(
                    col(later.customer_id) == col(record.customer_id),
                    col(later.purpose) == col(record.purpose),
                    col(later.id) > col(record.id),
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
    """

    purpose: Purpose | None = None
    legal_request_id: int | None = None
    only_customer_id: int | None = None

    def customers(self, customer_id: IdColumn) -> ColumnElement[bool]:
        """The condition a customer id must meet to exist for the caller."""
        conditions: list[ColumnElement[bool]] = []
        if self.only_customer_id is not None:
            conditions.append(customer_id == self.only_customer_id)
        if self.purpose is not None and self.purpose.consent_required:
            conditions.append(current_consent(self.purpose, customer_id))
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
    def restricted(self) -> bool:
        """Whether some rows do not exist for the caller."""
        return self.only_customer_id is not None or self.purpose in RESTRICTING

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
