"""The connections' filters (`CustomerFilter`, `OrderFilter`), declared once for both executors.

`schema.queries` turns them into the loaders' conditions and `schema.compiled` into the
compiled statement's: a filter added here is applied, and checked, the same way by both.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from store.ids import InvalidGlobalId, from_global_id


def _same(value: Any) -> Any:
    return value


def _enum_value(value: Enum) -> Any:
    return value.value


def _upper(value: str) -> str:
    return value.upper()


def customer_pk(global_id: str) -> int:
    """The customer's primary key, or 0 (matches nothing) for an id of another type."""
    try:
        kind, pk = from_global_id(global_id)
    except InvalidGlobalId:
        return 0
    return pk if kind == "Customer" else 0


@dataclass(frozen=True, slots=True)
class Filter:
    """One field of a filter input.

    Attributes:
        argument: the input field's GraphQL name (``lastName``).
        coordinate: the field the caller must be able to read to filter on it.
        column: the column it compares.
        after: compared with ``>`` (created or placed after); otherwise with ``=``.
        value: the column's value for the input's value.
        attribute: the input field's Python name (``last_name``).
    """

    argument: str
    coordinate: str
    column: str
    after: bool = False
    value: Callable[[Any], Any] = _same
    attribute: str = field(init=False)

    def __post_init__(self) -> None:
        snake = re.sub(r"([A-Z])", r"_\1", self.argument).lower()
        object.__setattr__(self, "attribute", snake)


CUSTOMER_FILTERS: tuple[Filter, ...] = (
    Filter("status", "Customer.status", "status", value=_enum_value),
    Filter("email", "Customer.email", "email"),
    Filter("lastName", "Customer.lastName", "last_name"),
    Filter("country", "Customer.country", "country", value=_upper),
    Filter("createdAfter", "Customer.createdAt", "created_at", after=True),
)
"""`CustomerFilter`, in the order its fields are checked."""

ORDER_FILTERS: tuple[Filter, ...] = (
    Filter("status", "Order.status", "status", value=_enum_value),
    Filter("customerId", "Order.customer", "customer_id", value=customer_pk),
    Filter("placedAfter", "Order.placedAt", "placed_at", after=True),
    Filter("paymentReference", "Order.paymentReference", "payment_reference"),
)
"""`OrderFilter`, in the order its fields are checked."""
