"""A request's scope: the policy decided once, before execution, for one caller and purpose.

``/graphql`` makes two calls: `declare` when it reads the headers (before the document), and
`open_scope` inside the request's transaction. Everything the executors need to enforce the
policy — the field plan, the row rules, the customer the caller is — comes out of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, Select, String, bindparam
from sqlalchemy import select as core_select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy import scopes
from auth.policy.errors import (
    InvalidLegalReference,
    LegalReferenceRequired,
    PurposeNotPermitted,
    UnknownPurpose,
)
from auth.policy.forms import PseudonymKeys, recipient_key
from auth.policy.plan import Plan
from auth.policy.principal import Issuers, Principal
from auth.policy.purposes import Purpose
from auth.policy.row_rules import ASSIGNMENT_DAYS, RowScope
from store.models import Customer, LegalRequest, utcnow
from store.precompiled import Precompiled


@dataclass(frozen=True, slots=True)
class Declared:
    """What a request's headers declare: its purpose and, for ``legal_order``, the order; and
    the languages its caller reads, best first (``Accept-Language``)."""

    purpose: Purpose | None = None
    legal_reference: str | None = None
    languages: tuple[str, ...] = ()


def declare(
    purpose: str | None,
    legal_reference: str | None,
    principal: Principal,
    languages: tuple[str, ...] = (),
) -> Declared:
    """Check the ``X-Purpose`` and ``X-Legal-Reference`` headers against the token.

    Raises:
        UnknownPurpose: the purpose is not one a request may declare.
        PurposeNotPermitted: the token lacks ``purpose:<id>``.
        LegalReferenceRequired: ``legal_order`` without a reference.
    """
    if purpose is None:
        return Declared(languages=languages)
    declared = Purpose.parse(purpose)
    if declared is None:
        raise UnknownPurpose
    if declared.scope not in principal.scopes:
        raise PurposeNotPermitted(declared)
    if declared is Purpose.LEGAL_ORDER and not legal_reference:
        raise LegalReferenceRequired
    return Declared(declared, legal_reference, languages)


@dataclass(frozen=True, slots=True)
class RequestScope:
    """The policy of one request.

    Attributes:
        principal: the verified caller.
        purpose: the declared purpose.
        legal_reference: the legal order ``legal_order`` runs under.
        plan: the field decisions (and what was hidden, as execution goes).
        rows: the row rules, as SQL conditions.
        owner_id: the customer the caller is, when its token links to one (``me``).
        issuers: which issuer is the built-in one, and the external provider's.
        pseudonym_key: the caller's client's pseudonym key (`auth.policy.forms.recipient_key`),
            ``None`` without pseudonym keys (pseudonyms are then withheld).
    """

    principal: Principal
    purpose: Purpose | None
    legal_reference: str | None
    plan: Plan
    rows: RowScope
    owner_id: int | None
    issuers: Issuers
    pseudonym_key: bytes | None = None


def open_scope(
    session: Session,
    principal: Principal,
    declared: Declared,
    issuers: Issuers,
    *,
    assignment_days: int = ASSIGNMENT_DAYS,
    keys: PseudonymKeys | None = None,
    linked: bool = False,
) -> RequestScope:
    """Decide the policy of one request, in its transaction; ``keys`` give the caller's
    pseudonym key (none: pseudonyms are withheld). With ``linked``, the principal's
    ``customer_id`` was read with its standing on the request's connection, just before (a
    read that needs no transaction of its own): it is not read again.

    The caller is a customer when its (issuer, subject) pair is a customer's: a subject alone
    links nothing, since two issuers may use the same one. A partner with ``assigned`` access
    keeps its assignments ``assignment_days`` after their orders left fulfillment
    (``PARTNER_ASSIGNMENT_DAYS``).

    Raises:
        InvalidLegalReference: ``legal_order`` under a reference that is unknown, not valid
            now, or was created by the caller (two people for every disclosure).
    """
    owner_id = None
    if scopes.ME_READ in principal.scopes or scopes.ME_WRITE in principal.scopes:
        if linked:
            owner_id = principal.customer_id
        else:
            issuer, subject = issuers.link(principal)
            owner_id = _OWNER.execute(
                session.connection(), {"issuer": issuer, "subject": subject}
            ).scalar()
    legal_request_id = None
    if declared.purpose is Purpose.LEGAL_ORDER:
        legal_request_id = _legal_request(
            session, issuers.link(principal), declared.legal_reference
        )
    now = utcnow()
    assigned = principal.partner and principal.assigned
    return RequestScope(
        principal=principal,
        purpose=declared.purpose,
        legal_reference=declared.legal_reference,
        plan=Plan(principal.scopes, declared.purpose, owner_id=owner_id, partner=principal.partner),
        rows=RowScope(
            purpose=declared.purpose,
            legal_request_id=legal_request_id,
            partner=principal.client_id if principal.partner else None,
            assigned=assigned,
            now=now,
            assignments_since=now - timedelta(days=assignment_days) if assigned else None,
        ),
        owner_id=owner_id,
        issuers=issuers,
        pseudonym_key=recipient_key(keys, issuers, principal),
    )


def linked_customer(issuer: ColumnElement[str], subject: ColumnElement[str]) -> Select[int | None]:
    """The customer linked to a token's stored (issuer, subject) pair (`Issuers.link`)."""
    return core_select(col(Customer.id)).where(
        col(Customer.subject_issuer) == issuer, col(Customer.subject) == subject
    )


_OWNER = Precompiled(
    linked_customer(bindparam("issuer", type_=String), bindparam("subject", type_=String))
)
"""The customer a token's (issuer, subject) is, read in a request's transaction."""


def _legal_request(session: Session, caller: tuple[str, str], reference: str | None) -> int:
    request = session.scalar(select(LegalRequest).where(col(LegalRequest.reference) == reference))
    now = utcnow()
    if (
        request is None
        or request.id is None
        or not request.valid_from <= now < request.valid_until
        or (request.created_by_issuer, request.created_by) == caller
    ):
        raise InvalidLegalReference
    return request.id
