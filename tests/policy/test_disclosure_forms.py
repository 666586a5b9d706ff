"""Graduated disclosure end to end (SPEC section 13): forms instead of values, on both executors
and both databases, over HTTP with real tokens.

Billing reads mobile phones as ``••••••••1234``; a marketing agency (a partner) reads emails as
22-character pseudonyms where staff under marketing read the emails; a pseudonym is the same for
one recipient every time and differs across recipients; each form is a ``MASKED`` redaction with
the form and what unlocks the value; the access record names the form each field was disclosed
in, and ``me { disclosures }`` shows it to the customer.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col
from starlette.testclient import TestClient

from auth.policy import scopes as s
from store import models
from store.ids import from_global_id
from tests.support.auth import TokenFactory
from tests.support.policy_model import AGENCY, COURIER, Seeded

BULLET = "\u2022"
EMAILS = "query Emails { customers(first: 10) { edges { node { id email } } } }"
PHONES = "query Phones { customers(first: 10) { edges { node { id mobilePhone } } } }"


def post(
    client: TestClient,
    token: TokenFactory,
    query: str,
    *,
    scope: str,
    purpose: str | None = None,
    client_id: str = "staff-app",
    sub: str = "staff-1",
) -> Any:
    headers = {"Authorization": f"Bearer {token(scope, sub=sub, client_id=client_id)}"}
    if purpose is not None:
        headers["X-Purpose"] = purpose
    response = client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body


def nodes(body: Any) -> dict[str, Any]:
    return {edge["node"]["id"]: edge["node"] for edge in body["data"]["customers"]["edges"]}


def stored(session: Session, column: str) -> dict[int, Any]:
    session.rollback()
    return {
        int(customer.id or 0): getattr(customer, column)
        for customer in session.scalars(select(models.Customer)).all()
    }


def masked(body: Any, field: str) -> dict[str, Any]:
    (entry,) = [
        each
        for each in body.get("extensions", {}).get("redactions", [])
        if each["field"] == field and each["reason"] == "MASKED"
    ]
    return dict(entry)


def marketing(client_id: str, client: TestClient, token: TokenFactory) -> dict[str, Any]:
    scope = f"{s.CUSTOMERS_READ} {s.CUSTOMERS_READ_CONTACT} purpose:marketing"
    body = post(client, token, EMAILS, scope=scope, purpose="marketing", client_id=client_id)
    return {pk: node["email"] for pk, node in nodes(body).items()}


def test_billing_sees_the_last_four_digits_of_phones(
    client: TestClient, token: TokenFactory, session: Session, data: Seeded
) -> None:
    # given a staff caller under billing, which may not read phones as they are
    scope = f"{s.CUSTOMERS_READ} {s.CUSTOMERS_READ_CONTACT} purpose:billing"
    # when it reads customers' mobile phones
    body = post(client, token, PHONES, scope=scope, purpose="billing")
    # then each is its last four digits after a bullet per other character, never the number
    phones = stored(session, "mobile_phone")
    found = nodes(body)
    assert found
    for global_id, node in found.items():
        clear = phones[_pk(global_id)]
        if clear is None:
            assert node["mobilePhone"] is None
            continue
        assert node["mobilePhone"] == BULLET * (len(clear) - 4) + clear[-4:]
        assert node["mobilePhone"] != clear
    assert found[data["ava"]]["mobilePhone"] == BULLET * 9 + "4567"  # +989121234567
    # and the redactions say so: MASKED, the form, one per place, and what unlocks the number
    assert masked(body, "Customer.mobilePhone") == {
        "field": "Customer.mobilePhone",
        "reason": "MASKED",
        "form": "partial",
        "count": len(found),
        "needs": {
            "scopes": [s.CUSTOMERS_READ_CONTACT],
            "purposes": [
                "order_fulfillment",
                "customer_support",
                "fraud_investigation",
                "marketing",
                "legal_order",
            ],
        },
    }


def test_a_marketing_agency_sees_pseudonyms_where_staff_see_emails(
    client: TestClient, token: TokenFactory, session: Session, data: Seeded
) -> None:
    # given the same customers read under marketing by staff and by a partner agency
    staff = marketing("staff-app", client, token)
    agency = marketing(AGENCY, client, token)
    emails = stored(session, "email")
    # then staff read the emails, the agency 22-character pseudonyms of them
    assert data["ava"] in agency
    assert staff.keys() == agency.keys()
    for global_id, email in staff.items():
        assert email == emails[_pk(global_id)]
        pseudonym = agency[global_id]
        assert isinstance(pseudonym, str)
        assert len(pseudonym) == 22
        assert set(pseudonym) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        assert pseudonym != email
        assert "@" not in pseudonym


def test_a_pseudonym_is_stable_for_one_recipient_and_differs_across_two(
    client: TestClient, token: TokenFactory, data: Seeded
) -> None:
    # when two partners read ava's email under marketing, the agency twice
    first = marketing(AGENCY, client, token)
    again = marketing(AGENCY, client, token)
    courier = marketing(COURIER, client, token)
    # then the agency gets the same pseudonym both times, the courier another one
    ava = data["ava"]
    assert first[ava] == again[ava]
    assert courier[ava] != first[ava]
    assert len(courier[ava]) == 22


def test_the_agency_is_told_what_unlocks_the_emails(
    client: TestClient, token: TokenFactory, data: Seeded
) -> None:
    scope = f"{s.CUSTOMERS_READ} {s.CUSTOMERS_READ_CONTACT} purpose:marketing"
    body = post(client, token, EMAILS, scope=scope, purpose="marketing", client_id=AGENCY)
    assert masked(body, "Customer.email") == {
        "field": "Customer.email",
        "reason": "MASKED",
        "form": "pseudonym",
        "count": len(nodes(body)),
        "needs": {
            "scopes": [s.CUSTOMERS_READ_CONTACT],
            "purposes": [
                "customer_support",
                "billing",
                "fraud_investigation",
                "legal_order",
            ],
        },
    }
    # staff under marketing read the value: nothing masked
    staff = post(client, token, EMAILS, scope=scope, purpose="marketing")
    assert "redactions" not in staff.get("extensions", {})


def test_disclosures_record_the_form_and_me_shows_it(
    client: TestClient, token: TokenFactory, session: Session, data: Seeded
) -> None:
    # given the agency read ava's email (a pseudonym) under marketing
    marketing(AGENCY, client, token)
    # then its access record names the form of the field
    session.rollback()
    record = session.scalars(
        select(models.AccessRecord).where(col(models.AccessRecord.recipient) == AGENCY)
    ).one()
    assert record.forms == {"Customer.email": "pseudonym"}
    assert "Customer.email" in record.fields
    # and ava, reading her own disclosures, is told which form the agency received
    query = "{ me { email disclosures { recipient { clientId } purpose fields forms } } }"
    body = post(client, token, query, scope=s.ME_READ, sub="ava-subject")
    me = body["data"]["me"]
    assert me["email"] == "ava.karimi@example.ir"  # the owner reads her own value
    (disclosure,) = [d for d in me["disclosures"] if d["recipient"]["clientId"] == AGENCY]
    assert disclosure["purpose"] == "marketing"
    assert disclosure["forms"] == {"Customer.email": "pseudonym"}


def _pk(global_id: str) -> int:
    return from_global_id(global_id)[1]
