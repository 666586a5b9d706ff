"""What the compiler knows of the data types' fields, and the request's decisions about them."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from auth.policy.fields import policy_key

SCALARS: dict[str, tuple[str, str]] = {
    "Customer.id": ("gid", "id"),
    "Customer.status": ("enum", "status"),
    "Customer.country": ("text", "country"),
    "Customer.preferredLanguage": ("text", "preferred_language"),
    "Customer.createdAt": ("datetime", "created_at"),
    "Customer.updatedAt": ("datetime", "updated_at"),
    "Customer.firstName": ("text", "first_name"),
    "Customer.lastName": ("text", "last_name"),
    "Customer.dateOfBirth": ("date", "date_of_birth"),
    "Customer.ageBand": ("age_band", "date_of_birth"),
    "Customer.email": ("text", "email"),
    "Customer.mobilePhone": ("text", "mobile_phone"),
    "Customer.landlinePhone": ("text", "landline_phone"),
    "Address.id": ("gid", "id"),
    "Address.label": ("enum", "label"),
    "Address.line1": ("text", "line1"),
    "Address.line2": ("text", "line2"),
    "Address.city": ("text", "city"),
    "Address.region": ("text", "region"),
    "Address.postalCode": ("text", "postal_code"),
    "Address.country": ("text", "country"),
    "Address.latitude": ("float", "latitude"),
    "Address.longitude": ("float", "longitude"),
    "Address.isDefault": ("bool", "is_default"),
    "Order.id": ("gid", "id"),
    "Order.number": ("text", "number"),
    "Order.status": ("enum", "status"),
    "Order.placedAt": ("datetime", "placed_at"),
    "Order.totalAmount": ("int_text", "total_amount"),
    "Order.currency": ("text", "currency"),
    "Order.paymentReference": ("text", "payment_reference"),
    "Order.paymentTrackingCode": ("text", "payment_tracking_code"),
    "OrderItem.sku": ("text", "sku"),
    "OrderItem.name": ("text", "name"),
    "OrderItem.quantity": ("int", "quantity"),
    "OrderItem.unitPrice": ("int_text", "unit_price"),
    "Consent.id": ("gid", "id"),
    "Consent.purpose": ("upper", "purpose"),
    "Consent.status": ("enum", "status"),
    "Consent.recordedAt": ("datetime", "recorded_at"),
    "Consent.source": ("enum", "source"),
    "Consent.policyVersion": ("text", "policy_version"),
    "Consent.recipient": ("text", "recipient"),
    "Consent.noticeVersion": ("text", "notice_version"),
    "Consent.language": ("text", "language"),
    "UsageEvent.id": ("gid", "id"),
    "UsageEvent.occurredAt": ("datetime", "occurred_at"),
    "UsageEvent.kind": ("text", "kind"),
    "UsageEvent.detail": ("text", "detail"),
}
"""Every compiled scalar field: how its column becomes JSON (kind, column)."""


@dataclass(frozen=True, slots=True)
class Relation:
    """An object field of a data type: the rows it leads to, as the loaders select them.

    Attributes:
        target: the type of the rows.
        kind: ``list``, ``single`` or ``connection``.
        child_key: the target's column matched against the parent's ``parent_key``.
        parent_key: the parent's column.
        order: ``(column, descending)`` pairs.
        ruled: whether the target's row rule applies (not to the children of a row shown).
    """

    target: str
    kind: str
    child_key: str
    parent_key: str
    order: tuple[tuple[str, bool], ...] = ()
    ruled: bool = True


RELATIONS: dict[str, Relation] = {
    "Customer.addresses": Relation(
        "Address", "list", "customer_id", "id", (("id", False),), ruled=False
    ),
    "Customer.consents": Relation(
        "Consent", "list", "customer_id", "id", (("id", False),), ruled=False
    ),
    "Customer.usageEvents": Relation(
        "UsageEvent",
        "list",
        "customer_id",
        "id",
        (("occurred_at", False), ("id", False)),
        ruled=False,
    ),
    "Customer.orders": Relation(
        "Order", "connection", "customer_id", "id", (("placed_at", True), ("id", True))
    ),
    "Order.items": Relation("OrderItem", "list", "order_id", "id", (("id", False),), ruled=False),
    "Order.shippingAddress": Relation("Address", "single", "id", "shipping_address_id"),
    "Order.customer": Relation("Customer", "single", "id", "customer_id"),
}
"""Every compiled object field; ``Customer.accessLog`` (audit records) is not among them."""


class Access(enum.Enum):
    """What a request may see of a field."""

    VISIBLE = "visible"
    OWNED = "owned"
    """Visible on the caller's own rows only (``me``)."""
    HIDDEN = "hidden"


@dataclass(frozen=True, slots=True)
class Decisions:
    """What the SQL depends on besides the document: the policy decisions of a request."""

    scopes: frozenset[str]
    visible: frozenset[str]
    owner: bool

    def access(self, coordinate: str) -> Access:
        key = policy_key(coordinate)
        if key is None:
            return Access.HIDDEN
        if key in self.visible:
            return Access.VISIBLE
        return Access.OWNED if self.owner else Access.HIDDEN

    def readable(self, coordinate: str) -> bool:
        key = policy_key(coordinate)
        return key is not None and key in self.visible
