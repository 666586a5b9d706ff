"""The data types: every GraphQL type that carries customer data, with its table and rules.

One registry, read by the schema (which types are guarded, how ``node`` finds a row), the
planner (whose own data a ``me`` caller reads) and the audit. Every field of these types needs
a field rule (`auth.policy.fields`); a type added to the schema that carries customer data is
added here, and building the schema then fails until each of its fields has a rule.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import SQLModel

from auth.policy import scopes as s
from store import models


class Ownership(enum.Enum):
    """How a row belongs to a customer (the owner rule: a customer always reads their own)."""

    SELF = "self"
    """The row is the customer."""
    COLUMN = "column"
    """The row's ``customer_id``."""
    ORDER = "order"
    """The customer of the row's order (``order_id``)."""
    NAMED = "named"
    """One of the customers the row names (``customer_ids``)."""
    NOBODY = "nobody"
    """No customer owns it."""


@dataclass(frozen=True, slots=True)
class DataType:
    """A GraphQL type that carries customer data.

    Attributes:
        name: the GraphQL type's name.
        model: the table its values are rows of.
        node_scope: the scope ``node(id:)`` needs for it; ``None`` when it has no global id.
        ownership: how its rows belong to a customer.
    """

    name: str
    model: type[SQLModel]
    node_scope: str | None
    ownership: Ownership

    def owned_by(self, row: Any, customer_id: int, order_owner: Mapping[int, int]) -> bool:
        """Whether ``row`` belongs to ``customer_id``; ``order_owner`` maps order → customer."""
        match self.ownership:
            case Ownership.SELF:
                return bool(row.id == customer_id)
            case Ownership.COLUMN:
                return bool(row.customer_id == customer_id)
            case Ownership.ORDER:
                return order_owner.get(row.order_id) == customer_id
            case Ownership.NAMED:
                return customer_id in row.customer_ids
            case Ownership.NOBODY:
                return False


DATA_TYPES: dict[str, DataType] = {
    data_type.name: data_type
    for data_type in (
        DataType("Customer", models.Customer, s.CUSTOMERS_READ, Ownership.SELF),
        DataType("Address", models.Address, s.ADDRESSES_READ, Ownership.COLUMN),
        DataType("Order", models.Order, s.ORDERS_READ, Ownership.COLUMN),
        DataType("OrderItem", models.OrderItem, None, Ownership.ORDER),
        DataType("Consent", models.Consent, s.CONSENTS_READ, Ownership.COLUMN),
        DataType("UsageEvent", models.UsageEvent, s.USAGE_READ, Ownership.COLUMN),
        DataType("AccessRecord", models.AccessRecord, s.AUDIT_READ, Ownership.NAMED),
        DataType("LegalRequest", models.LegalRequest, s.PRIVACY_ADMIN, Ownership.NOBODY),
        # What partners received about a customer: the access records that name a partner.
        DataType("Disclosure", models.AccessRecord, None, Ownership.NAMED),
        DataType("Partner", models.Partner, None, Ownership.NOBODY),
    )
}
"""GraphQL type name → its data type, in the policy table's order."""

BY_MODEL: dict[type[SQLModel], DataType] = {}
"""Table → the data type of its rows (the first declared: ``AccessRecord``, not ``Disclosure``)."""
for _data_type in DATA_TYPES.values():
    BY_MODEL.setdefault(_data_type.model, _data_type)
