"""Mutations tell a caller nothing it could not read (SPEC section 7): not in their error
messages, and not in the statements they run (hidden costs what missing costs)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from store import models
from store.ids import to_global_id
from tests.support.auth import TokenFactory
from tests.support.operations import post
from tests.support.world import Person, seed

WRITER = "orders:write purpose:customer_support"
READER_WRITER = "orders:write orders:read purpose:customer_support"
MARKETING_WRITER = "addresses:write purpose:marketing"

STATUS = """
mutation Status($id: ID!, $status: OrderStatus!) {
  updateOrderStatus(id: $id, status: $status) { id }
}
"""
PLACE = """
mutation Place($customerId: ID!, $address: ID!) {
  placeOrder(customerId: $customerId, input: {
    currency: "IRR", shippingAddressId: $address,
    items: [{sku: "PV-550", name: "Panel", quantity: 1, unitPrice: "100"}]
  }) { id }
}
"""
UPDATE_ADDRESS = """
mutation Update($id: ID!) { updateAddress(id: $id, input: {city: "Shiraz"}) { id } }
"""


SAVEPOINT_NAME = re.compile(r"sa_savepoint_\d+")
"""SQLAlchemy numbers savepoints per connection; the connections are kept from one request to
the next (`store.kept`), so the numbers differ where the work does not."""


@contextmanager
def statements(client: TestClient) -> Iterator[list[str]]:
    """The SQL statements the app runs meanwhile (text only, no parameters; savepoints
    unnumbered)."""
    ran: list[str] = []

    def note(*args: Any) -> None:
        ran.append(SAVEPOINT_NAME.sub("sa_savepoint", args[2]))

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield ran
    finally:
        event.remove(engine, "before_cursor_execute", note)


def only_error(body: Any) -> dict[str, Any]:
    (error,) = body["errors"]
    return error  # type: ignore[no-any-return]


def test_status_refusal_names_the_current_status_only_to_readers(
    client: TestClient, token: TokenFactory, session: Session
) -> None:
    # given a PAID order, which cannot go back to PENDING
    maryam, _ = seed(session)
    order = to_global_id("Order", maryam.order_ids[0])
    variables = {"id": order, "status": "PENDING"}
    # when a caller that may write orders but not read them tries, and one that may read them
    blind = only_error(post(client, token(WRITER), STATUS, variables, purpose="customer_support"))
    sighted = only_error(
        post(client, token(READER_WRITER), STATUS, variables, purpose="customer_support")
    )
    # then both are bad input, and only the reader is told the order is PAID
    assert (
        blind["extensions"]
        == sighted["extensions"]
        == {
            "code": "BAD_USER_INPUT",
            "field": "status",
        }
    )
    assert "PAID" not in blind["message"]
    assert "PAID" in sighted["message"]


def test_another_customers_address_is_answered_like_a_missing_one(
    client: TestClient, token: TokenFactory, session: Session
) -> None:
    # given two customers, each with addresses
    maryam, lan = seed(session)
    staff = token(WRITER)

    def place(address_pk: int) -> tuple[Any, list[str]]:
        variables = {"customerId": maryam.id, "address": to_global_id("Address", address_pk)}
        with statements(client) as ran:
            body = post(client, staff, PLACE, variables, purpose="customer_support")
        return body, ran

    # when an order for Maryam names Lan's address, or an address that does not exist (once
    # the token's standing is kept, where it is: then neither reads it)
    place(10_000)
    theirs, theirs_ran = place(lan.address_ids[0])
    missing, missing_ran = place(10_000)
    # then the answers and the statements are the same, and nothing was placed
    assert theirs == missing
    assert only_error(theirs)["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "input.shippingAddressId",
    }
    assert theirs_ran == missing_ran


def _withdraw_marketing(session: Session, person: Person) -> None:
    with session.begin():
        session.add(
            models.Consent(
                customer_id=person.pk, purpose="marketing", status="WITHDRAWN", source="WEB"
            )
        )


def test_a_hidden_address_costs_what_a_missing_one_costs(
    client: TestClient, token: TokenFactory, session: Session
) -> None:
    # given Lan, who withdrew her marketing consent: her addresses do not exist for marketing
    _, lan = seed(session)
    _withdraw_marketing(session, lan)
    writer = token(MARKETING_WRITER)

    def update(address_pk: int) -> tuple[Any, list[str]]:
        variables = {"id": to_global_id("Address", address_pk)}
        with statements(client) as ran:
            body = post(client, writer, UPDATE_ADDRESS, variables, purpose="marketing")
        return body, ran

    # when her address is updated under marketing, and an address that does not exist (once
    # the token's standing is kept, where it is: then neither reads it)
    update(10_000)
    hidden, hidden_ran = update(lan.address_ids[0])
    missing, missing_ran = update(10_000)
    # then both are NOT_FOUND, through the same statements
    assert hidden == missing
    assert only_error(hidden)["extensions"]["code"] == "NOT_FOUND"
    assert hidden_ran == missing_ran
