"""The consent ledger: append-only; the current state for a purpose is its latest record.

``third_party_sharing`` records name a ``recipient``: a partner's client id, or none for every
partner. The current consent of a customer for a partner is the latest record for that partner
or for every partner (`auth.policy.row_rules.current_consent`). A granted record may carry a
``valid_until`` (conditional consent): past it, it counts as withdrawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.purposes import Purpose
from privacy import validation as v
from privacy.errors import InputError
from store import models
from store.models import ConsentSource, ConsentStatus, utcnow

POLICY_VERSION = 32
NOTICE_VERSION = 32
SIGN_UP_SOURCES = frozenset({ConsentSource.WEB, ConsentSource.MOBILE})
"""Where a customer who registers themselves can have chosen: an app on the web or a phone."""


def record_consent(
    session: Session,
    customer: models.Customer,
    purpose: Purpose,
    granted: bool,
    source: ConsentSource,
    policy_version: str | None = None,
    recipient: str | None = None,
    *,
    notice_version: str | None = None,
    language: str | None = None,
    valid_until: datetime | None = None,
    field: str = "",
    recorded_at: dt.datetime | None = None,
) -> models.Consent:
    """Append a consent record; the ledger is never rewritten.

    Args:
        session: the request's session.
        customer: whose consent it is.
        purpose: what it is for.
        granted: granted, or withdrawn.
        source: where it was given.
        policy_version: the version of the policy it was given under.
        recipient: ``third_party_sharing`` only: one partner's client id, or every partner.
        notice_version: evidence: the version of the privacy notice the customer was shown.
        language: evidence: the language of that notice (a BCP 47 tag).
        valid_until: a granted consent's end (conditional consent): past it, the consent
            counts as withdrawn.
        field: the prefix of the input's field names in errors (``input.consents.0.``).
        recorded_at: when it was given, if not now (a history loaded as demo data).

    Raises:
        InputError: a ``recipient`` for a purpose other than ``third_party_sharing``, or one
            that is not an active partner's client id (field ``recipient``); a notice version
            or language that is not one; a ``valid_until`` on a withdrawal, without a time
            zone, or not in the future (field ``validUntil``).
    """
    assert customer.id is not None
    if recipient is not None:
        _require_partner(session, purpose, recipient, f"{field}recipient")
    if valid_until is not None:
        _check_valid_until(valid_until, granted, f"{field}validUntil")
    consent = models.Consent(
        customer_id=customer.id,
        purpose=purpose.value,
        status=ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN,
        source=source.value,
        policy_version=None
        if policy_version is None
        else v.text(policy_version, field="policyVersion", max_length=POLICY_VERSION),
        recipient=recipient,
        notice_version=None
        if notice_version is None
        else v.text(notice_version, field=f"{field}noticeVersion", max_length=NOTICE_VERSION),
        language=None if language is None else v.language(language, field=f"{field}language"),
        valid_until=valid_until,
    )
    if recorded_at is not None:
        consent.recorded_at = recorded_at
    session.add(consent)
    session.flush()
    return consent


def _check_valid_until(valid_until: datetime, granted: bool, field: str) -> None:
    if not granted:
        raise InputError(field, f"{field} applies to a granted consent only")
    if valid_until.tzinfo is None:
        raise InputError(field, f"{field} needs a time zone offset")
    if valid_until <= utcnow():
        raise InputError(field, f"{field} must be in the future")


@dataclass(frozen=True, slots=True)
class Choice:
    """A consent chosen at sign-up, with the evidence of the notice the customer was shown.

    Attributes:
        purpose: a consent-based purpose.
        granted: granted, or declined.
        source: ``WEB`` or ``MOBILE``.
        notice_version: the version of the privacy notice shown.
        language: the language it was shown in.
        recipient: ``third_party_sharing`` only: one partner, or every partner.
    """

    purpose: Purpose
    granted: bool
    source: ConsentSource
    notice_version: str
    language: str
    recipient: str | None = None


def record_choices(
    session: Session, customer: models.Customer, choices: Sequence[Choice], field: str
) -> list[models.Consent]:
    """Record the consents a customer chose when registering, in order.

    Raises:
        InputError: a purpose that is not consent-based, or chosen twice (for the same
            recipient); a source other than WEB or MOBILE; bad evidence.
    """
    seen: set[tuple[Purpose, str | None]] = set()
    records = []
    for index, choice in enumerate(choices):
        prefix = f"{field}.{index}."
        require_consent_based(choice.purpose, f"{prefix}purpose")
        if (choice.purpose, choice.recipient) in seen:
            raise InputError(f"{prefix}purpose", f"{prefix}purpose is chosen twice")
        seen.add((choice.purpose, choice.recipient))
        if choice.source not in SIGN_UP_SOURCES:
            raise InputError(f"{prefix}source", f"{prefix}source must be WEB or MOBILE")
        records.append(
            record_consent(
                session,
                customer,
                choice.purpose,
                choice.granted,
                choice.source,
                recipient=choice.recipient,
                notice_version=choice.notice_version,
                language=choice.language,
                field=prefix,
            )
        )
    return records


def require_consent_based(purpose: Purpose, field: str = "purpose") -> None:
    """Refuse a purpose that customers cannot grant or withdraw themselves.

    The other purposes rest on the contract or the law, not on consent (the notices): a record
    for them would change nothing and would mislead the customer into thinking it did.
    """
    if not purpose.consent_required:
        choices = ", ".join(p.name for p in Purpose if p.consent_required)
        raise InputError(
            field,
            f"{field} is not based on consent; customers may grant or withdraw: {choices}",
        )


def _require_partner(session: Session, purpose: Purpose, recipient: str, field: str) -> None:
    if purpose is not Purpose.THIRD_PARTY_SHARING:
        raise InputError(field, "only third_party_sharing consents name a recipient")
    partner = session.scalar(
        select(col(models.Partner.id)).where(
            col(models.Partner.client_id) == recipient, col(models.Partner.removed_at).is_(None)
        )
    )
    if partner is None:
        raise InputError(field, f"{field} is not the client id of a registered partner")
