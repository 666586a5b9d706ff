"""Order assignments: staff give a partner (a courier, an installer) the orders of its job.

A partner whose access is ``assigned`` sees an order only while an assignment of it to the
partner is active (`auth.policy.row_rules`): not unassigned, before its ``until``, and at most
``PARTNER_ASSIGNMENT_DAYS`` after the order left fulfillment. Assigning an order already
assigned to that partner sets the new ``until``; unassigning keeps the row, with its time.
The order is looked up by the caller's row rules before these run: one the caller cannot
see is `NotFound`, like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime

from sqlalchemy.orm import Session
from sqlmodel import col, select

from auth import partners
from auth.policy.row_rules import RowScope
from privacy.errors import InputError
from store.models import Order, OrderAssignment, utcnow

__all__ = ["active_assignment", "assign", "disclosed_orders", "order_numbered", "unassign"]


def disclosed_orders(
    session: Session, rows: RowScope, customer_ids: AbstractSet[int]
) -> tuple[int, ...] | None:
    """The orders a disclosure to a partner with assigned access was for: those of the
    customers disclosed that are assigned to it now (the orders that let it see them).
    ``None`` for any other caller: its access records name no orders."""
    if not rows.assigned_only:
        return None
    if not customer_ids:
        return ()
    found = session.scalars(
        select(col(Order.id))
        .where(col(Order.customer_id).in_(sorted(customer_ids)), rows.orders())
        .order_by(col(Order.id))
    )
    return tuple(pk for pk in found if pk is not None)


def order_numbered(session: Session, number: str) -> Order:
    """The order with that number (for staff tools, which see every order).

    Raises:
        InputError: no order has that number.
    """
    order = session.scalars(select(Order).where(col(Order.number) == number)).first()
    if order is None:
        raise InputError("number", "no order has that number")
    return order


def active_assignment(session: Session, order: Order, partner: str) -> OrderAssignment | None:
    """The assignment of ``order`` to ``partner`` that was not unassigned, if any."""
    return session.scalars(
        select(OrderAssignment)
        .where(
            col(OrderAssignment.order_id) == order.id,
            col(OrderAssignment.partner) == partner,
            col(OrderAssignment.unassigned_at).is_(None),
        )
        .order_by(col(OrderAssignment.id).desc())
    ).first()


def assign(
    session: Session,
    order: Order,
    partner: str,
    until: datetime | None = None,
    *,
    created_by: str,
) -> OrderAssignment:
    """Assign ``order`` to the partner ``partner`` (its client id), until ``until`` if given;
    ``created_by``: who assigns it (a token's ``sub``, or the CLI).

    Raises:
        InputError: ``partner`` is not an active partner (unknown, removed, past its own
            ``until``), or ``until`` is not in the future or has no time zone.
    """
    if partners.find_active(session, partner) is None:
        raise InputError("partner", "partner is not the client id of an active partner")
    if until is not None and until.tzinfo is None:
        raise InputError("until", "until needs a time zone offset")
    if until is not None and until <= utcnow():
        raise InputError("until", "until must be in the future")
    assignment = active_assignment(session, order, partner)
    if assignment is None:
        if order.id is None:
            raise ValueError("an order is stored before it is assigned")
        assignment = OrderAssignment(
            order_id=order.id, partner=partner, created_by=created_by[:255]
        )
    assignment.until = until
    session.add(assignment)
    session.flush()
    return assignment


def unassign(session: Session, order: Order, partner: str) -> OrderAssignment:
    """End the assignment of ``order`` to ``partner`` now.

    Raises:
        InputError: the order is not assigned to that partner.
    """
    assignment = active_assignment(session, order, partner)
    if assignment is None:
        raise InputError("partner", "the order is not assigned to that partner")
    assignment.unassigned_at = utcnow()
    session.add(assignment)
    session.flush()
    return assignment
