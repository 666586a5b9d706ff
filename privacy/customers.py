"""Customers' details: registered by staff, corrected by staff or by the customers themselves.

Inputs arrive as mappings of the fields given (attribute name → value; ``None`` clears a
field). Every value is validated and normalised before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from privacy import validation as v
from privacy.errors import InputError
from store import models
from store.ids import to_global_id
from store.models import utcnow

NAME = 100
SUBJECT = 255

FIELD_NAMES = {
    "first_name": "firstName",
    "last_name": "lastName",
    "date_of_birth": "dateOfBirth",
    "email": "email",
    "mobile_phone": "mobilePhone",
    "landline_phone": "landlinePhone",
    "preferred_language": "preferredLanguage",
}
"""A customer's writable details: attribute → input field name."""


def customer_fields(given: Mapping[str, Any], country: str, prefix: str) -> dict[str, Any]:
    """The validated details present in ``given``; card data is checked first."""
    v.reject_card_data(
        {
            f"{prefix}firstName": _text_or_none(given.get("first_name")),
            f"{prefix}lastName": _text_or_none(given.get("last_name")),
        }
    )
    checks: dict[str, Callable[[Any], Any]] = {
        "first_name": lambda x: v.text(x, field=f"{prefix}firstName", max_length=NAME),
        "last_name": lambda x: v.text(x, field=f"{prefix}lastName", max_length=NAME),
        "date_of_birth": lambda x: v.birth_date(x, field=f"{prefix}dateOfBirth"),
        "email": lambda x: v.email(x, field=f"{prefix}email"),
        "mobile_phone": lambda x: v.phone(
            x, field=f"{prefix}mobilePhone", country=country, kind="mobile"
        ),
        "landline_phone": lambda x: v.phone(
            x, field=f"{prefix}landlinePhone", country=country, kind="landline"
        ),
        "preferred_language": lambda x: v.language(x, field=f"{prefix}preferredLanguage"),
    }
    return {
        attribute: None if given[attribute] is None else check(given[attribute])
        for attribute, check in checks.items()
        if attribute in given
    }


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def create_customer(
    session: Session, given: Mapping[str, Any], subject: str | None
) -> models.Customer:
    """Validate and insert a customer; its subject defaults to its global id."""
    country = v.country(given["country"], field="input.country")
    values = customer_fields(given, country, "input.")
    if subject is not None:
        subject = v.identifier(subject, field="input.subject", max_length=SUBJECT)
    customer = models.Customer(country=country, **values)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    customer.subject = subject or to_global_id("Customer", customer.id)
    if subject is not None and session.scalar(
        select(col(models.Customer.id)).where(
            col(models.Customer.subject) == subject, col(models.Customer.id) != customer.id
        )
    ):
        raise InputError("input.subject", "input.subject is already linked to a customer")
    session.flush()
    return customer


def update_customer(
    session: Session, customer: models.Customer, given: Mapping[str, Any]
) -> list[str]:
    """Correct a customer's details; returns the input names of the fields changed."""
    values = customer_fields(given, customer.country, "input.")
    for attribute, value in values.items():
        setattr(customer, attribute, value)
    touch(customer)
    session.flush()
    return [FIELD_NAMES[attribute] for attribute in values]


def touch(customer: models.Customer) -> None:
    """Mark the customer as changed now."""
    customer.updated_at = utcnow()
