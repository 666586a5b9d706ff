"""Usage events: how customers use the service, recorded to improve it (the notices)."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from sqlalchemy.orm import Session

from auth.policy import scopes
from auth.policy.request import RequestScope
from store import models
from store.models import CustomerStatus


class UsageKind:
    """The kinds of usage events that self-service records (as the demo data names them)."""

    VIEWED_PROFILE = "viewed_profile"
    UPDATED_PROFILE = "updated_profile"
    ADDED_ADDRESS = "added_address"
    REMOVED_ADDRESS = "removed_address"
    GRANTED_CONSENT = "granted_consent"
    WITHDREW_CONSENT = "withdrew_consent"
    REGISTERED = "registered"
    LINKED = "linked_sign_in"


def record_usage(
    session: Session, customer: models.Customer, kind: str, detail: str | None = None
) -> None:
    """Append a usage event of ``customer``; ``detail`` never holds personal values."""
    assert customer.id is not None
    session.add(models.UsageEvent(customer_id=customer.id, kind=kind, detail=detail))
    session.flush()


RECORDED_READS = frozenset({"me"})
"""Root fields whose read is a usage event (`record_reads`): a request reading one runs in a
transaction, to record it."""


def record_reads(session: Session, actor: RequestScope, root_fields: AbstractSet[str]) -> None:
    """Record the usage events of a request that read ``root_fields`` (`RECORDED_READS`)."""
    if "me" in root_fields:
        record_profile_view(session, actor)


def record_profile_view(session: Session, actor: RequestScope) -> None:
    """Record a customer's read of ``me`` as one usage event per request.

    Reads are how customers use the service most; the notices say that use is recorded to
    improve the service. Nothing is recorded for an erased customer: erasure ends collection.
    """
    if actor.owner_id is None or scopes.ME_READ not in actor.principal.scopes:
        return
    customer = session.get(models.Customer, actor.owner_id)
    if customer is not None and customer.status == CustomerStatus.ACTIVE:
        record_usage(session, customer, UsageKind.VIEWED_PROFILE)
