"""Every OAuth scope Steward knows, in one place."""

from __future__ import annotations

from auth.policy.purposes import DECLARABLE

CUSTOMERS_READ = "customers:read"
CUSTOMERS_READ_IDENTITY = "customers:read:identity"
CUSTOMERS_READ_CONTACT = "customers:read:contact"
ADDRESSES_READ = "addresses:read"
ORDERS_READ = "orders:read"
ORDERS_READ_PAYMENT = "orders:read:payment"
CONSENTS_READ = "consents:read"
USAGE_READ = "usage:read"
CUSTOMERS_WRITE = "customers:write"
ADDRESSES_WRITE = "addresses:write"
ORDERS_WRITE = "orders:write"
CONSENTS_WRITE = "consents:write"
AUDIT_READ = "audit:read"
PRIVACY_ADMIN = "privacy:admin"
METRICS_READ = "metrics:read"
ME_READ = "me:read"
ME_WRITE = "me:write"

RESOURCE_SCOPES = (
    CUSTOMERS_READ,
    CUSTOMERS_READ_IDENTITY,
    CUSTOMERS_READ_CONTACT,
    ADDRESSES_READ,
    ORDERS_READ,
    ORDERS_READ_PAYMENT,
    CONSENTS_READ,
    USAGE_READ,
    CUSTOMERS_WRITE,
    ADDRESSES_WRITE,
    ORDERS_WRITE,
    CONSENTS_WRITE,
    AUDIT_READ,
    PRIVACY_ADMIN,
    METRICS_READ,
    ME_READ,
    ME_WRITE,
)
PURPOSE_SCOPES = tuple(purpose.scope for purpose in DECLARABLE)
ALL_SCOPES = RESOURCE_SCOPES + PURPOSE_SCOPES
"""Every scope a client of the built-in issuer may be granted."""
