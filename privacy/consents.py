"""The consent ledger: append-only; the current state for a purpose is its latest record.

``third_party_sharing`` records name a ``recipient``: a partner's client id, or none for every
partner. The current consent of a customer for a partner is the latest record for that partner
or for every partner (`auth.policy.rows.current_consent`).
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlmodel import col, select

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
    recipient: str | None = None,
) -> models.Consent:
    """Append a consent record; the ledger is never rewritten.

    Raises:
        InputError: a ``recipient`` for a purpose other than ``third_party_sharing``, or one
            that is not an active partner's client id (field ``recipient``).
    """
    assert customer.id is not None
    if recipient is not None:
        _require_partner(session, purpose, recipient)
    consent = models.Consent(
        customer_id=customer.id,
        purpose=purpose.value,
        status=ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN,
        source=source.value,
        policy_version=None
        if policy_version is None
        else v.text(policy_version, field="policyVersion", max_length=POLICY_VERSION),
        recipient=recipient,
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


def _require_partner(session: Session, purpose: Purpose, recipient: str) -> None:
    if purpose is not Purpose.THIRD_PARTY_SHARING:
        raise InputError("recipient", "only third_party_sharing consents name a recipient")
    partner = session.scalar(
        select(col(models.Partner.id)).where(
            col(models.Partner.client_id) == recipient, col(models.Partner.removed_at).is_(None)
        )
    )
    if partner is None:
        raise InputError("recipient", "recipient is not the client id of a registered partner")
