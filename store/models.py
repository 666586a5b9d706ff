"""The tables. Amounts are integers in the currency's ISO 4217 minor units.

No table has a column for card numbers, CVVs or card expiry dates: the retailer never holds
them (the privacy notices in ``shared/seeds``).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class CustomerStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    ERASED = "ERASED"


class AddressLabel(enum.StrEnum):
    HOME = "HOME"
    INSTALLATION_SITE = "INSTALLATION_SITE"
    BILLING = "BILLING"
    OTHER = "OTHER"


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    PAID = "PAID"
    SHIPPED = "SHIPPED"
    INSTALLED = "INSTALLED"
    CANCELLED = "CANCELLED"


class ConsentStatus(enum.StrEnum):
    GRANTED = "GRANTED"
    WITHDRAWN = "WITHDRAWN"


class PartnerAccess(enum.StrEnum):
    """Which customers a partner sees (on top of their consent to share with it)."""

    ASSIGNED = "assigned"
    """Only the orders assigned to it, their customers and shipping addresses."""
    CONSENTED = "consented"
    """Every customer who consented (the v4 rule)."""


class ConsentSource(enum.StrEnum):
    WEB = "WEB"
    MOBILE = "MOBILE"
    CALL_CENTER = "CALL_CENTER"
    PAPER = "PAPER"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BUILTIN_ISSUER = ""
"""The stored issuer of subjects from Steward's own issuer, whatever its public URL.

Subjects are linked by (issuer, subject) pairs (SPEC section 7). An external provider's pair
holds its exact ``iss``, which is never empty; the built-in issuer's holds this marker, so
that links survive a change of ``STEWARD_PUBLIC_URL`` and migrations need no settings.
"""


def _ts(**kwargs: Any) -> Any:
    """A timezone-aware timestamp column."""
    return Field(sa_type=UTCDateTime, **kwargs)


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (
        Index("ix_customer_created_at", "created_at", "id"),
        Index("ix_customer_last_name", "last_name", "id"),
        Index("ix_customer_email", "email"),
        Index("ix_customer_status_country", "status", "country"),
        UniqueConstraint("subject_issuer", "subject", name="uq_customer_issuer_subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject: str | None = Field(default=None, max_length=255)
    subject_issuer: str = Field(
        default=BUILTIN_ISSUER,
        max_length=255,
        sa_column_kwargs={"server_default": BUILTIN_ISSUER},
    )
    status: str = Field(default=CustomerStatus.ACTIVE, max_length=16)
    country: str = Field(max_length=2)
    preferred_language: str = Field(max_length=35)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None
    email: str | None = Field(default=None, max_length=254)
    mobile_phone: str | None = Field(default=None, max_length=20)
    landline_phone: str | None = Field(default=None, max_length=20)
    erased_at: datetime | None = _ts(default=None)
    erasure_reason: str | None = Field(default=None, max_length=500)


class Address(SQLModel, table=True):
    __tablename__ = "address"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    label: str = Field(max_length=32)
    line1: str = Field(max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=16)
    country: str = Field(max_length=2)
    latitude: float | None = None
    longitude: float | None = None
    is_default: bool = False


class Order(SQLModel, table=True):
    __tablename__ = "customer_order"
    __table_args__ = (
        Index("ix_customer_order_customer", "customer_id", "placed_at", "id"),
        Index("ix_customer_order_placed_at", "placed_at", "id"),
        Index("ix_customer_order_total", "total_amount", "id"),
        Index("ix_customer_order_status", "status", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", ondelete="RESTRICT")
    number: str = Field(max_length=32, unique=True)
    status: str = Field(default=OrderStatus.PENDING, max_length=16)
    placed_at: datetime = _ts(default_factory=utcnow)
    total_amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    shipping_address_id: int | None = Field(
        default=None, foreign_key="address.id", index=True, ondelete="SET NULL"
    )
    payment_reference: str | None = Field(default=None, max_length=64, index=True)
    payment_tracking_code: str | None = Field(default=None, max_length=64)
    left_fulfillment_at: datetime | None = _ts(default=None)
    """When the order last left PAID and SHIPPED (or was cancelled before it got there);
    ``None`` while it is in fulfillment or before. Its partner assignments end
    ``PARTNER_ASSIGNMENT_DAYS`` later (SPEC section 13)."""


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_item"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", index=True, ondelete="CASCADE")
    sku: str = Field(max_length=64)
    name: str = Field(max_length=200)
    quantity: int
    unit_price: int = Field(sa_type=BigInteger)


class Consent(SQLModel, table=True):
    """One entry of the append-only consent ledger; the latest per purpose is current."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_customer_purpose", "customer_id", "purpose", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", ondelete="RESTRICT")
    purpose: str = Field(max_length=32)
    status: str = Field(max_length=16)
    recorded_at: datetime = _ts(default_factory=utcnow)
    source: str = Field(max_length=16)
    policy_version: str | None = Field(default=None, max_length=32)
    recipient: str | None = Field(default=None, max_length=255)
    """The partner's client id (``third_party_sharing`` only); ``None``: every partner."""
    notice_version: str | None = Field(default=None, max_length=32)
    """Evidence: the version of the privacy notice the customer was shown."""
    language: str | None = Field(default=None, max_length=35)
    """Evidence: the language (BCP 47) of the notice the customer was shown."""
    valid_until: datetime | None = _ts(default=None)
    """A conditional consent: past this time a GRANTED record counts as withdrawn."""


class UsageEvent(SQLModel, table=True):
    __tablename__ = "usage_event"
    __table_args__ = (Index("ix_usage_event_customer", "customer_id", "occurred_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", ondelete="CASCADE")
    occurred_at: datetime = _ts(default_factory=utcnow)
    kind: str = Field(max_length=64)
    detail: str | None = Field(default=None, max_length=500)


class AccessRecord(SQLModel, table=True):
    """Who read which customers' data, which fields, under which purpose. Never values."""

    __tablename__ = "access_record"
    __table_args__ = (Index("ix_access_record_occurred", "occurred_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = _ts(default_factory=utcnow)
    client_id: str = Field(max_length=255, index=True)
    subject: str = Field(max_length=255)
    purpose: str | None = Field(default=None, max_length=32, index=True)
    legal_reference: str | None = Field(default=None, max_length=128)
    operation_name: str | None = Field(default=None, max_length=255)
    recipient: str | None = Field(default=None, max_length=255, index=True)
    """The client id of the partner that received the data, when the client is one."""
    request_key: str | None = Field(default=None, max_length=32, unique=True, index=True)
    """Made before the write, one per request: a retried write finds the record, never adds a
    second one (``None`` for records written before keys existed)."""
    customer_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    order_ids: list[int] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    """A partner with assigned access: the assigned orders (of those customers) the access was
    for (SPEC section 13); ``None`` for every other record."""
    forms: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    """Field → the form it was disclosed in, for the fields not disclosed as they are."""


class AccessRecordCustomer(SQLModel, table=True):
    """Index of access records by customer, for ``auditLog(customerId:)`` and ``accessLog``."""

    __tablename__ = "access_record_customer"
    __table_args__ = (Index("ix_access_record_customer", "customer_id", "access_record_id"),)

    access_record_id: int = Field(
        foreign_key="access_record.id", primary_key=True, ondelete="CASCADE"
    )
    customer_id: int = Field(primary_key=True)


class LegalRequest(SQLModel, table=True):
    __tablename__ = "legal_request"

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=128, unique=True)
    authority: str = Field(max_length=200)
    order_document: str = Field(max_length=200)
    created_by: str = Field(max_length=255)
    created_by_issuer: str = Field(
        default=BUILTIN_ISSUER,
        max_length=255,
        sa_column_kwargs={"server_default": BUILTIN_ISSUER},
    )
    valid_from: datetime = _ts(default_factory=utcnow)
    valid_until: datetime = _ts()


class LegalRequestCustomer(SQLModel, table=True):
    __tablename__ = "legal_request_customer"
    __table_args__ = (UniqueConstraint("legal_request_id", "customer_id"),)

    legal_request_id: int = Field(
        foreign_key="legal_request.id", primary_key=True, ondelete="CASCADE"
    )
    customer_id: int = Field(foreign_key="customer.id", primary_key=True, index=True)


class OAuthClient(SQLModel, table=True):
    """A registered client of the built-in issuer. Removal keeps a tombstone."""

    __tablename__ = "oauth_client"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    secret_hash: str = Field(max_length=255)
    scope: str = Field(max_length=2000)
    created_at: datetime = _ts(default_factory=utcnow)
    removed_at: datetime | None = _ts(default=None)


class Partner(SQLModel, table=True):
    """An OAuth client that is a third party (SPEC section 8). Removal keeps a tombstone."""

    __tablename__ = "partner"

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=255, unique=True)
    issuer: str | None = Field(default=BUILTIN_ISSUER, max_length=255, nullable=True)
    """Whose client it is: `BUILTIN_ISSUER`, or an external provider's exact ``iss``. ``None``:
    registered before issuers were told apart (migration 0006), its client id under any issuer."""
    name: str = Field(max_length=200)
    trusted_documents_only: bool = False
    access: str = Field(
        default=PartnerAccess.ASSIGNED,
        max_length=16,
        sa_column_kwargs={"server_default": PartnerAccess.ASSIGNED.value},
    )
    """Which customers it may see besides the consent rule: `PartnerAccess` (SPEC section 13)."""
    until: datetime | None = _ts(default=None)
    """Past this time its tokens are refused, as a removed partner's are."""
    created_at: datetime = _ts(default_factory=utcnow)
    removed_at: datetime | None = _ts(default=None)


class OrderAssignment(SQLModel, table=True):
    """An order assigned to a partner (a courier, an installer) for its job (SPEC section 13).

    A partner whose access is ``assigned`` sees an order only while one of its assignments to
    it is active: not unassigned, before ``until``, and at most ``PARTNER_ASSIGNMENT_DAYS``
    after the order left fulfillment. Unassigning keeps the row (``unassigned_at``).
    """

    __tablename__ = "order_assignment"
    __table_args__ = (
        Index("ix_order_assignment_order", "order_id", "partner"),
        Index("ix_order_assignment_partner", "partner", "order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="customer_order.id", ondelete="CASCADE")
    partner: str = Field(max_length=255)
    """The partner's client id."""
    created_at: datetime = _ts(default_factory=utcnow)
    created_by: str = Field(max_length=255)
    until: datetime | None = _ts(default=None)
    unassigned_at: datetime | None = _ts(default=None)


class TrustedDocument(SQLModel, table=True):
    """A GraphQL document a partner registered, under the SHA-256 of its text."""

    __tablename__ = "trusted_document"
    __table_args__ = (UniqueConstraint("client_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    client_id: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    operation_name: str | None = Field(default=None, max_length=255)
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts(default_factory=utcnow)


class TrustedDocumentsOnly(SQLModel, table=True):
    """A client (built-in or an external provider's) that may run only its trusted documents.

    Partners carry the same flag on their own row (`Partner.trusted_documents_only`); this
    table holds it for any other client, such as a first-party mobile app.
    """

    __tablename__ = "trusted_documents_only"

    client_id: str = Field(max_length=255, primary_key=True)
    created_at: datetime = _ts(default_factory=utcnow)


class LinkCode(SQLModel, table=True):
    """A one-time code that links a signed-in person to an existing customer.

    Only the code's SHA-256 is stored: the code itself is shown once, to the staff member who
    made it, and never written anywhere.
    """

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=255)
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None)


class IssuedToken(SQLModel, table=True):
    """An access token the built-in issuer signed: its id, for whom, until when.

    Only ``steward revoke`` reads it, to tell a token Steward issued from one it never saw.
    """

    __tablename__ = "issued_token"

    jti: str = Field(max_length=128, primary_key=True)
    client_id: str = Field(max_length=255)
    expires_at: datetime = _ts()


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_token"

    jti: str = Field(max_length=128, primary_key=True)
    revoked_at: datetime = _ts(default_factory=utcnow)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a model, for statements that bypass the ORM's unit of work."""
    return SQLModel.metadata.tables[str(model.__tablename__)]
