"""Lists of customer ids obey the row rules, and an access record names only the customers
whose data the response disclosed (SPEC section 7)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from store import models
from store.ids import to_global_id
from tests.support.auth import TokenFactory
from tests.support.callers import SUPPORT
from tests.support.operations import post
from tests.support.world import Person, Tables, seed

MARKETING_AUDITOR = "audit:read customers:read purpose:marketing"
MARKETING_WRITER = "customers:write customers:read purpose:marketing"
MARKETING_ADMIN = "privacy:admin customers:read purpose:marketing"

LOOKUP = "query Lookup($id: ID!) { customer(id: $id) { id email } }"
AUDIT_LOG = "query Log { auditLog(first: 50) { edges { node { id customerIds } } } }"
RECORD = "query Record($id: ID!) { node(id: $id) { ... on AccessRecord { customerIds } } }"
LEGAL_REQUEST = "query Legal($id: ID!) { node(id: $id) { ... on LegalRequest { customerIds } } }"
CREATE = """
mutation Create { createCustomer(input: {country: "IR", preferredLanguage: "fa-IR"}) { id } }
"""
MY_LOG = "query MyLog { me { accessLog { purpose } } }"


@pytest.fixture
def people(session: Session) -> tuple[Person, Person]:
    """Maryam consents to marketing; Lan withdrew her consent."""
    maryam, lan = seed(session)
    with session.begin():
        session.add(
            models.Consent(
                customer_id=lan.pk, purpose="marketing", status="WITHDRAWN", source="WEB"
            )
        )
    return maryam, lan


def _read_both(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> int:
    """Support reads both customers in one request; returns that access record's id."""
    maryam, lan = people
    query = "query Both($a: ID!, $b: ID!) { a: customer(id: $a) { id } b: customer(id: $b) { id } }"
    post(client, token(SUPPORT), query, {"a": maryam.id, "b": lan.id}, purpose="customer_support")
    (record,) = Tables(engine).access_records()
    assert record.id is not None
    return record.id


def ids_of(body: Any) -> list[list[str]]:
    edges = body["data"]["auditLog"]["edges"]
    return [edge["node"]["customerIds"] for edge in edges]


def test_audit_log_lists_only_customers_that_exist_under_the_purpose(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given a record of support reading Maryam and Lan
    maryam, lan = people
    record = _read_both(client, token, engine, people)
    # when a marketing auditor reads the log, and the record by its id
    log = post(client, token(MARKETING_AUDITOR), AUDIT_LOG, purpose="marketing")
    node = post(
        client,
        token(MARKETING_AUDITOR),
        RECORD,
        {"id": to_global_id("AccessRecord", record)},
        purpose="marketing",
    )
    # then Lan, who did not consent, is named by neither
    assert ids_of(log) == [[maryam.id]]
    assert node["data"]["node"]["customerIds"] == [maryam.id]
    # and the auditor's own records name only Maryam
    records = Tables(engine).access_records()
    assert [r.customer_ids for r in records[1:]] == [[maryam.pk], [maryam.pk]]
    assert lan.pk in records[0].customer_ids


def test_a_customer_who_never_consented_sees_no_marketing_access(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given marketing reading the audit log, and registering a customer (without consent)
    _, lan = people
    _read_both(client, token, engine, people)
    post(client, token(MARKETING_AUDITOR), AUDIT_LOG, purpose="marketing")
    created = post(client, token(MARKETING_WRITER), CREATE, purpose="marketing")
    assert created["data"]["createCustomer"] is None  # not visible without consent
    newcomer = to_global_id("Customer", lan.pk + 1)
    # when Lan and the newcomer read their access logs
    lans = post(client, token("me:read", sub=lan.id), MY_LOG)
    newcomers = post(client, token("me:read", sub=newcomer), MY_LOG)
    # then neither shows a marketing entry
    assert [r["purpose"] for r in lans["data"]["me"]["accessLog"]] == ["customer_support"]
    assert newcomers["data"]["me"]["accessLog"] == []


def test_legal_request_customers_obey_the_row_rules(
    client: TestClient, token: TokenFactory, session: Session, people: tuple[Person, Person]
) -> None:
    # given a legal request naming Maryam and Lan
    maryam, lan = people
    with session.begin():
        request = models.LegalRequest(
            reference="CASE-1",
            authority="Court",
            order_document="ORD-1",
            created_by="officer",
            valid_until=models.utcnow() + dt.timedelta(days=1),
        )
        session.add(request)
        session.flush()
        session.add_all(
            models.LegalRequestCustomer(legal_request_id=request.id, customer_id=pk)  # type: ignore[arg-type]
            for pk in (maryam.pk, lan.pk)
        )
    # when a privacy admin looks it up under marketing
    body = post(
        client,
        token(MARKETING_ADMIN),
        LEGAL_REQUEST,
        {"id": to_global_id("LegalRequest", request.id)},  # type: ignore[arg-type]
        purpose="marketing",
    )
    # then only Maryam is named
    assert body["data"]["node"]["customerIds"] == [maryam.id]


def test_loaded_but_unreturned_customers_are_not_recorded(
    client: TestClient, token: TokenFactory, engine: Engine, people: tuple[Person, Person]
) -> None:
    # given a page that loads customers but returns only their count
    post(
        client,
        token(SUPPORT),
        "query Count { customers { totalCount } }",
        purpose="customer_support",
    )
    # when a lookup finds Maryam
    maryam, _ = people
    post(client, token(SUPPORT), LOOKUP, {"id": maryam.id}, purpose="customer_support")
    # then only the lookup, which returned her, is an access record about her
    records = Tables(engine).access_records()
    assert [(r.operation_name, r.customer_ids) for r in records] == [("Lookup", [maryam.pk])]
