"""Self-service: what customers do with their own record, as the privacy notices promise it.

Customers keep their own details current, add and remove their addresses, grant and withdraw
their consents, and erase their personal data. Each use case acts on the caller's own record
(`privacy.lookups.own_customer`, locked for the transaction) and records how the service was
used as a usage event (`privacy.usage`), never with a personal value. The GraphQL mutations
(``updateMe``, ``addMyAddress``, ``removeMyAddress``, ``setMyConsent``, ``eraseMe``) are thin
adapters over these functions; each runs them in a savepoint, so that refused input or a
failure midway leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from auth.policy.purposes import Purpose
from auth.policy.request import RequestScope
from privacy import addresses, consents, customers, erasure, lookups
from privacy.usage import UsageKind, record_usage
from store import models


def update_me(session: Session, actor: RequestScope, given: Mapping[str, Any]) -> models.Customer:
    """Correct the caller's own details (the input fields ``given``)."""
    customer = lookups.own_customer(session, actor)
    changed = customers.update_customer(session, customer, given)
    if changed:
        record_usage(session, customer, UsageKind.UPDATED_PROFILE, f"changed {', '.join(changed)}")
    return customer


def add_my_address(
    session: Session, actor: RequestScope, given: Mapping[str, Any]
) -> models.Address:
    """Add an address of the caller's own."""
    customer = lookups.own_customer(session, actor)
    address = addresses.add_address(session, customer, given)
    record_usage(session, customer, UsageKind.ADDED_ADDRESS, f"label {address.label}")
    return address


def remove_my_address(session: Session, actor: RequestScope, address_id: str) -> None:
    """Remove one of the caller's addresses, named by its global id (`privacy.errors.NotFound`
    for anyone else's)."""
    customer = lookups.own_customer(session, actor)
    pk = lookups.pk_argument(address_id, "Address", "id")
    address = lookups.own_address(session, customer, pk)
    label = address.label
    addresses.remove_address(session, address)
    customers.touch(customer)
    record_usage(session, customer, UsageKind.REMOVED_ADDRESS, f"label {label}")


def set_my_consent(
    session: Session,
    actor: RequestScope,
    purpose: Purpose,
    granted: bool,
    *,
    recipient: str | None = None,
    notice_version: str | None = None,
    language: str | None = None,
) -> models.Consent:
    """Grant or withdraw the caller's consent to a consent-based purpose (for every partner
    or, with ``recipient``, for one), with the evidence of the notice shown."""
    consents.require_consent_based(purpose)
    customer = lookups.own_customer(session, actor)
    consent = consents.record_consent(
        session,
        customer,
        purpose,
        granted,
        erasure.SELF_SERVICE_SOURCE,
        recipient=recipient,
        notice_version=notice_version,
        language=language,
    )
    kind = UsageKind.GRANTED_CONSENT if granted else UsageKind.WITHDREW_CONSENT
    detail = f"purpose {purpose.id}" + ("" if recipient is None else f" for {recipient}")
    record_usage(session, customer, kind, detail)
    return consent


def erase_me(session: Session, actor: RequestScope) -> models.Customer:
    """Erase the caller's personal data; erasing again changes nothing."""
    customer = lookups.own_customer(session, actor, erased=True)
    erasure.erase(
        session,
        customer,
        reason=erasure.SELF_ERASURE_REASON,
        source=erasure.SELF_SERVICE_SOURCE,
    )
    return customer
