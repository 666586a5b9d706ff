"""The field rules: which scopes and which purposes reading each field needs (SPEC section 4).

This table is the only place a field rule is written. The permission classes on the schema's
fields, the field descriptions, the planner, the audit, ``steward policy``, the ``policy`` query
and the tests all read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auth.policy import scopes as s
from auth.policy.purposes import DECLARABLE, Purpose
from auth.policy.row_rules import ROW_RULES

F, S, B, X, A, M, L = (
    Purpose.ORDER_FULFILLMENT,
    Purpose.CUSTOMER_SUPPORT,
    Purpose.BILLING,
    Purpose.FRAUD_INVESTIGATION,
    Purpose.ANALYTICS,
    Purpose.MARKETING,
    Purpose.LEGAL_ORDER,
)


@dataclass(frozen=True, slots=True)
class Rule:
    """What reading one field needs.

    Attributes:
        scopes: every one of these scopes.
        purposes: one of these declared purposes; ``None`` means any purpose, or none (P).
    """

    scopes: tuple[str, ...]
    purposes: frozenset[Purpose] | None

    def allows(self, granted: frozenset[str], purpose: Purpose | None) -> bool:
        """Whether a caller with ``granted`` scopes under ``purpose`` may read the field."""
        return all(scope in granted for scope in self.scopes) and (
            self.purposes is None or purpose in self.purposes
        )

    def purpose_ids(self) -> list[str] | None:
        """The purposes' ids in the table's order, or ``None`` for P."""
        if self.purposes is None:
            return None
        return [purpose.id for purpose in Purpose if purpose in self.purposes]


def _rule(scopes: Iterable[str], *purposes: Purpose) -> Rule:
    return Rule(tuple(scopes), frozenset(purposes) if purposes else None)


def _expand(entries: Iterable[tuple[str, Rule]]) -> dict[str, Rule]:
    table: dict[str, Rule] = {}
    for names, rule in entries:
        type_name, _, fields = names.partition(".")
        for field in fields.split(","):
            coordinate = f"{type_name}.{field.strip()}"
            if coordinate in table:
                raise ValueError(f"policy names {coordinate} twice")
            table[coordinate] = rule
    return table


POLICY: dict[str, Rule] = _expand(
    [
        (
            "Customer.id, status, country, preferredLanguage, createdAt, updatedAt",
            _rule([s.CUSTOMERS_READ]),
        ),
        ("Customer.firstName, lastName", _rule([s.CUSTOMERS_READ_IDENTITY], F, S, B, X, M, L)),
        ("Customer.dateOfBirth", _rule([s.CUSTOMERS_READ_IDENTITY], X, L)),
        ("Customer.ageBand", _rule([s.CUSTOMERS_READ_IDENTITY], A, M, X, L)),
        ("Customer.email", _rule([s.CUSTOMERS_READ_CONTACT], S, B, X, M, L)),
        ("Customer.mobilePhone", _rule([s.CUSTOMERS_READ_CONTACT], F, S, X, M, L)),
        ("Customer.landlinePhone", _rule([s.CUSTOMERS_READ_CONTACT], F, S, X, L)),
        ("Customer.addresses", _rule([s.ADDRESSES_READ])),
        ("Address.id, label, city, region, country, isDefault", _rule([s.ADDRESSES_READ])),
        (
            "Address.line1, line2, postalCode, latitude, longitude",
            _rule([s.ADDRESSES_READ], F, S, B, X, L),
        ),
        ("Customer.orders", _rule([s.ORDERS_READ])),
        (
            "Order.id, number, status, placedAt, totalAmount, currency, items",
            _rule([s.ORDERS_READ]),
        ),
        ("OrderItem.*", _rule([s.ORDERS_READ])),
        ("Order.shippingAddress", _rule([s.ORDERS_READ, s.ADDRESSES_READ])),
        ("Order.paymentReference, paymentTrackingCode", _rule([s.ORDERS_READ_PAYMENT], S, B, X, L)),
        ("Order.customer", _rule([s.CUSTOMERS_READ])),
        ("Customer.consents", _rule([s.CONSENTS_READ])),
        ("Consent.*", _rule([s.CONSENTS_READ])),
        ("Customer.usageEvents", _rule([s.USAGE_READ], S, X, A, L)),
        ("UsageEvent.*", _rule([s.USAGE_READ], S, X, A, L)),
        ("Customer.accessLog", _rule([s.AUDIT_READ])),
        ("AccessRecord.*", _rule([s.AUDIT_READ])),
        ("Customer.disclosures", _rule([s.AUDIT_READ])),
        ("Disclosure.*", _rule([s.AUDIT_READ])),
        # Who received data is no customer's data: whoever may read a disclosure reads its
        # recipient (a customer reads their own disclosures through ``me``, by the owner rule).
        ("Partner.*", _rule([])),
        ("LegalRequest.*", _rule([s.PRIVACY_ADMIN])),
    ]
)
"""Schema coordinate (``Type.field``, or ``Type.*`` for every field of a type) → rule."""


def policy_key(coordinate: str) -> str | None:
    """The entry that governs ``Type.field``: itself, or ``Type.*``; ``None`` when there is none."""
    if coordinate in POLICY:
        return coordinate
    wildcard = coordinate.partition(".")[0] + ".*"
    return wildcard if wildcard in POLICY else None


def rule_for(coordinate: str) -> Rule | None:
    """The rule for ``Type.field``, or ``None`` when the policy has no entry (hidden: NO_POLICY)."""
    key = policy_key(coordinate)
    return None if key is None else POLICY[key]


def markdown_table() -> str:
    """The table as Markdown, one row per coordinate, one column per declarable purpose, then
    the row rules (README)."""
    purposes = DECLARABLE
    lines = [
        "| field | scopes | " + " | ".join(p.letter for p in purposes) + " |",
        "|---|---|" + "---|" * len(purposes),
    ]
    for coordinate, rule in POLICY.items():
        marks = " | ".join(
            "✓" if rule.purposes is None or purpose in rule.purposes else "" for purpose in purposes
        )
        lines.append(f"| `{coordinate}` | {scope_text(rule)} | {marks} |")
    lines.append("")
    lines.extend(f"- **{name}**: {description}" for name, description in ROW_RULES)
    return "\n".join(lines)


def scope_text(rule: Rule) -> str:
    """The rule's scopes joined by ``+``, or ``none`` (any valid token)."""
    return " + ".join(rule.scopes) if rule.scopes else "none"
