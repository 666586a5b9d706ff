"""Trusted documents: GraphQL operations a client registers, and may be limited to.

A document is stored under the SHA-256 of its text, which requests name by ``documentId``
(``/graphql``). Trusted documents are not for partners only: any client — a first-party mobile
app, a client of the external provider — may register documents (`register`) and be limited to
them (`restrict`), so that it runs only the operations it ships.

The functions take a session and leave the transaction to the caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.partners import NOT_A_PARTNER, PartnerError, checked_client_id, find_active
from store.models import TrustedDocument, TrustedDocumentsOnly

__all__ = [
    "Registered",
    "allow",
    "document_id",
    "documents",
    "find_document",
    "is_restricted",
    "register",
    "restrict",
]


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
    client_id = checked_client_id(client_id)
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
    client_id = checked_client_id(client_id)
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
