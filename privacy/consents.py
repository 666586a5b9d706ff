"""The consent ledger: append-only; the current state for a purpose is its latest record."""

from __future__ import annotations

from sqlalchemy.orm import Session

from auth.policy.purposes import Purpose
from privacy import validation as v
from privacy.errors import InputError
from store import models
from store.models import ConsentSource, ConsentStatus

POLICY_VERSION = 32


def record_consent(
    session: Session,
    customer: models.Customer,
    purpose: Purpose,
    granted: bool,
    source: ConsentSource,
    policy_version: str | None = None,
) -> models.Consent:
    """Append a consent record; the ledger is never rewritten."""
    assert customer.id is not None
    consent = models.Consent(
        customer_id=customer.id,
        purpose=purpose.value,
        status=ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN,
        source=source.value,
        policy_version=None
        if policy_version is None
        else v.text(policy_version, field="policyVersion", max_length=POLICY_VERSION),
    )
    session.add(consent)
    session.flush()
    return consent


def require_consent_based(purpose: Purpose) -> None:
    """Refuse a purpose that customers cannot grant or withdraw themselves.

    The other purposes rest on the contract or the law, not on consent (the notices): a record
    for them would change nothing and would mislead the customer into thinking it did.
    """
    if not purpose.consent_required:
        choices = ", ".join(p.name for p in Purpose if p.consent_required)
        raise InputError(
            "purpose",
            f"purpose is not based on consent; customers may grant or withdraw: {choices}",
        )
