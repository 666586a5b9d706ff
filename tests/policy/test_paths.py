"""The same decision on every path: lists, lookups, node, nesting, aliases, fragments, payloads.

Each operation reaches the same guarded fields by another way; every response must be what
`tests.policy_model` derives from the table and the stored rows, and hidden values are
counted once per place they would have appeared.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from store import models
from tests.support.policy_model import (
    MISSING_SCOPE,
    PURPOSE_NOT_ALLOWED,
    READ_SCOPES,
    Caller,
    Field,
    Fragment,
    Model,
    Seeded,
    Selection,
    Snapshot,
    check,
    render,
)

CUSTOMER = (Field("id"), Field("firstName"), Field("email"), Field("dateOfBirth"))
ADDRESS = (Field("city"), Field("line1"))
ORDER = (Field("number"), Field("paymentReference"), Field("shippingAddress", ADDRESS))


def edges(node: tuple[Selection, ...]) -> tuple[Selection, ...]:
    return (Field("totalCount"), Field("edges", (Field("node", node),)))


def by_id(data: Seeded, name: str) -> tuple[tuple[str, Any], ...]:
    return (("id", data[name]),)


def paths(data: Seeded) -> dict[str, tuple[Selection, ...]]:
    """Operations that reach Customer.email, firstName, Address.line1, Order.paymentReference."""
    first = (("first", 10),)
    return {
        "list": (Field("customers", edges(CUSTOMER), arguments=first),),
        "aliases": (
            Field(
                "customers",
                edges((Field("email", alias="mail"), Field("email", alias="contact"))),
                arguments=first,
                alias="people",
            ),
        ),
        "named fragment": (
            Field(
                "customers",
                edges((Fragment("Customer", CUSTOMER, name="Person"),)),
                arguments=first,
            ),
        ),
        "inline fragments": (
            Field(
                "customers",
                edges(
                    (
                        Fragment("Customer", (Field("email"),)),
                        Fragment(None, (Field("firstName"),)),
                        Fragment("Node", (Field("id"),)),
                    )
                ),
                arguments=first,
            ),
        ),
        "customer(id)": (Field("customer", CUSTOMER, arguments=by_id(data, "ava")),),
        "node(id)": (
            Field("node", (Fragment("Customer", CUSTOMER),), arguments=by_id(data, "ava")),
            Field(
                "node",
                (Fragment("Address", ADDRESS),),
                alias="place",
                arguments=by_id(data, "ava_home"),
            ),
        ),
        "order { customer }": (
            Field(
                "order", (*ORDER, Field("customer", CUSTOMER)), arguments=by_id(data, "ava_paid")
            ),
        ),
        "orders { customer }": (
            Field("orders", edges((*ORDER, Field("customer", CUSTOMER))), arguments=first),
        ),
        "customer { orders { shippingAddress } }": (
            Field(
                "customer",
                (
                    Field("email"),
                    Field("addresses", ADDRESS),
                    Field(
                        "orders",
                        edges((*ORDER, Field("customer", (Field("email"),)))),
                        arguments=first,
                    ),
                ),
                arguments=by_id(data, "ava"),
            ),
        ),
        "fragments on nested objects": (
            Field(
                "orders",
                edges(
                    (
                        Fragment("Order", ORDER, name="Delivery"),
                        Field("customer", (Fragment(None, (Field("email", alias="e"),)),)),
                    )
                ),
                arguments=first,
            ),
        ),
    }


CALLERS = {
    # a support agent holding every read scope: everything visible
    "support": (frozenset(READ_SCOPES), Purpose.CUSTOMER_SUPPORT),
    # a courier: no email, no payment reference (PURPOSE_NOT_ALLOWED)
    "courier": (frozenset(READ_SCOPES), Purpose.ORDER_FULFILLMENT),
    # a marketing agency: no address lines, no payment reference, only consented customers
    "marketing": (frozenset(READ_SCOPES), Purpose.MARKETING),
    # support without the contact and payment scopes (MISSING_SCOPE)
    "narrow support": (
        frozenset(READ_SCOPES) - {s.CUSTOMERS_READ_CONTACT, s.ORDERS_READ_PAYMENT},
        Purpose.CUSTOMER_SUPPORT,
    ),
}


@pytest.mark.parametrize("who", list(CALLERS))
def test_every_path_gives_the_same_decision(gql, session, data, who) -> None:
    granted, purpose = CALLERS[who]
    caller = Caller(granted, purpose)
    snapshot = Snapshot.load(session)
    for path, operation in paths(data).items():
        # when the caller reaches the same fields by this path
        expected = Model(snapshot, caller).expect(operation)
        body = gql(render(operation), scope=caller.scope, purpose=purpose.value)
        # then values, nulls and redactions are the model's, whatever the path
        check(body, expected, case=f"{who} by {path}")


def test_each_place_a_hidden_value_would_appear_is_counted(gql, data) -> None:
    # given a courier, who may not read email, reading it under two aliases for two customers
    operation = paths(data)["aliases"]
    body = gql(
        render(operation),
        scope=Caller(frozenset(READ_SCOPES), Purpose.ORDER_FULFILLMENT).scope,
        purpose="order_fulfillment",
    )
    # then both places of both customers are null and counted: 2 customers x 2 aliases
    nodes = [edge["node"] for edge in body["data"]["people"]["edges"]]
    assert nodes == [{"mail": None, "contact": None}] * 2
    assert body["extensions"]["redactions"] == [
        {
            "field": "Customer.email",
            "reason": PURPOSE_NOT_ALLOWED,
            "count": 4,
            "needs": {
                "scopes": ["customers:read:contact"],
                "purposes": [
                    "customer_support",
                    "billing",
                    "fraud_investigation",
                    "marketing",
                    "legal_order",
                ],
            },
        }
    ]


# --- Mutation payloads ------------------------------------------------------------------------

UPDATE = """
mutation Update($id: ID!) {
  updateCustomer(id: $id, input: {preferredLanguage: "fa"}) {
    id preferredLanguage firstName email dateOfBirth
    addresses { city line1 }
    orders { edges { node { number paymentReference shippingAddress { city line1 } } } }
  }
}
"""
CREATE = """
mutation Create {
  createCustomer(input: {country: "VN", preferredLanguage: "vi-VN", email: "new@example.vn"}) {
    id email
  }
}
"""
ADD_ADDRESS = """
mutation Add($id: ID!) {
  addAddress(customerId: $id, input: {label: OTHER, line1: "Kim Ma 5", city: "Hà Nội"}) {
    id city
  }
}
"""
WITHDRAW = """
mutation Withdraw($id: ID!) {
  recordConsent(customerId: $id, purpose: MARKETING, granted: false, source: WEB) { id status }
}
"""


def scope(purpose: Purpose, *scopes: str) -> str:
    return " ".join([*scopes, purpose.scope])


def redactions(body: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {
        entry["field"]: (entry["reason"], entry["count"])
        for entry in body.get("extensions", {}).get("redactions", [])
    }


def test_a_mutation_payload_is_guarded_like_a_read(gql, data) -> None:
    # when a marketing agency updates a consented customer and reads the payload deeply
    body = gql(
        UPDATE,
        {"id": data["ava"]},
        scope=scope(Purpose.MARKETING, *READ_SCOPES, s.CUSTOMERS_WRITE),
        purpose="marketing",
    )
    # then the payload shows what marketing may read, and hides the rest with the reason
    assert "errors" not in body
    customer = body["data"]["updateCustomer"]
    assert (customer["preferredLanguage"], customer["email"]) == ("fa", "ava.karimi@example.ir")
    assert customer["dateOfBirth"] is None
    assert [a["line1"] for a in customer["addresses"]] == [None, None]
    orders = [edge["node"] for edge in customer["orders"]["edges"]]
    assert [o["paymentReference"] for o in orders] == [None, None]
    assert [o["shippingAddress"] for o in orders] == [None, {"city": "تهران", "line1": None}]
    assert redactions(body) == {
        "Customer.dateOfBirth": (PURPOSE_NOT_ALLOWED, 1),
        "Address.line1": (PURPOSE_NOT_ALLOWED, 3),
        "Order.paymentReference": (PURPOSE_NOT_ALLOWED, 2),
    }


def test_a_payload_without_the_read_scope_is_null_and_reported(gql, session, data) -> None:
    # when support adds an address holding addresses:write but not addresses:read
    body = gql(
        ADD_ADDRESS,
        {"id": data["binh"]},
        scope=scope(Purpose.CUSTOMER_SUPPORT, s.CUSTOMERS_READ, s.ADDRESSES_WRITE),
        purpose="customer_support",
    )
    # then the address is stored, but the payload is null: the caller may not read addresses
    assert "errors" not in body
    assert body["data"] == {"addAddress": None}
    assert redactions(body) == {"Address.id": (MISSING_SCOPE, 1)}
    session.rollback()
    assert session.scalar(
        select(col(models.Address.id)).where(col(models.Address.line1) == "Kim Ma 5")
    )


@pytest.mark.parametrize(
    ("purpose", "shown"),
    [(Purpose.CUSTOMER_SUPPORT, True), (Purpose.MARKETING, False), (Purpose.LEGAL_ORDER, False)],
    ids=["customer_support", "marketing", "legal_order"],
)
def test_a_created_customer_is_shown_only_if_it_exists_for_the_caller(
    gql, session, data, purpose, shown
) -> None:
    before = session.scalar(select(func.count()).select_from(models.Customer))
    session.rollback()
    # when a customer is created under a purpose whose rows it is (or is not) part of
    body = gql(
        CREATE,
        scope=scope(purpose, *READ_SCOPES, s.CUSTOMERS_WRITE),
        purpose=purpose.value,
        headers={"X-Legal-Reference": data.legal_reference},
    )
    # then it is created either way, and the payload obeys the row rules like any read
    assert "errors" not in body
    assert session.scalar(select(func.count()).select_from(models.Customer)) == before + 1
    created = body["data"]["createCustomer"]
    assert (created is not None) is shown
    if shown:
        assert created["email"] == "new@example.vn"


def test_a_withdrawal_under_marketing_hides_the_payload(gql, session, data) -> None:
    # when a marketing agency records that a consented customer withdrew
    body = gql(
        WITHDRAW,
        {"id": data["ava"]},
        scope=scope(Purpose.MARKETING, *READ_SCOPES, s.CONSENTS_WRITE),
        purpose="marketing",
    )
    # then the withdrawal is recorded, and the customer's data, the new record too, no
    # longer exists for marketing
    assert "errors" not in body
    assert body["data"] == {"recordConsent": None}
    session.rollback()
    latest = session.scalars(
        select(col(models.Consent.status))
        .where(
            col(models.Consent.customer_id) == data.pk("ava"),
            col(models.Consent.purpose) == "marketing",
        )
        .order_by(col(models.Consent.id).desc())
    ).first()
    assert latest == "WITHDRAWN"
