"""Disclosures (SPEC section 8): what partners received about a customer.

A partner's request writes an access record that names it and the field coordinates the response
disclosed; the customer reads them as ``me { disclosures }``, newest first, and the export holds
them under ``"disclosures"``. A staff read is no disclosure.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient

from store import models
from tests.support.auth import TokenFactory
from tests.support.callers import CUSTOMER
from tests.support.callers import PRIVACY_ADMIN as ADMIN
from tests.support.operations import post
from tests.support.world import Person
from tests.support.world import seed as seed_people

COURIER = "courier-9"
COURIER_NAME = "Saigon Same-Day Couriers"
READER = (
    "customers:read customers:read:identity customers:read:contact addresses:read "
    "orders:read purpose:order_fulfillment purpose:customer_support"
)
DELIVERIES = """
query Deliveries {
  orders(first: 10) {
    edges { node { number shippingAddress { line1 city } customer { firstName email } } }
  }
}
"""
LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { firstName mobilePhone } }"
DISCLOSURES = """
query Mine { me { disclosures { recipient { clientId name } purpose at fields } } }
"""
EXPORT = "mutation Export($id: ID!) { exportCustomerData(id: $id) }"
SHARE = """
mutation Share($id: ID!) {
  recordConsent(customerId: $id, purpose: THIRD_PARTY_SHARING, granted: true, source: WEB,
                recipient: "courier-9") { id }
}
"""


@pytest.fixture
def people(session: Session) -> tuple[Person, Person]:
    """Two customers; the first shares with the courier, the second with nobody."""
    maryam, lan = seed_people(session)
    with session.begin():
        session.add(
            models.Partner(
                client_id=COURIER, name=COURIER_NAME, access=models.PartnerAccess.CONSENTED
            )
        )
        session.add(
            models.Consent(
                customer_id=maryam.pk,
                purpose="third_party_sharing",
                status="GRANTED",
                source="WEB",
                recipient=COURIER,
            )
        )
    return maryam, lan


def test_a_partner_read_is_a_disclosure_the_customer_sees(
    client: TestClient, token: TokenFactory, session: Session, people: tuple[Person, Person]
) -> None:
    maryam, lan = people
    courier = token(READER, sub="dispatch-1", client_id=COURIER)
    # when the courier reads deliveries, then one customer under customer support
    post(client, courier, DELIVERIES, purpose="order_fulfillment")
    post(client, courier, LOOKUP, {"id": maryam.id}, purpose="customer_support")
    # then the access records name the partner; the other customer was not disclosed
    session.rollback()
    records = session.scalars(
        select(models.AccessRecord).order_by(col(models.AccessRecord.id))
    ).all()
    assert [(r.recipient, r.customer_ids) for r in records] == [
        (COURIER, [maryam.pk]),
        (COURIER, [maryam.pk]),
    ]
    # and the customer sees both disclosures, newest first, with the partner's name
    body = post(client, token(CUSTOMER, sub=maryam.id), DISCLOSURES)
    disclosures = body["data"]["me"]["disclosures"]
    assert [d["purpose"] for d in disclosures] == ["customer_support", "order_fulfillment"]
    assert all(d["recipient"] == {"clientId": COURIER, "name": COURIER_NAME} for d in disclosures)
    assert disclosures[0]["at"] >= disclosures[1]["at"]
    assert {"Customer.firstName", "Customer.mobilePhone"} <= set(disclosures[0]["fields"])
    assert {"Address.line1", "Customer.firstName", "Order.number"} <= set(disclosures[1]["fields"])
    # what the purpose hid was not disclosed: no email under order_fulfillment
    assert "Customer.email" not in disclosures[1]["fields"]
    # and reading them is no access record and no disclosure
    assert "extensions" not in body
    # the other customer received nothing
    other = post(client, token(CUSTOMER, sub=lan.id), DISCLOSURES)
    assert other["data"]["me"]["disclosures"] == []


def test_a_staff_read_is_no_disclosure(
    client: TestClient, token: TokenFactory, people: tuple[Person, Person]
) -> None:
    maryam, _ = people
    # when staff (no partner) reads the customer
    post(
        client,
        token(READER, client_id="crm"),
        LOOKUP,
        {"id": maryam.id},
        purpose="customer_support",
    )
    # then the customer's access log has it, their disclosures do not
    me = post(
        client,
        token(CUSTOMER, sub=maryam.id),
        "{ me { accessLog { clientId recipient } disclosures { purpose } } }",
    )["data"]["me"]
    assert me["accessLog"] == [{"clientId": "crm", "recipient": None}]
    assert me["disclosures"] == []


def test_the_export_lists_the_disclosures(
    client: TestClient, token: TokenFactory, people: tuple[Person, Person]
) -> None:
    maryam, _ = people
    # given the courier read the customer
    post(
        client,
        token(READER, client_id=COURIER),
        LOOKUP,
        {"id": maryam.id},
        purpose="customer_support",
    )
    # when a privacy administrator exports the customer's data
    data = post(client, token(ADMIN, sub="dpo-1"), EXPORT, {"id": maryam.id})["data"][
        "exportCustomerData"
    ]
    # then the disclosures are there, as the customer sees them
    [disclosure] = data["disclosures"]
    assert disclosure["recipient"] == {"clientId": COURIER, "name": COURIER_NAME}
    assert disclosure["purpose"] == "customer_support"
    assert {"Customer.firstName", "Customer.mobilePhone"} <= set(disclosure["fields"])
    assert data["accessRecords"][0]["recipient"] == COURIER


def test_staff_with_audit_read_see_a_customers_disclosures(
    client: TestClient, token: TokenFactory, people: tuple[Person, Person]
) -> None:
    maryam, _ = people
    post(
        client,
        token(READER, client_id=COURIER),
        LOOKUP,
        {"id": maryam.id},
        purpose="customer_support",
    )
    # when an auditor reads the customer's disclosures
    body = post(
        client,
        token("customers:read audit:read purpose:customer_support", sub="auditor-1"),
        "query D($id: ID!) { customer(id: $id) { disclosures { recipient { name } } } }",
        {"id": maryam.id},
        purpose="customer_support",
    )
    # then they are there; without audit:read they are hidden, as the policy says
    assert body["data"]["customer"]["disclosures"] == [{"recipient": {"name": COURIER_NAME}}]
    hidden = post(
        client,
        token("customers:read purpose:customer_support", sub="agent-2"),
        "query D($id: ID!) { customer(id: $id) { disclosures { purpose } } }",
        {"id": maryam.id},
        purpose="customer_support",
    )
    assert hidden["data"]["customer"]["disclosures"] is None
    assert hidden["extensions"]["redactions"][0]["field"] == "Customer.disclosures"
    assert hidden["extensions"]["redactions"][0]["reason"] == "MISSING_SCOPE"


def test_consent_granted_through_the_api_lets_the_partner_read(
    client: TestClient, token: TokenFactory, people: tuple[Person, Person]
) -> None:
    _, lan = people
    courier = token(READER, client_id=COURIER)
    assert post(client, courier, LOOKUP, {"id": lan.id}, purpose="customer_support")["data"] == {
        "customer": None
    }
    staff = token("customers:read consents:write purpose:customer_support")
    post(client, staff, SHARE, {"id": lan.id}, purpose="customer_support")
    found = post(client, courier, LOOKUP, {"id": lan.id}, purpose="customer_support")
    assert found["data"]["customer"] is not None
