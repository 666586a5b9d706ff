"""Partners: OAuth clients that are third parties, and the documents they may run.

A partner is a client of one issuer, registered by (issuer, client id): the built-in issuer's
(the default), or an external provider's ``client_id``/``azp``/``cid`` under its ``iss``. A
token of another issuer with the same client id is not that partner (SPEC section 7, v5). A
client id names one partner at a time, whatever its issuer: consent recipients and
disclosures name partners by client id (SPEC section 8). Its requests see only the customers
who consented to share their data with it (`auth.policy.rows`); removing it refuses its tokens
from the next request on (`auth.tokens.authentication`). A partner may register trusted
documents: GraphQL operations stored under the SHA-256 of their text, which requests name by
``documentId`` (``/graphql``). Removal keeps a tombstone, as for clients.

Trusted documents are not for partners only: any client — a first-party mobile app, a client
of the external provider — may register documents (`register`) and be limited to them
(`restrict`), so that it runs only the operations it ships.

The functions take a session and leave the transaction to the caller::

    with transaction(sessions) as session:
        add(session, "courier-7", "Tehran Express Couriers", trusted_documents_only=True)
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlmodel import col, select

from store.models import BUILTIN_ISSUER, Partner, TrustedDocument, TrustedDocumentsOnly, utcnow

__all__ = [
    "MAX_CLIENT_ID",
    "MAX_NAME",
    "NOT_A_PARTNER",
    "PartnerError",
    "Registered",
    "add",
    "allow",
    "document_id",
    "documents",
    "find_active",
    "find_document",
    "is_restricted",
    "list_partners",
    "register",
    "remove",
    "restrict",
]

MAX_NAME = 200
MAX_CLIENT_ID = 255


class PartnerError(ValueError):
    """A partner registration that Steward refuses; nothing was stored."""


NOT_A_PARTNER = "no active partner with that client id"


@dataclass(frozen=True, slots=True)
class Registered:
    """A document as ``allow`` stored it.

    Attributes:
        sha256: the SHA-256 of ``body``, lower-case hex.
        operation_name: the name of its operation, if it has one.
        body: the document's text, exactly as hashed.
        new: whether it was not registered for the partner before.
    """

    sha256: str
    operation_name: str | None
    body: str
    new: bool


def document_id(body: str) -> str:
    """The SHA-256 of a document's text, lower-case hex (Apollo's ``sha256Hash``)."""
    return hashlib.sha256(body.encode()).hexdigest()


def _client_id(client_id: str) -> str:
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

    Raises:
        PartnerError: an empty or over-long client id, issuer or name, one with control
            characters, or a client id that is an active partner of another issuer.
    """
    client_id = _client_id(client_id)
    name = _name(name)
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
    partner.removed_at = None
    session.add(partner)
    session.flush()
    return partner


def list_partners(session: Session) -> list[Partner]:
    """The active partners, oldest first."""
    return list(
        session.scalars(
            select(Partner).where(col(Partner.removed_at).is_(None)).order_by(col(Partner.id))
        )
    )


def find_active(session: Session, client_id: str) -> Partner | None:
    """The partner ``client_id`` unless it is unknown or removed."""
    return session.scalars(
        select(Partner).where(
            col(Partner.client_id) == client_id, col(Partner.removed_at).is_(None)
        )
    ).first()


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


def allow(
    session: Session, client_id: str, operations: Iterable[tuple[str | None, str]]
) -> list[Registered]:
    """Register documents for a partner, each under the SHA-256 of its text.

    Args:
        session: where the registry is.
        client_id: an active partner's client id.
        operations: ``(operation name, document text)`` pairs, already parsed and validated
            against the schema by the caller; a text registered before is kept once.

    Raises:
        PartnerError: ``client_id`` is not an active partner.
    """
    if find_active(session, client_id) is None:
        raise PartnerError(NOT_A_PARTNER)
    return register(session, client_id, operations)


def register(
    session: Session, client_id: str, operations: Iterable[tuple[str | None, str]]
) -> list[Registered]:
    """Register documents for any client (a partner's, a first-party app's), as `allow` does.

    Raises:
        PartnerError: an empty or over-long client id, or one with control characters.
    """
    client_id = _client_id(client_id)
    registered: list[Registered] = []
    seen: set[str] = set()
    for operation_name, body in operations:
        sha256 = document_id(body)
        if sha256 in seen:
            continue
        seen.add(sha256)
        existing = session.scalars(
            select(TrustedDocument).where(
                col(TrustedDocument.client_id) == client_id, col(TrustedDocument.sha256) == sha256
            )
        ).first()
        if existing is None:
            session.add(
                TrustedDocument(
                    client_id=client_id, sha256=sha256, operation_name=operation_name, body=body
                )
            )
        registered.append(Registered(sha256, operation_name, body, new=existing is None))
    session.flush()
    return registered


def restrict(session: Session, client_id: str, *, only: bool) -> None:
    """Let any client (``only``) run nothing but its registered documents, or anything again.

    A partner's own flag is set too, so that ``steward partners list`` shows it.

    Raises:
        PartnerError: an empty or over-long client id, or one with control characters.
    """
    client_id = _client_id(client_id)
    marked = session.get(TrustedDocumentsOnly, client_id)
    if only and marked is None:
        session.add(TrustedDocumentsOnly(client_id=client_id))
    elif not only and marked is not None:
        session.delete(marked)
    partner = find_active(session, client_id)
    if partner is not None:
        partner.trusted_documents_only = only
    session.flush()


def is_restricted(session: Session, client_id: str) -> bool:
    """Whether ``client_id`` may run only its registered documents."""
    partner = find_active(session, client_id)
    marked = session.get(TrustedDocumentsOnly, client_id) is not None
    return marked or (partner is not None and partner.trusted_documents_only)


def documents(session: Session, client_id: str) -> list[TrustedDocument]:
    """The documents registered for ``client_id`` (a partner's or any client's), oldest first."""
    return list(
        session.scalars(
            select(TrustedDocument)
            .where(col(TrustedDocument.client_id) == client_id)
            .order_by(col(TrustedDocument.id))
        )
    )


def find_document(session: Session, sha256: str, client_id: str | None) -> str | None:
    """The text of a registered document, or ``None``.

    Args:
        session: where the registry is.
        sha256: the document's id, lower-case hex.
        client_id: only the documents of this partner (a trusted-documents-only partner);
            ``None``: a document registered by any partner.
    """
    statement = select(col(TrustedDocument.body)).where(col(TrustedDocument.sha256) == sha256)
    if client_id is not None:
        statement = statement.where(col(TrustedDocument.client_id) == client_id)
    return session.scalars(statement.limit(1)).first()
