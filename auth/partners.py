"""Partners: OAuth clients that are third parties.

A partner is a client of one issuer, registered by (issuer, client id): the built-in issuer's
(the default), or an external provider's ``client_id``/``azp``/``cid`` under its ``iss``. A
token of another issuer with the same client id is not that partner (SPEC section 7, v5). A
client id names one partner at a time, whatever its issuer: consent recipients and
disclosures name partners by client id (SPEC section 8). Its requests see only the customers
who consented to share their data with it (`auth.policy.row_rules`); removing it refuses its
tokens from the next request on (`auth.tokens.authentication`). A partner may register trusted
documents (`auth.trusted_documents`). Removal keeps a tombstone, as for clients.

The functions take a session and leave the transaction to the caller::

    with transaction(sessions) as session:
        add(session, "courier-7", "Tehran Express Couriers", trusted_documents_only=True)
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy.orm import Session
from sqlmodel import col, select

from store.models import BUILTIN_ISSUER, Partner, PartnerAccess, utcnow

__all__ = [
    "MAX_CLIENT_ID",
    "MAX_NAME",
    "NOT_A_PARTNER",
    "PartnerError",
    "add",
    "checked_client_id",
    "find_active",
    "list_partners",
    "remove",
]

MAX_NAME = 200
MAX_CLIENT_ID = 255


class PartnerError(ValueError):
    """A partner registration that Steward refuses; nothing was stored."""


NOT_A_PARTNER = "no active partner with that client id"


def checked_client_id(client_id: str) -> str:
    if not client_id or len(client_id) > MAX_CLIENT_ID or _has_control(client_id):
        raise PartnerError(
            f"a client id has 1 to {MAX_CLIENT_ID} characters and no control characters"
        )
    return client_id


def _name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise PartnerError("a partner needs a name")
    if len(name) > MAX_NAME:
        raise PartnerError(f"a partner's name has at most {MAX_NAME} characters")
    if _has_control(name):
        raise PartnerError("a partner's name may not contain control characters")
    return name


def _has_control(text: str) -> bool:
    return any(unicodedata.category(char) in ("Cc", "Cf") for char in text)


def add(
    session: Session,
    client_id: str,
    name: str,
    *,
    issuer: str = BUILTIN_ISSUER,
    trusted_documents_only: bool = False,
    access: PartnerAccess = PartnerAccess.ASSIGNED,
    until: datetime | None = None,
) -> Partner:
    """Register ``client_id`` of ``issuer`` as a partner, or update the registration of an
    active one.

    A removed partner registered again is a partner again, with the new issuer, name and flag;
    so is one registered before issuers were told apart (its issuer unknown).

    Args:
        session: where the partners are.
        client_id: the client's id.
        name: the partner's display name.
        issuer: `BUILTIN_ISSUER`, or an external provider's exact ``iss``.
        trusted_documents_only: it may run only its registered documents.
        access: ``assigned``: it sees only the orders assigned to it; ``consented``: every
            customer who consented to share with it (SPEC section 13).
        until: when its registration ends (its tokens are refused from then on); ``None``:
            no end.

    Raises:
        PartnerError: an empty or over-long client id, issuer or name, one with control
            characters, a client id that is an active partner of another issuer, or an
            ``until`` that is not in the future.
    """
    client_id = checked_client_id(client_id)
    name = _name(name)
    if until is not None and (until.tzinfo is None or until <= utcnow()):
        raise PartnerError("--until must be a time in the future, with its time zone")
    if len(issuer) > MAX_CLIENT_ID or _has_control(issuer):
        raise PartnerError(f"an issuer has at most {MAX_CLIENT_ID} characters and no controls")
    partner = session.scalars(select(Partner).where(col(Partner.client_id) == client_id)).first()
    if partner is None:
        partner = Partner(client_id=client_id, name=name)
    elif partner.removed_at is None and partner.issuer not in (None, issuer):
        raise PartnerError("that client id is an active partner of another issuer; remove it first")
    partner.issuer = issuer
    partner.name = name
    partner.trusted_documents_only = trusted_documents_only
    partner.access = access.value
    partner.until = until
    partner.removed_at = None
    session.add(partner)
    session.flush()
    return partner


def list_partners(session: Session) -> list[Partner]:
    """The partners not removed (those past their ``until`` too), oldest first."""
    return list(
        session.scalars(
            select(Partner).where(col(Partner.removed_at).is_(None)).order_by(col(Partner.id))
        )
    )


def find_active(session: Session, client_id: str) -> Partner | None:
    """The partner ``client_id`` unless it is unknown, removed, or past its ``until``."""
    partner = session.scalars(
        select(Partner).where(
            col(Partner.client_id) == client_id, col(Partner.removed_at).is_(None)
        )
    ).first()
    if partner is not None and partner.until is not None and partner.until <= utcnow():
        return None
    return partner


def remove(session: Session, client_id: str) -> bool:
    """Remove a partner: its tokens are refused from the next request on, on every replica.

    Returns whether an active partner was removed.
    """
    partner = find_active(session, client_id)
    if partner is None:
        return False
    partner.removed_at = utcnow()
    session.add(partner)
    session.flush()
    return True
