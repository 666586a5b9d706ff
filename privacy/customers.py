"""Customers' details: registered by staff, corrected by staff or by the customers themselves.

Inputs arrive as mappings of the fields given (attribute name → value; ``None`` clears a
field). Every value is validated and normalised before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.principal import Issuers
from privacy import validation as v
from privacy.errors import InputError
from store import models
from store.ids import InvalidGlobalId, from_global_id, to_global_id
from store.models import BUILTIN_ISSUER, utcnow

NAME = 100
SUBJECT = 255
SUBJECT_TAKEN = "input.subject is already linked to a customer"
REGISTERED = "Your sign-in is already linked to a customer."
RESERVED = "This sign-in's subject is a customer id of Steward's own issuer: it cannot be linked."
UNLINKABLE = (
    f"This sign-in's subject cannot be linked: it is not 1 to {SUBJECT} printable ASCII characters."
)
SUBJECT_FIELDS = ("subject", "subject_issuer")
"""The link of a customer to a sign-in: staff set it, customers never set their own."""

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
    session: Session,
    given: Mapping[str, Any],
    subject: str | None,
    issuers: Issuers,
    subject_issuer: str | None = None,
) -> models.Customer:
    """Validate and insert a customer, linked to the tokens of one (issuer, subject) pair.

    Without ``subject``, the pair is the built-in issuer and the customer's global id. An
    explicit ``subject`` belongs to ``subject_issuer``: by default the external provider when
    one is trusted, else the built-in issuer. A pair already linked is refused, even when a
    concurrent request links it first (the unique index decides; its violation rolls back a
    savepoint and is refused the same way).
    """
    country = v.country(given["country"], field="input.country")
    values = customer_fields(given, country, "input.")
    if subject is None and subject_issuer is not None:
        raise InputError("input.subjectIssuer", "input.subjectIssuer needs input.subject")
    link = None if subject is None else _link(subject, subject_issuer, issuers)
    if link is not None and _is_linked(session, link):
        raise InputError("input.subject", SUBJECT_TAKEN)
    customer = models.Customer(country=country, **values)
    if link is not None:
        customer.subject_issuer, customer.subject = link
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        raise InputError("input.subject", SUBJECT_TAKEN) from None
    assert customer.id is not None
    if link is None:
        customer.subject = to_global_id("Customer", customer.id)
        session.flush()
    return customer


def _link(subject: str, issuer: str | None, issuers: Issuers) -> tuple[str, str]:
    """The stored (issuer, subject) pair an explicit subject links to."""
    subject = v.subject(subject, field="input.subject", max_length=SUBJECT)
    trusted = [each for each in (issuers.external, issuers.builtin) if each]
    if issuer is None:
        issuer = trusted[0] if trusted else None
    if issuer is None or issuer not in trusted:
        raise InputError("input.subjectIssuer", "input.subjectIssuer is not a trusted issuer")
    stored = issuers.stored(issuer)
    if stored == BUILTIN_ISSUER and _is_customer_id(subject):
        # The built-in issuer's default subjects are customers' global ids: taking one now
        # would block the creation of the customer that gets that id later.
        raise InputError("input.subject", "input.subject may not be a customer id")
    return stored, subject


def is_reserved(link: tuple[str, str]) -> bool:
    """Whether a stored (issuer, subject) pair is kept for a customer's default link: a
    customer's global id under the built-in issuer, which the customer with that id gets
    when it is created, so nobody else may take it first."""
    issuer, subject = link
    return issuer == BUILTIN_ISSUER and _is_customer_id(subject)


def is_linkable(link: tuple[str, str]) -> bool:
    """Whether a signed-in person's stored pair fits a customer's link: a trusted provider
    may still sign a ``sub`` no column holds (longer than 255, control characters)."""
    return v.is_subject(link[1], max_length=SUBJECT)


def _is_customer_id(subject: str) -> bool:
    try:
        kind, _ = from_global_id(subject)
    except InvalidGlobalId:
        return False
    return kind == "Customer"


def _is_linked(session: Session, link: tuple[str, str]) -> bool:
    issuer, subject = link
    found = session.scalar(
        select(col(models.Customer.id)).where(
            col(models.Customer.subject_issuer) == issuer, col(models.Customer.subject) == subject
        )
    )
    return found is not None


def update_customer(
    session: Session,
    customer: models.Customer,
    given: Mapping[str, Any],
    issuers: Issuers | None = None,
) -> list[str]:
    """Correct a customer's details; returns the input names of the fields changed.

    ``subject`` (with ``subject_issuer``) links the customer to another sign-in, and ``None``
    back to its default pair; only staff may, so without ``issuers`` they are refused.
    """
    link = _new_link(session, customer, given, issuers)
    values = customer_fields(given, customer.country, "input.")
    for attribute, value in values.items():
        setattr(customer, attribute, value)
    changed = [FIELD_NAMES[attribute] for attribute in values]
    if link is not None:
        customer.subject_issuer, customer.subject = link
        changed.append("subject")
    touch(customer)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise InputError("input.subject", SUBJECT_TAKEN) from None
    return changed


def _new_link(
    session: Session,
    customer: models.Customer,
    given: Mapping[str, Any],
    issuers: Issuers | None,
) -> tuple[str, str] | None:
    """The (stored issuer, subject) pair an update links the customer to, if it names one."""
    if not any(name in given for name in SUBJECT_FIELDS):
        return None
    if issuers is None:
        raise InputError("input.subject", "input.subject is set by staff (updateCustomer) only")
    subject = given.get("subject")
    issuer = given.get("subject_issuer")
    if subject is None:
        if issuer is not None:
            raise InputError("input.subjectIssuer", "input.subjectIssuer needs input.subject")
        assert customer.id is not None
        return BUILTIN_ISSUER, to_global_id("Customer", customer.id)
    link = _link(subject, issuer, issuers)
    if link != (customer.subject_issuer, customer.subject) and _is_linked(session, link):
        raise InputError("input.subject", SUBJECT_TAKEN)
    return link


def register_customer(
    session: Session, given: Mapping[str, Any], person: tuple[str, str]
) -> models.Customer:
    """Insert the customer a signed-in person registers as, linked to their pair.

    Args:
        session: the request's session.
        given: the details, as for `create_customer` (no subject: the pair is ``person``).
        person: the caller's stored (issuer, subject) pair.

    Raises:
        InputError: the pair is already linked to a customer, now or by a concurrent
            request (two tabs: the unique index decides, the loser gets the same error).
    """
    country = v.country(given["country"], field="input.country")
    values = customer_fields(given, country, "input.")
    if _is_linked(session, person):
        raise InputError("input", REGISTERED)
    if is_reserved(person):
        raise InputError("input", RESERVED)
    if not is_linkable(person):
        raise InputError("input", UNLINKABLE)
    issuer, subject = person
    customer = models.Customer(country=country, subject_issuer=issuer, subject=subject, **values)
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:
        raise InputError("input", REGISTERED) from None
    return customer


def touch(customer: models.Customer) -> None:
    """Mark the customer as changed now."""
    customer.updated_at = utcnow()
