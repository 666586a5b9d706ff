"""The kinds of caller the tests sign tokens for, as ``scope`` claims.

Every scope comes from `auth.policy.scopes` and every purpose from `auth.policy.purposes`,
so a renamed scope breaks here, once, instead of in a string in every test.
"""

from __future__ import annotations

from auth.policy import scopes as s
from auth.policy.purposes import Purpose


def scope(*granted: str) -> str:
    """A token's ``scope`` claim: the scopes in the order given, space-separated."""
    return " ".join(granted)


CUSTOMER = scope(s.ME_READ, s.ME_WRITE)
"""The customer themselves (the token's subject is their global id)."""

PRIVACY_ADMIN = scope(s.PRIVACY_ADMIN, s.CUSTOMERS_READ)
"""A privacy officer: erasure, export, legal requests."""

AUDITOR = scope(s.AUDIT_READ)
"""Reads the access log, nothing else."""

SUPPORT = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.ADDRESSES_READ,
    s.ORDERS_READ,
    s.ORDERS_READ_PAYMENT,
    s.CONSENTS_READ,
    s.USAGE_READ,
    Purpose.CUSTOMER_SUPPORT.scope,
)
"""Staff under the customer-support purpose, reading everything support may read."""

MARKETER = scope(
    s.CUSTOMERS_READ, s.CUSTOMERS_READ_IDENTITY, s.CUSTOMERS_READ_CONTACT, Purpose.MARKETING.scope
)
"""Staff under the marketing purpose: only customers who consented."""

LEGAL = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.ADDRESSES_READ,
    s.ORDERS_READ,
    s.ORDERS_READ_PAYMENT,
    Purpose.LEGAL_ORDER.scope,
)
"""Staff under the legal-order purpose: only customers a legal request names."""

FULFILLMENT_PARTNER = scope(s.ORDERS_READ, s.ADDRESSES_READ, Purpose.ORDER_FULFILLMENT.scope)
"""A partner with narrow scopes: orders and their addresses, for fulfilment."""

ALL_PURPOSES = sorted(p.value for p in Purpose)
"""Every purpose's id."""
