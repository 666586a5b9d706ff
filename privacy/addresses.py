"""Customers' addresses: where they live, install and are billed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from privacy import validation as v
from privacy.customers import NAME, touch
from privacy.errors import InputError
from store import models

LINE = 200
REQUIRED = frozenset({"label", "line1", "city", "is_default"})


def address_fields(given: Mapping[str, Any], country: str, prefix: str) -> dict[str, Any]:
    """The validated address fields present in ``given``; card data is checked first."""
    v.reject_card_data(
        {
            f"{prefix}{name}": given[name] if isinstance(given.get(name), str) else None
            for name in ("line1", "line2", "city", "region")
        }
    )
    checks: dict[str, Callable[[Any], Any]] = {
        "label": lambda x: x.value,
        "line1": lambda x: v.text(x, field=f"{prefix}line1", max_length=LINE),
        "line2": lambda x: v.text(x, field=f"{prefix}line2", max_length=LINE),
        "city": lambda x: v.text(x, field=f"{prefix}city", max_length=NAME),
        "region": lambda x: v.text(x, field=f"{prefix}region", max_length=NAME),
        "postal_code": lambda x: v.postal_code(x, field=f"{prefix}postalCode", country=country),
        "latitude": lambda x: v.latitude(x, field=f"{prefix}latitude"),
        "longitude": lambda x: v.longitude(x, field=f"{prefix}longitude"),
        "is_default": bool,
    }
    values: dict[str, Any] = {}
    for attribute, check in checks.items():
        if attribute not in given:
            continue
        value = given[attribute]
        if value is None and attribute in REQUIRED:
            raise InputError(f"{prefix}{attribute}", f"{prefix}{attribute} cannot be null")
        values[attribute] = None if value is None else check(value)
    return values


def add_address(
    session: Session, customer: models.Customer, given: Mapping[str, Any]
) -> models.Address:
    """Validate and add an address of ``customer``; its country defaults to the customer's."""
    country = v.country(given.get("country") or customer.country, field="input.country")
    values = address_fields({k: x for k, x in given.items() if k != "country"}, country, "input.")
    assert customer.id is not None
    address = models.Address(customer_id=customer.id, country=country, **values)
    session.add(address)
    session.flush()
    if address.is_default:
        _make_default(session, address)
    touch(customer)
    session.flush()
    return address


def update_address(
    session: Session, address: models.Address, given: Mapping[str, Any]
) -> models.Address:
    """Validate and apply the fields given."""
    for attribute, value in address_fields(given, address.country, "input.").items():
        setattr(address, attribute, value)
    if address.is_default:
        _make_default(session, address)
    session.flush()
    return address


def remove_address(session: Session, address: models.Address) -> None:
    """Delete an address (orders shipped to it keep no shipping address)."""
    session.delete(address)
    session.flush()


def _make_default(session: Session, address: models.Address) -> None:
    others = session.scalars(
        select(models.Address).where(
            col(models.Address.customer_id) == address.customer_id,
            col(models.Address.id) != address.id,
            col(models.Address.is_default).is_(True),
        )
    )
    for other in others:
        other.is_default = False
