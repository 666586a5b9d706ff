"""Legal requests: data goes to an authority only on a written judicial or legal order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.request import RequestScope
from privacy import validation as v
from privacy.errors import InputError
from store import models
from store.ids import InvalidGlobalId, pk_of
from store.models import utcnow

REFERENCE = 128
AUTHORITY = 200
MAX_LEGAL_CUSTOMERS = 1000


def create_legal_request(
    session: Session,
    actor: RequestScope,
    *,
    reference: str,
    authority: str,
    order_document: str,
    customer_ids: Sequence[str],
    valid_until: dt.datetime,
) -> tuple[models.LegalRequest, list[int]]:
    """Register a written legal order; valid from now until ``valid_until``.

    Returns the request and the customers it names.

    Its creator can never use it (two people for every disclosure, enforced when a request
    declares ``legal_order``).
    """
    v.reject_card_data(
        {"reference": reference, "authority": authority, "orderDocument": order_document}
    )
    reference = v.text(reference, field="reference", max_length=REFERENCE)
    if not (reference.isascii() and reference.isprintable()):
        # It travels in the X-Legal-Reference header.
        raise InputError("reference", "reference must be printable ASCII")
    authority = v.text(authority, field="authority", max_length=AUTHORITY)
    order_document = v.text(order_document, field="orderDocument", max_length=AUTHORITY)
    if valid_until.tzinfo is None:
        raise InputError("validUntil", "validUntil needs a time zone offset")
    now = utcnow()
    if valid_until <= now:
        raise InputError("validUntil", "validUntil must be in the future")
    pks = _legal_customers(session, customer_ids)
    if session.scalar(
        select(col(models.LegalRequest.id)).where(col(models.LegalRequest.reference) == reference)
    ):
        raise InputError("reference", "reference is already registered")
    request = models.LegalRequest(
        reference=reference,
        authority=authority,
        order_document=order_document,
        created_by=actor.principal.subject,
        created_by_issuer=actor.issuers.stored(actor.principal.issuer),
        valid_from=now,
        valid_until=valid_until,
    )
    session.add(request)
    session.flush()
    session.add_all(
        models.LegalRequestCustomer(legal_request_id=request.id, customer_id=pk)  # type: ignore[arg-type]
        for pk in pks
    )
    session.flush()
    return request, pks


def _legal_customers(session: Session, customer_ids: Sequence[str]) -> list[int]:
    if not customer_ids:
        raise InputError("customerIds", "customerIds must name at least one customer")
    if len(customer_ids) > MAX_LEGAL_CUSTOMERS:
        raise InputError(
            "customerIds", f"customerIds may name at most {MAX_LEGAL_CUSTOMERS} customers"
        )
    pks: list[int] = []
    for i, global_id in enumerate(customer_ids):
        try:
            pks.append(pk_of(global_id, "Customer"))
        except InvalidGlobalId:
            raise InputError(f"customerIds.{i}", f"customerIds.{i} is not a customer id") from None
    known = set(
        session.scalars(select(col(models.Customer.id)).where(col(models.Customer.id).in_(pks)))
    )
    for i, pk in enumerate(pks):
        if pk not in known:
            raise InputError(f"customerIds.{i}", f"customerIds.{i} is not a known customer")
    return sorted(set(pks))
