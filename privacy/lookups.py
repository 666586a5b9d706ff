"""The rows a privacy operation may act on: the same rows the caller could read.

Writes see what reads see (SPEC section 4): a customer, address or order that does not exist
for the caller under its purpose is `NotFound`, exactly like one that does not exist at all.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth.policy.decision import row_conditions
from auth.policy.request import RequestScope
from privacy.errors import InputError, NotFound
from store import models
from store.ids import InvalidGlobalId, pk_of
from store.models import CustomerStatus


def customer(session: Session, actor: RequestScope, pk: int) -> models.Customer | None:
    """One customer, if it exists for the caller."""
    return session.scalars(
        select(models.Customer).where(
            col(models.Customer.id) == pk, *row_conditions(actor.rows, "Customer")
        )
    ).first()


def order(session: Session, actor: RequestScope, pk: int) -> models.Order | None:
    """One order, if it exists for the caller."""
    return session.scalars(
        select(models.Order).where(col(models.Order.id) == pk, *row_conditions(actor.rows, "Order"))
    ).first()


def active_customer(session: Session, actor: RequestScope, pk: int) -> models.Customer:
    """A customer that exists for the caller and is not erased, else `NotFound`."""
    found = customer(session, actor, pk)
    if found is None or found.status == CustomerStatus.ERASED:
        raise NotFound("customer")
    return found


def address(session: Session, actor: RequestScope, pk: int) -> models.Address:
    """An address that exists for the caller (its customer does, and under ``assigned`` access
    it is an assigned order's shipping address), else `NotFound`.

    One statement with the row rule in it: an address that is hidden costs what a missing
    one does, so timing tells the caller nothing.
    """
    found = session.scalars(
        select(models.Address).where(
            col(models.Address.id) == pk, *row_conditions(actor.rows, "Address")
        )
    ).first()
    if found is None:
        raise NotFound("address")
    return found


def own_customer(session: Session, actor: RequestScope, *, erased: bool = False) -> models.Customer:
    """The caller's own customer record, locked for the rest of the transaction.

    Args:
        session: the request's session.
        actor: the request's scope; its ``owner_id`` links the token to the customer.
        erased: whether an erased record will do (``eraseMe`` is idempotent); otherwise an
            erased customer has nothing left to change and is `NotFound`.
    """
    found = None
    if actor.owner_id is not None:
        found = session.get(
            models.Customer, actor.owner_id, with_for_update=True, populate_existing=True
        )
    if found is None or (not erased and found.status == CustomerStatus.ERASED):
        raise NotFound("customer")
    return found


def any_customer(session: Session, pk: int) -> models.Customer:
    """A customer for privacy administration: any customer, whatever the declared purpose."""
    found = session.get(models.Customer, pk, with_for_update=True, populate_existing=True)
    if found is None:
        raise NotFound("customer")
    return found


def own_address(session: Session, customer: models.Customer, pk: int) -> models.Address:
    """One of the customer's own addresses, else `NotFound`."""
    found = session.get(models.Address, pk)
    if found is None or found.customer_id != customer.id:
        raise NotFound("address")
    return found


def pk_argument(global_id: str, type_name: str, field: str) -> int:
    """The primary key of a global id argument; `InputError` when it names no ``type_name``."""
    try:
        return pk_of(global_id, type_name)
    except InvalidGlobalId:
        raise InputError(field, f"{field} is not a {type_name} id") from None
