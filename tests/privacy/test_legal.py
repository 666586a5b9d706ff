"""Legal requests over HTTP: registered by one person, used by another, until they expire."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from auth.policy import scopes as s
from store import models
from store.ids import to_global_id
from store.models import utcnow
from tests.support.callers import LEGAL
from tests.support.operations import post

CREATE = """
mutation Register($reference: String!, $customerIds: [ID!]!, $validUntil: DateTime!) {
  createLegalRequest(reference: $reference, authority: "Tehran Public Prosecutor",
                     orderDocument: "Order 1403/7781", customerIds: $customerIds,
                     validUntil: $validUntil) {
    id reference authority orderDocument customerIds createdBy validFrom validUntil
  }
}
"""
DISCLOSE = """
query Disclose {
  customers(first: 10) { totalCount edges { node { id firstName email dateOfBirth } } }
}
"""
OFFICER = s.PRIVACY_ADMIN
REFERENCE = "TEH-1403-7781"


def later(**delta: float) -> str:
    return (utcnow() + dt.timedelta(**delta)).isoformat()


def register(gql: Any, customer_ids: list[str], **changes: Any) -> Any:
    variables = {"reference": REFERENCE, "customerIds": customer_ids, "validUntil": later(days=7)}
    return gql(CREATE, {**variables, **changes}, scope=OFFICER, sub="officer-1")


def disclose(client: Any, token: Any, sub: str, reference: str, status: int = 200) -> Any:
    return post(
        client,
        token(LEGAL, sub=sub),
        DISCLOSE,
        purpose="legal_order",
        headers={"X-Legal-Reference": reference},
        status=status,
    )


def test_create_a_legal_request(gql, tables, people) -> None:
    # given a customer / when a privacy officer registers a written order naming them
    maryam, _ = people
    body = register(gql, [maryam.id])
    # then it is stored with its creator, valid from now
    created = body["data"]["createLegalRequest"]
    assert (created["reference"], created["orderDocument"], created["createdBy"]) == (
        REFERENCE,
        "Order 1403/7781",
        "officer-1",
    )
    assert created["customerIds"] == [maryam.id]
    valid_from = dt.datetime.fromisoformat(created["validFrom"])
    assert abs((valid_from - utcnow()).total_seconds()) < 60
    assert tables.count(models.LegalRequest) == 1
    assert tables.count(models.LegalRequestCustomer) == 1
    # and its registration is audited, about the customers it names
    (record,) = tables.access_records()
    assert (record.subject, record.customer_ids) == ("officer-1", [maryam.pk])
    assert "Mutation.createLegalRequest" in record.fields


def test_the_creator_cannot_use_their_own_reference(client, token, gql, tables, people) -> None:
    maryam, _ = people
    register(gql, [maryam.id])
    body = disclose(client, token, "officer-1", REFERENCE, status=403)
    assert body["errors"][0]["extensions"]["code"] == "INVALID_LEGAL_REFERENCE"
    assert "data" not in body


def test_another_person_discloses_only_the_named_customers_and_it_is_audited(
    client, token, gql, tables, people
) -> None:
    # given a legal request naming one of two customers, registered by officer-1
    maryam, _ = people
    register(gql, [maryam.id])
    # when officer-2 discloses under it
    body = disclose(client, token, "officer-2", REFERENCE)
    # then only the named customer exists, with the fields legal_order may read
    connection = body["data"]["customers"]
    assert connection["totalCount"] == 1
    node = connection["edges"][0]["node"]
    assert (node["id"], node["email"], node["dateOfBirth"]) == (
        maryam.id,
        "maryam@example.com",
        "1986-04-02",
    )
    # and the disclosure is audited with its reference
    record = tables.access_records()[-1]
    assert (record.subject, record.purpose, record.legal_reference) == (
        "officer-2",
        "legal_order",
        REFERENCE,
    )
    assert record.customer_ids == [maryam.pk]
    assert "Customer.dateOfBirth" in record.fields


def test_an_expired_or_unknown_reference_is_refused(client, token, gql, engine, people) -> None:
    maryam, _ = people
    register(gql, [maryam.id])
    assert disclose(client, token, "officer-2", REFERENCE)["data"]["customers"]["totalCount"] == 1
    # when the request expires
    with engine.begin() as connection:
        connection.execute(
            update(models.LegalRequest).values(valid_until=utcnow() - dt.timedelta(seconds=1))
        )
    # then it no longer opens anything, and neither does an unknown reference
    for reference in (REFERENCE, "NO-SUCH-REF"):
        body = disclose(client, token, "officer-2", reference, status=403)
        assert body["errors"][0]["extensions"]["code"] == "INVALID_LEGAL_REFERENCE"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"validUntil": "2020-01-01T00:00:00+00:00"}, "validUntil"),
        ({"validUntil": "2999-01-01T00:00:00"}, "validUntil"),
        ({"customerIds": []}, "customerIds"),
        ({"customerIds": ["MARYAM", to_global_id("Customer", 999)]}, "customerIds.1"),
        ({"customerIds": ["MARYAM", "not-an-id"]}, "customerIds.1"),
        ({"customerIds": ["MARYAM", to_global_id("Order", 1)]}, "customerIds.1"),
        ({"reference": "   "}, "reference"),
        ({"reference": "مرجع-۱۲"}, "reference"),
    ],
)
def test_bad_legal_requests_are_refused_and_store_nothing(
    gql, tables, people, changes, field
) -> None:
    maryam, _ = people
    if "customerIds" in changes:
        changes["customerIds"] = [maryam.id if c == "MARYAM" else c for c in changes["customerIds"]]
    body = register(gql, [maryam.id], **changes)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert body["data"]["createLegalRequest"] is None
    assert tables.count(models.LegalRequest) == 0
    assert tables.count(models.LegalRequestCustomer) == 0


def test_a_reference_is_registered_once(gql, tables, people) -> None:
    maryam, lan = people
    register(gql, [maryam.id])
    body = register(gql, [lan.id])
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "reference"}
    assert tables.count(models.LegalRequestCustomer) == 1


def test_creating_a_legal_request_needs_privacy_admin(gql, tables, people) -> None:
    maryam, _ = people
    body = gql(
        CREATE,
        {"reference": REFERENCE, "customerIds": [maryam.id], "validUntil": later(days=1)},
        scope="customers:read audit:read",
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert tables.count(models.LegalRequest) == 0
