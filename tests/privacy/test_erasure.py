"""Erasure over HTTP (SPEC section 4), checked in the tables themselves."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

import privacy.erasure
from store import models
from store.ids import to_global_id
from tests.support.callers import ALL_PURPOSES, CUSTOMER, PRIVACY_ADMIN, SUPPORT
from tests.support.operations import post
from tests.support.world import Person, Tables

ERASE = """
mutation Erase($id: ID!, $reason: String) {
  eraseCustomer(id: $id, reason: $reason) { id status firstName email }
}
"""
ERASE_ME = "mutation EraseMe { eraseMe { id status firstName lastName email mobilePhone } }"
ME = """
query Me {
  me {
    id status firstName dateOfBirth email addresses { id } usageEvents { kind }
    orders { edges { node { number totalAmount paymentReference shippingAddress { id } } } }
  }
}
"""
SUPPORT_VIEW = """
query One($id: ID!) {
  customer(id: $id) {
    id status firstName lastName email mobilePhone addresses { id }
    orders { edges { node { number totalAmount paymentReference paymentTrackingCode
      shippingAddress { id } items { sku quantity unitPrice } } } }
  }
}
"""
REASON = "Asked by letter, ref 12"


def snapshot(tables: Tables, person: Person) -> dict[str, Any]:
    """Everything stored about one customer, as comparable values."""
    customer = tables.get(models.Customer, person.pk)
    orders = tables.all(
        select(models.Order)
        .where(col(models.Order.customer_id) == person.pk)
        .order_by(col(models.Order.id))
    )
    consents = tables.all(
        select(models.Consent)
        .where(col(models.Consent.customer_id) == person.pk)
        .order_by(col(models.Consent.id))
    )
    return {
        "customer": customer.model_dump(),
        "addresses": tables.count(models.Address, person.pk),
        "usage": tables.count(models.UsageEvent, person.pk),
        "orders": [order.model_dump() for order in orders],
        "items": tables.count(models.OrderItem),
        "consents": [(c.id, c.purpose, c.status) for c in consents],
    }


def test_erase_customer_as_spec_section_4_says(gql, tables, people) -> None:
    # given two customers with addresses, orders shipped to an address, consents, usage events
    maryam, lan = people
    lan_before = snapshot(tables, lan)
    # when a privacy administrator erases one, with a reason
    body = gql(ERASE, {"id": maryam.id, "reason": REASON}, scope=PRIVACY_ADMIN)
    # then the answer shows the erased customer
    assert "errors" not in body, body
    assert body["data"]["eraseCustomer"]["status"] == "ERASED"
    assert body["data"]["eraseCustomer"]["id"] == maryam.id
    # and the tables: personal fields blank, status, time and reason recorded, subject kept
    row = tables.get(models.Customer, maryam.pk)
    assert (row.first_name, row.last_name, row.date_of_birth) == (None, None, None)
    assert (row.email, row.mobile_phone, row.landline_phone) == (None, None, None)
    assert (row.status, row.erasure_reason, row.subject) == ("ERASED", REASON, maryam.id)
    assert row.erased_at is not None
    # addresses and usage events deleted in the database itself
    assert tables.count(models.Address, maryam.pk) == 0
    assert tables.count(models.UsageEvent, maryam.pk) == 0
    # a WITHDRAWN record appended for every purpose, the earlier records untouched
    consents = tables.all(
        select(models.Consent)
        .where(models.Consent.customer_id == maryam.pk)
        .order_by(col(models.Consent.id))
    )
    assert [(c.purpose, c.status) for c in consents[:2]] == [
        ("marketing", "GRANTED"),
        ("analytics", "WITHDRAWN"),
    ]
    appended = consents[2:]
    assert sorted(c.purpose for c in appended) == ALL_PURPOSES
    assert {c.status for c in appended} == {"WITHDRAWN"}
    # orders kept with number, amount, payment references and items; no shipping address
    orders = tables.all(
        select(models.Order)
        .where(col(models.Order.customer_id) == maryam.pk)
        .order_by(col(models.Order.id))
    )
    assert [(o.number, o.total_amount) for o in orders] == [
        (f"SO-{maryam.pk}-1", 5000),
        (f"SO-{maryam.pk}-2", 700),
    ]
    assert orders[0].payment_reference == f"PAY{maryam.pk}01"
    assert orders[0].payment_tracking_code == f"TRK{maryam.pk}01"
    assert {o.shipping_address_id for o in orders} == {None}
    assert tables.count(models.OrderItem) == 6
    # the other customer is untouched
    assert snapshot(tables, lan) == lan_before


def test_erasure_is_idempotent(gql, tables, people) -> None:
    # given an erased customer
    maryam, _ = people
    gql(ERASE, {"id": maryam.id, "reason": REASON}, scope=PRIVACY_ADMIN)
    before = snapshot(tables, maryam)
    # when they are erased again, by an administrator and by themselves, with another reason
    again = gql(ERASE, {"id": maryam.id, "reason": "another"}, scope=PRIVACY_ADMIN)
    mine = gql(ERASE_ME, scope=CUSTOMER, sub=maryam.id)
    # then both answer with the erased customer, and nothing changed or was appended
    assert again["data"]["eraseCustomer"]["status"] == "ERASED"
    assert mine["data"]["eraseMe"]["status"] == "ERASED"
    assert snapshot(tables, maryam) == before


def test_concurrent_erasures_erase_once(client, token, tables, people) -> None:
    # given a customer erased by an administrator and by themselves at the same moment
    maryam, _ = people
    calls = [
        (token(PRIVACY_ADMIN), ERASE, {"id": maryam.id, "reason": REASON}),
        (token(CUSTOMER, sub=maryam.id), ERASE_ME, None),
    ]
    start = threading.Barrier(len(calls))
    bodies: list[Any] = []

    def run(bearer: str, query: str, variables: Any) -> None:
        start.wait()
        bodies.append(post(client, bearer, query, variables))

    threads = [threading.Thread(target=run, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then both succeed, and exactly one erasure happened
    assert len(bodies) == 2
    assert all("errors" not in body for body in bodies), bodies
    withdrawn = tables.all(
        select(models.Consent).where(
            col(models.Consent.customer_id) == maryam.pk, col(models.Consent.status) == "WITHDRAWN"
        )
    )
    assert sorted(c.purpose for c in withdrawn) == sorted(["analytics", *ALL_PURPOSES])


def test_erase_me_and_what_the_customer_still_sees(gql, tables, people) -> None:
    # given a customer
    maryam, _ = people
    # when they erase themselves
    erased = gql(ERASE_ME, scope=CUSTOMER, sub=maryam.id)
    # then their personal fields are gone, reported as ERASED, never as missing scope
    assert erased["data"]["eraseMe"] == {
        "id": maryam.id,
        "status": "ERASED",
        "firstName": None,
        "lastName": None,
        "email": None,
        "mobilePhone": None,
    }
    reasons = {r["field"]: r["reason"] for r in erased["extensions"]["redactions"]}
    assert reasons == {
        "Customer.firstName": "ERASED",
        "Customer.lastName": "ERASED",
        "Customer.email": "ERASED",
        "Customer.mobilePhone": "ERASED",
    }
    row = tables.get(models.Customer, maryam.pk)
    assert row.erasure_reason == privacy.erasure.SELF_ERASURE_REASON
    assert tables.count(models.Address, maryam.pk) == 0
    assert tables.count(models.UsageEvent, maryam.pk) == 0
    # and they can still sign in and see the erasure and their retained orders
    me = gql(ME, scope=CUSTOMER, sub=maryam.id)["data"]["me"]
    assert (me["status"], me["firstName"], me["addresses"], me["usageEvents"]) == (
        "ERASED",
        None,
        [],
        [],
    )
    numbers = sorted(edge["node"]["number"] for edge in me["orders"]["edges"])
    assert numbers == [f"SO-{maryam.pk}-1", f"SO-{maryam.pk}-2"]
    assert {edge["node"]["shippingAddress"] for edge in me["orders"]["edges"]} == {None}
    # reading `me` after erasure collects nothing new
    assert tables.count(models.UsageEvent, maryam.pk) == 0


@pytest.mark.parametrize(
    "mutation",
    [
        'mutation U { updateMe(input: {firstName: "Back"}) { id } }',
        'mutation A { addMyAddress(input: {label: HOME, line1: "x 1", city: "y"}) { id } }',
        "mutation C { setMyConsent(purpose: MARKETING, granted: true) { id } }",
    ],
)
def test_an_erased_customer_has_nothing_left_to_change(gql, tables, people, mutation) -> None:
    maryam, _ = people
    gql(ERASE_ME, scope=CUSTOMER, sub=maryam.id)
    before = snapshot(tables, maryam)
    body = gql(mutation, scope=CUSTOMER, sub=maryam.id)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert snapshot(tables, maryam) == before


def test_staff_see_an_erased_customer_as_erased_with_orders_for_accounting(gql, people) -> None:
    # given an erased customer
    maryam, _ = people
    gql(ERASE, {"id": maryam.id}, scope=PRIVACY_ADMIN)
    # when support reads them
    body = gql(SUPPORT_VIEW, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    customer = body["data"]["customer"]
    # then personal fields are null (ERASED), orders keep amounts and payment references
    assert (customer["status"], customer["firstName"], customer["email"]) == ("ERASED", None, None)
    assert customer["addresses"] == []
    orders = {edge["node"]["number"]: edge["node"] for edge in customer["orders"]["edges"]}
    paid = orders[f"SO-{maryam.pk}-1"]
    assert (paid["totalAmount"], paid["paymentReference"], paid["shippingAddress"]) == (
        "5000",
        f"PAY{maryam.pk}01",
        None,
    )
    assert len(paid["items"]) == 2
    erased = {r["field"] for r in body["extensions"]["redactions"] if r["reason"] == "ERASED"}
    assert erased == {
        "Customer.firstName",
        "Customer.lastName",
        "Customer.email",
        "Customer.mobilePhone",
    }


def _fail_on_third_consent(original: Any) -> Any:
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("injected failure in the middle of an erasure")
        return original(*args, **kwargs)

    return failing


def _fail(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("injected failure after the deletes")


@pytest.mark.parametrize("where", ["after the deletes", "after two withdrawals"])
def test_erasure_is_atomic(gql, tables, people, monkeypatch, where) -> None:
    # given a customer, and a failure injected midway through erasure
    maryam, _ = people
    before = snapshot(tables, maryam)
    if where == "after the deletes":
        monkeypatch.setattr(privacy.erasure, "_withdraw_everything", _fail)
    else:
        monkeypatch.setattr(
            privacy.erasure,
            "record_consent",
            _fail_on_third_consent(privacy.erasure.record_consent),  # type: ignore[attr-defined]
        )
    # when they are erased
    body = gql(ERASE, {"id": maryam.id, "reason": REASON}, scope=PRIVACY_ADMIN, status=500)
    # then the failure is reported without detail, and nothing at all was erased
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "injected" not in error["message"]
    assert body["data"]["eraseCustomer"] is None
    assert snapshot(tables, maryam) == before
    # and the attempt is still audited
    (record,) = tables.access_records()
    assert record.customer_ids == [maryam.pk]
    assert "Mutation.eraseCustomer" in record.fields


def test_erasure_needs_privacy_admin(gql, tables, people) -> None:
    maryam, _ = people
    before = snapshot(tables, maryam)
    body = gql(ERASE, {"id": maryam.id}, scope=SUPPORT, purpose="customer_support")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["eraseCustomer"]
    assert snapshot(tables, maryam) == before


@pytest.mark.parametrize(
    ("id_", "code"),
    [
        (to_global_id("Customer", 999_999), "NOT_FOUND"),
        (to_global_id("Order", 1), "BAD_USER_INPUT"),
        ("not an id", "BAD_USER_INPUT"),
    ],
)
def test_erasing_an_unknown_customer(gql, people, id_, code) -> None:
    body = gql(ERASE, {"id": id_}, scope=PRIVACY_ADMIN)
    assert body["errors"][0]["extensions"]["code"] == code
    assert body["data"]["eraseCustomer"] is None


def test_an_erasure_reason_is_validated(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(ERASE, {"id": maryam.id, "reason": "card 4111 1111 1111 1111"}, scope=PRIVACY_ADMIN)
    assert body["errors"][0]["extensions"] == {"code": "CARD_DATA_REJECTED", "field": "reason"}
    assert tables.get(models.Customer, maryam.pk).status == "ACTIVE"
