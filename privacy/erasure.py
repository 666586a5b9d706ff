"""Erasure: data is kept until the customer cancels it, or asks for it to be cancelled."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from auth.policy.catalog import personal_columns
from auth.policy.purposes import Purpose
from privacy import validation as v
from privacy.consents import record_consent
from store import models
from store.models import ConsentSource, CustomerStatus, utcnow

PERSONAL_FIELDS = personal_columns("Customer")
"""The customer's personal columns, blanked by erasure (the notices' "account" details): the
catalog's erasable fields."""

SELF_SERVICE_SOURCE = ConsentSource.WEB
"""How consents given or withdrawn by the customers themselves are recorded."""

STAFF_SOURCE = ConsentSource.CALL_CENTER
"""How the withdrawals of an erasure done by staff on the customer's request are recorded."""

SELF_ERASURE_REASON = "Requested by the customer (self-service)."
REASON = 500


def stated_reason(reason: str | None) -> str | None:
    """The validated reason staff give for an erasure."""
    return None if reason is None else v.text(reason, field="reason", max_length=REASON)


def erase(
    session: Session, customer: models.Customer, *, reason: str | None, source: ConsentSource
) -> bool:
    """Erase a customer as SPEC section 4 says; returns whether anything changed.

    Deletes the addresses (orders keep no shipping address) and usage events, blanks the
    personal fields, appends a WITHDRAWN record for every purpose, and marks the customer
    ERASED with the time and the reason. Orders stay, with their numbers, amounts and payment
    references (accounting retention); consents and access records stay (they prove what was
    allowed and who saw what). ``subject`` stays: it is an opaque identifier, not personal
    content, and it lets the customer still sign in to confirm the erasure (``me``), see who
    saw their data (``me { accessLog }``) and their retained orders.

    Erasing an erased customer changes nothing and appends nothing. Call it inside a savepoint:
    a failure midway undoes every step.
    """
    if customer.status == CustomerStatus.ERASED:
        return False
    now = utcnow()
    _blank(session, customer, now)
    _delete_personal_rows(session, customer)
    _withdraw_everything(session, customer, source)
    customer.status = CustomerStatus.ERASED
    customer.erased_at = now
    customer.erasure_reason = reason
    session.flush()
    return True


def _blank(session: Session, customer: models.Customer, now: dt.datetime) -> None:
    for attribute in PERSONAL_FIELDS:
        setattr(customer, attribute, None)
    customer.updated_at = now
    session.flush()


def _delete_personal_rows(session: Session, customer: models.Customer) -> None:
    addresses = select(col(models.Address.id)).where(col(models.Address.customer_id) == customer.id)
    # The foreign key would do this too (ON DELETE SET NULL); saying it keeps the ORM in step.
    session.execute(
        update(models.Order)
        .where(col(models.Order.shipping_address_id).in_(addresses))
        .values(shipping_address_id=None)
    )
    session.execute(delete(models.Address).where(col(models.Address.customer_id) == customer.id))
    session.execute(
        delete(models.UsageEvent).where(col(models.UsageEvent.customer_id) == customer.id)
    )


def _withdraw_everything(
    session: Session, customer: models.Customer, source: ConsentSource
) -> None:
    for purpose in Purpose:
        record_consent(session, customer, purpose, False, source)
