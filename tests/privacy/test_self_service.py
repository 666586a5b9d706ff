"""Self-service over HTTP: a customer sees and keeps current their own record, and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import col

from store import models
from store.ids import to_global_id
from tests.support.callers import CUSTOMER, SUPPORT

ME = """
query Me {
  me {
    id status firstName lastName dateOfBirth ageBand email mobilePhone
    addresses { id label line1 postalCode }
    orders { totalCount edges { node { id number paymentReference
      shippingAddress { id line1 } customer { id email } } } }
    consents { purpose status source }
    usageEvents { kind detail }
  }
}
"""
UPDATE_ME = """
mutation UpdateMe($input: UpdateCustomerInput!) {
  updateMe(input: $input) { id firstName email mobilePhone }
}
"""
ADD_MY_ADDRESS = """
mutation AddMyAddress($input: AddressInput!) {
  addMyAddress(input: $input) { id label line1 postalCode country isDefault }
}
"""
REMOVE_MY_ADDRESS = "mutation RemoveMyAddress($id: ID!) { removeMyAddress(id: $id) }"
SET_MY_CONSENT = """
mutation SetMyConsent($purpose: Purpose!, $granted: Boolean!) {
  setMyConsent(purpose: $purpose, granted: $granted) { id purpose status source }
}
"""
NODE = "query Node($id: ID!) { node(id: $id) { id ... on Customer { email } } }"
CUSTOMER_BY_ID = "query One($id: ID!) { customer(id: $id) { id email } }"
CUSTOMERS = "query All { customers(first: 5) { edges { node { id } } } }"
UPDATE_CUSTOMER = """
mutation Staff($id: ID!) { updateCustomer(id: $id, input: {firstName: "X"}) { id } }
"""


def test_me_shows_every_field_of_the_own_record(gql, people) -> None:
    # given a customer with addresses, orders, consents and usage events
    maryam, _lan = people
    # when they read `me` with a token that holds only me:read
    body = gql(ME, scope="me:read", sub=maryam.id)
    # then every field is there, nothing is redacted, and only their own rows come back
    assert "errors" not in body, body
    me = body["data"]["me"]
    assert (me["id"], me["firstName"], me["email"], me["dateOfBirth"]) == (
        maryam.id,
        "مریم",
        "maryam@example.com",
        "1986-04-02",
    )
    assert me["ageBand"] is not None
    assert {a["id"] for a in me["addresses"]} == {
        to_global_id("Address", pk) for pk in maryam.address_ids
    }
    orders = [edge["node"] for edge in me["orders"]["edges"]]
    assert {o["id"] for o in orders} == {to_global_id("Order", pk) for pk in maryam.order_ids}
    assert {o["customer"]["id"] for o in orders} == {maryam.id}
    paid = next(o for o in orders if o["paymentReference"])
    assert paid["shippingAddress"]["line1"] == "تهران roof 3"
    assert "extensions" not in body


def test_me_without_a_linked_customer_is_null(gql, people) -> None:
    # given a token whose subject no customer has / when it reads `me` / then null, no error
    body = gql("query Me { me { id } }", scope=CUSTOMER, sub="someone-else")
    assert body == {"data": {"me": None}}


def test_update_me_normalises_stores_and_records_usage(gql, tables, people) -> None:
    maryam, lan = people
    # when the customer corrects their email and phone (Persian digits)
    body = gql(
        UPDATE_ME,
        {"input": {"email": "Maryam.R@Example.com", "mobilePhone": "۰۹۱۲ ۰۰۰ ۱۱۲۲"}},
        scope=CUSTOMER,
        sub=maryam.id,
    )
    # then the response and the table hold the normalised values, only for them
    assert body["data"]["updateMe"]["mobilePhone"] == "+989120001122"
    row = tables.get(models.Customer, maryam.pk)
    assert row is not None
    assert row.mobile_phone == "+989120001122"
    assert tables.get(models.Customer, lan.pk).mobile_phone == "+84912345678"
    # and a usage event names the fields changed, never their values
    event = tables.one(
        select(models.UsageEvent).where(col(models.UsageEvent.kind) == "updated_profile")
    )
    assert event.customer_id == maryam.pk
    assert event.detail == "changed email, mobilePhone"


def test_update_me_refuses_bad_input_and_changes_nothing(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(
        UPDATE_ME,
        {"input": {"firstName": "Ok", "email": "broken@"}},
        scope=CUSTOMER,
        sub=maryam.id,
    )
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.email"}
    assert "broken@" not in body["errors"][0]["message"]
    assert tables.get(models.Customer, maryam.pk).first_name == "مریم"
    assert tables.count(models.UsageEvent, maryam.pk) == 2


def test_update_me_rejects_card_data(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(
        UPDATE_ME, {"input": {"lastName": "4111 1111 1111 1111"}}, scope=CUSTOMER, sub=maryam.id
    )
    assert body["errors"][0]["extensions"] == {
        "code": "CARD_DATA_REJECTED",
        "field": "input.lastName",
    }


def test_add_and_remove_my_address(gql, tables, people) -> None:
    maryam, _ = people
    # when the customer adds a new default address
    added = gql(
        ADD_MY_ADDRESS,
        {
            "input": {
                "label": "BILLING",
                "line1": "خیابان آزادی ۵",
                "city": "تهران",
                "postalCode": "۱۱۱۱۱۱۱۱۱۱",
                "isDefault": True,
            }
        },
        scope=CUSTOMER,
        sub=maryam.id,
    )["data"]["addMyAddress"]
    # then it is theirs, normalised, and the only default
    assert (added["postalCode"], added["country"], added["isDefault"]) == ("1111111111", "IR", True)
    defaults = tables.all(
        select(models.Address).where(
            models.Address.customer_id == maryam.pk,
            models.Address.is_default.is_(True),  # type: ignore[attr-defined]
        )
    )
    assert [to_global_id("Address", a.id) for a in defaults] == [added["id"]]
    # when they remove it again
    removed = gql(REMOVE_MY_ADDRESS, {"id": added["id"]}, scope=CUSTOMER, sub=maryam.id)
    assert removed["data"]["removeMyAddress"] == added["id"]
    assert tables.count(models.Address, maryam.pk) == 2
    kinds = tables.all(
        select(col(models.UsageEvent.kind))
        .where(col(models.UsageEvent.customer_id) == maryam.pk)
        .order_by(col(models.UsageEvent.id))
    )
    assert kinds[-2:] == ["added_address", "removed_address"]


def test_a_customer_cannot_remove_another_customers_address(gql, tables, people) -> None:
    maryam, lan = people
    body = gql(
        REMOVE_MY_ADDRESS,
        {"id": to_global_id("Address", lan.address_ids[0])},
        scope=CUSTOMER,
        sub=maryam.id,
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert tables.count(models.Address, lan.pk) == 2


@pytest.mark.parametrize(
    ("query", "target"),
    [
        (NODE, "customer"),
        (NODE, "address"),
        (NODE, "order"),
        (CUSTOMER_BY_ID, "customer"),
        (CUSTOMERS, None),
        (UPDATE_CUSTOMER, "customer"),
    ],
)
def test_no_path_leads_a_customer_to_another_customer(gql, tables, people, query, target):
    # given a customer's own token, even one that may declare a purpose
    maryam, lan = people
    ids = {
        "customer": lan.id,
        "address": to_global_id("Address", lan.address_ids[0]),
        "order": to_global_id("Order", lan.order_ids[0]),
    }
    variables = None if target is None else {"id": ids[target]}
    # when it tries another customer's data through a root field, node or a staff mutation
    without = gql(query, variables, scope=CUSTOMER, sub=maryam.id, status=400)
    body = gql(
        query,
        variables,
        scope=f"{CUSTOMER} purpose:customer_support",
        sub=maryam.id,
        purpose="customer_support",
    )
    # then it needs a purpose, and with one it lacks the scope: refused, no value, nothing changed
    assert without["errors"][0]["extensions"]["code"] == "PURPOSE_REQUIRED"
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert lan.id not in str(body["data"])
    assert "lan@example.vn" not in str(body)
    assert tables.get(models.Customer, lan.pk).first_name == "Lan"


def test_access_log_shows_the_customer_only_themselves(gql, people) -> None:
    # given a support agent who read both customers in one request
    maryam, lan = people
    gql(CUSTOMERS, scope=SUPPORT, purpose="customer_support")
    # when each customer reads their access log
    for person, other in ((maryam, lan), (lan, maryam)):
        body = gql(
            "query Log { me { accessLog { subject clientId purpose customerIds fields } } }",
            scope="me:read",
            sub=person.id,
        )
        log = body["data"]["me"]["accessLog"]
        # then they see who read them and why, and never which other customers were read
        assert len(log) == 1
        assert log[0]["subject"] == "staff-1"
        assert log[0]["purpose"] == "customer_support"
        assert log[0]["customerIds"] == [person.id]
        assert other.id not in str(body)


@pytest.mark.parametrize(
    ("purpose", "granted", "status"),
    [("MARKETING", False, "WITHDRAWN"), ("ANALYTICS", True, "GRANTED")],
)
def test_set_my_consent_appends_to_the_ledger(gql, tables, people, purpose, granted, status):
    maryam, _ = people
    before = tables.count(models.Consent, maryam.pk)
    body = gql(
        SET_MY_CONSENT, {"purpose": purpose, "granted": granted}, scope=CUSTOMER, sub=maryam.id
    )
    consent = body["data"]["setMyConsent"]
    assert (consent["purpose"], consent["status"], consent["source"]) == (purpose, status, "WEB")
    assert tables.count(models.Consent, maryam.pk) == before + 1
    event = tables.all(
        select(models.UsageEvent).order_by(models.UsageEvent.id.desc())  # type: ignore[union-attr]
    )[0]
    assert event.kind == ("granted_consent" if granted else "withdrew_consent")
    assert event.detail == f"purpose {purpose.lower()}"


@pytest.mark.parametrize("purpose", ["ORDER_FULFILLMENT", "BILLING", "LEGAL_ORDER"])
def test_set_my_consent_refuses_purposes_not_based_on_consent(gql, tables, people, purpose):
    # given a customer / when they try to withdraw a purpose that rests on contract or law
    maryam, _ = people
    before = tables.count(models.Consent)
    body = gql(
        SET_MY_CONSENT, {"purpose": purpose, "granted": False}, scope=CUSTOMER, sub=maryam.id
    )
    # then BAD_USER_INPUT on the purpose, listing the consent-based ones; nothing appended
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "purpose"}
    assert "ANALYTICS" in error["message"]
    assert "MARKETING" in error["message"]
    assert tables.count(models.Consent) == before


def test_self_service_needs_me_write(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(UPDATE_ME, {"input": {"firstName": "X"}}, scope="me:read", sub=maryam.id)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["path"] == ["updateMe"]
    assert tables.get(models.Customer, maryam.pk).first_name == "مریم"


def test_reading_me_is_recorded_as_usage_not_as_access(gql, tables, people) -> None:
    maryam, _ = people
    before = tables.count(models.UsageEvent, maryam.pk)
    gql("query Me { me { id email } }", scope="me:read", sub=maryam.id)
    assert tables.count(models.UsageEvent, maryam.pk) == before + 1
    kinds = tables.all(
        select(col(models.UsageEvent.kind)).order_by(col(models.UsageEvent.id).desc())
    )
    assert kinds[0] == "viewed_profile"
    assert tables.count(models.AccessRecord) == 0
