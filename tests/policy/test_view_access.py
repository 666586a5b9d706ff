"""A partner's contract says how its rows are decided: by its assignments or by consent.

`auth.policy.view.field_decision` derives the access from the row rules (`RowScope`): a partner
with ``assigned`` access sees the rows of its active assignments (``assignment-dependent``),
one with ``consented`` access every consenting customer's (``consent-dependent``); under
``legal_order`` neither rule applies (SPEC sections 10, 13).
"""

from __future__ import annotations

from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from auth.policy.view import Access, field_decision

COURIER = frozenset(
    {s.CUSTOMERS_READ, s.CUSTOMERS_READ_CONTACT, s.ORDERS_READ, "purpose:order_fulfillment"}
)


def decision(*, partner: str | None, assigned: bool, purpose: Purpose) -> Access:
    return field_decision(
        "Customer.mobilePhone", COURIER, purpose, partner=partner, assigned=assigned
    ).access


def test_an_assigned_partner_is_assignment_dependent() -> None:
    fulfillment = Purpose.ORDER_FULFILLMENT
    assert decision(partner="courier", assigned=True, purpose=fulfillment) is Access.ASSIGNMENT


def test_a_consented_partner_is_consent_dependent() -> None:
    fulfillment = Purpose.ORDER_FULFILLMENT
    assert decision(partner="courier", assigned=False, purpose=fulfillment) is Access.CONSENT


def test_staff_is_not_bound_by_assignments() -> None:
    fulfillment = Purpose.ORDER_FULFILLMENT
    assert decision(partner=None, assigned=True, purpose=fulfillment) is Access.VISIBLE
